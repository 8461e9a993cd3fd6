"""The disk: free space in the one unit the configuration speaks (decimal megabytes), and making a
renamed or created file's directory entry durable.

``terminal.min_free_disk_mb`` is checked in two places, by the session before it starts (no session
without room for its record) and by ``kiosk doctor``; both read the space here, in the same unit,
so they agree on how much room a disk has. (The doctor also answers before the data folder exists,
by measuring its nearest existing parent; the session then reports ``storage_error`` instead.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
