"""An exclusive lock between processes (and threads) that open the same data folder at once.

SQLite serialises ordinary writers with its busy handler, but not the lock it takes to switch a new
file's journal mode to WAL: a second opener fails at once with "database is locked". Opening is
therefore serialised with ``flock(2)`` on a small lock file beside the database. ``flock`` locks
belong to an open file description, so two threads of one process exclude each other as two
processes do, and the kernel drops the lock when its holder dies: a crash never leaves the folder
locked. Linux and other POSIX systems only, like the rest of the terminal.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kiosk.errors import StorageError

_POLL_S = 0.005  # between tries; the lock is usually held for a few milliseconds


@contextmanager
def opening_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Holds an exclusive ``flock`` on ``path`` (created 0600 when missing) for the ``with`` block.

    Waits up to ``timeout_s`` seconds, then raises StorageError (code ``storage_error``) naming the
    file; also raises StorageError when the file cannot be created (a read-only or full disk).
    Thread rules: any thread; each call opens its own descriptor.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StorageError(f"lock file {path} cannot be opened: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageError(f"another process has held {path} for over {timeout_s:.0f} s; "
                                       "is a migration or a stuck kiosk process running?") from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
