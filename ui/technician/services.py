"""The technician pages' Qt side: running a service off the GUI thread with the answer back on it,
the log export, and restart / exit through the Qt event loop.

The services themselves (:class:`kiosk.technician_services.TechnicianServices`) are plain
callables built by the core (:func:`kiosk.runtime.technician_services`); they are re-exported here
for the pages.
Privacy: nothing here logs a name, an ID number or a face; errors reach the page as reason codes.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from kiosk.errors import reason_code
from kiosk.technician_services import (  # noqa: F401 - re-exported for the pages
    RESTART_EXIT_STATUS, RESTART_PREVIEW_AFTER_S, TechnicianServices, camera_preview,
)

log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


_running: set[_Relay] = set()


def run_in_background(job: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
    """Runs ``job`` on a new thread; ``on_done(result)`` or ``on_error(code)`` then run on the GUI thread.

    ``code`` is the exception's reason code (:func:`kiosk.errors.reason_code`), never its message:
    that might carry data of a card or a file path.
    """
    relay = _Relay()
    _running.add(relay)
    relay.done.connect(on_done)
    relay.failed.connect(on_error)
    relay.done.connect(lambda _r: _running.discard(relay))
    relay.failed.connect(lambda _c: _running.discard(relay))

    def run() -> None:
        try:
            result = job()
        except Exception as exc:  # noqa: BLE001 - reported on the page as a code
            log.warning("technician job failed: %s", reason_code(exc))
            relay.failed.emit(reason_code(exc))
            return
        relay.done.emit(result)

    threading.Thread(target=run, name="technician-job", daemon=True).start()


def export_logs(source: Path, target_folder: Path, device_id: str, now: datetime) -> int:
    """Copies ``kiosk.log*`` from ``source`` into a new ``kiosk-logs-<device>-<time>`` folder under
    ``target_folder`` (a USB stick); returns the number of files. Raises OSError (not mounted, full)."""
    if not target_folder.is_dir():
        raise FileNotFoundError(f"{target_folder} is not a folder (is the USB stick mounted?)")
    files = sorted(source.glob("kiosk.log*")) if source.is_dir() else []
    out = target_folder / f"kiosk-logs-{device_id}-{now.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir()
    for path in files:
        shutil.copy2(path, out / path.name)
    return len(files)


def usb_folders() -> list[Path]:
    """Mounted removable media (``/media/*/*``, ``/run/media/*/*``, ``/media/*``), for the export page."""
    found: list[Path] = []
    for pattern in ("/media/*/*", "/run/media/*/*", "/media/*"):
        found += [path for path in sorted(Path("/").glob(pattern.lstrip("/"))) if path.is_dir() and path not in found]
    return found


def quit_with(status: int) -> Callable[[], None]:
    """Ends the Qt event loop (or the process, without one) with exit status ``status``: "restart"
    (:data:`RESTART_EXIT_STATUS`, the service manager starts the kiosk again) and "exit" (0)."""
    def leave() -> None:
        app = QApplication.instance()
        if app is not None:
            app.exit(status)
        else:
            sys.exit(status)

    return leave
