"""The disk: free space in the one unit the configuration speaks (decimal megabytes), and making a
renamed or created file's directory entry durable.

``terminal.min_free_disk_mb`` is checked in two places, by the session before it starts (no session
without room for its record) and by ``kiosk doctor``; both read the space here, in the same unit,
so they agree on how much room a disk has. (The doctor also answers before the data folder exists,
by measuring its nearest existing parent; the session then reports ``storage_error`` instead.)
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

BYTES_PER_MB = 1_000_000
"""A megabyte as ``df -H`` and a disk's label count it (what a technician compares with)."""


def free_megabytes(path: Path) -> float:
    """Free space for the kiosk's user on the filesystem holding ``path``, in megabytes.

    Raises ``OSError`` when the path cannot be examined (missing, unreadable, I/O error).
    """
    return shutil.disk_usage(path).free / BYTES_PER_MB


def fsync_folder(folder: Path) -> None:
    """Makes the entries of ``folder`` durable: a file created or renamed into it survives a power cut
    only once the folder itself is on disk (ext4 without ``auto_da_alloc``). Best effort: a folder
    that cannot be opened or synced (some file systems refuse) is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file_privately(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` atomically and durably, mode 0600 (a new folder 0700).

    A temporary file made by ``mkstemp`` (0600, a name nobody can have planted) is written, synced
    and renamed over ``path``, then the folder is synced: a power cut leaves the old file or the
    new one, never a truncated one. An existing file's owner and group are kept where allowed (a
    technician command run as root must not take the kiosk's own file away from it). Raises OSError.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        owner = path.stat()
    except FileNotFoundError:
        owner = None
    # mkstemp creates the file 0600 with a name nobody can have planted beforehand.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, 0o600)
            if owner is not None and (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, owner.st_uid, owner.st_gid)
                except PermissionError:
                    log.warning("cannot keep the owner of %s (not allowed); it is now owned by this user", path)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
