"""What the technician pages can do, as plain callables (so tests pass fakes and the integrator can
hand in the running devices), and the defaults built from the configuration.

Every callable may block (database, network, models): the pages call them on worker threads via
:func:`run_in_background` and get the answer back on the GUI thread. A service left as None shows
"not available on this terminal" on its page.
Privacy: nothing here logs a name, an ID number or a face; the audit gets action codes only.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.doctor import Finding, run_checks
from kiosk.flow import Event, LivenessFailed, LivenessPassed
from kiosk.ports import Preview

log = logging.getLogger(__name__)

RESTART_EXIT_STATUS = 75
"""Exit status of "restart": the service manager (systemd ``Restart=on-failure``) starts the kiosk again."""


@dataclass
class TechnicianServices:
    """The technician pages' access to the terminal. Only ``config`` and ``site_config_path`` are required."""

    config: KioskConfig
    site_config_path: Path
    store_factory: Callable[[], Any] | None = None  # a kiosk.store.Store; opened and closed per action
    checks: Callable[[KioskConfig], Iterable[Finding]] = run_checks
    read_card: Callable[[], Any] | None = None  # -> reader.card.IdCard (reads one card, raises ReaderError)
    start_preview: Callable[[Callable[[Preview], None]], None] | None = None
    stop_preview: Callable[[], None] | None = None
    encode_face: Callable[[np.ndarray], np.ndarray] | None = None  # BGR frame -> template; raises with .code
    sync_now: Callable[[], Any] | None = None  # -> kiosk.sync.status.SyncReport
    sync_status: Callable[[], Any] | None = None  # -> kiosk.sync.status.SyncStatus
    log_dir: Path | None = None
    restart: Callable[[], None] | None = None
    exit: Callable[[], None] | None = None

    def audit(self, code: str, **detail: Any) -> threading.Thread | None:
        """Appends ``technician``/``code`` to the audit log on a worker thread (never blocks the GUI);
        returns the thread (join it before exiting the process), None when there is no store."""
        if self.store_factory is None:
            log.info("technician action %s (no store to audit to)", code)
            return None
        factory = self.store_factory

        def write() -> None:
            try:
                with factory() as store:
                    store.audit(None, "technician", code, detail or None)
            except Exception as exc:  # noqa: BLE001 - an audit failure is logged, the action already happened
                log.error("technician audit %s failed: %s", code, getattr(exc, "code", type(exc).__name__))

        thread = threading.Thread(target=write, name="technician-audit", daemon=True)
        thread.start()
        return thread


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


_running: set[_Relay] = set()


def run_in_background(job: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
    """Runs ``job`` on a new thread; ``on_done(result)`` or ``on_error(code)`` then run on the GUI thread.

    ``code`` is the exception's reason ``code`` attribute, or its class name (no message: it might
    carry data of a card or a file path).
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
            log.warning("technician job failed: %s", getattr(exc, "code", type(exc).__name__))
            relay.failed.emit(str(getattr(exc, "code", type(exc).__name__)))
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


RESTART_PREVIEW_AFTER_S = 1.0


def camera_preview(config: KioskConfig, camera_url: str | None = None) -> tuple[Callable[[Callable[[Preview], None]], None], Callable[[], None]]:
    """``(start_preview, stop_preview)`` for the technician pages, on the kiosk's own liveness
    adapter (landmarks, face box, eye and mouth ratios on each frame). A challenge that ends (passed,
    failed, timed out) is started again after a second, so the preview runs until it is stopped.
    Use only while the flow is in the technician state (the flow has stopped its camera then)."""
    from kiosk.devices.liveness import CameraConfig, LivenessAdapter

    adapter = LivenessAdapter(CameraConfig(camera_url or config.camera.url, config.camera, config.quality,
                                           config.liveness, config.antispoof))
    state: dict[str, Any] = {}
    lock = threading.Lock()

    def post(event: Event) -> None:
        if not isinstance(event, (LivenessPassed, LivenessFailed)):
            return
        with lock:
            sink = state.get("sink")
            generation = state.get("generation")
        if sink is None:
            return

        def again() -> None:
            time.sleep(RESTART_PREVIEW_AFTER_S)
            with lock:
                still = state.get("sink") is sink and state.get("generation") == generation
            if still:
                adapter.start(0, post, sink)

        threading.Thread(target=again, name="technician-preview", daemon=True).start()

    def start(sink: Callable[[Preview], None]) -> None:
        with lock:
            state["sink"] = sink
            state["generation"] = state.get("generation", 0) + 1
        adapter.start(0, post, sink)

    def stop() -> None:
        with lock:
            state.clear()
        adapter.stop()
        adapter.wipe()

    return start, stop


def default_services(config: KioskConfig, site_config_path: Path, clock: Clock, *,
                     read_card: Callable[[], Any] | None = None, start_preview: Any = None, stop_preview: Any = None,
                     sync_worker: Callable[[], Any] | None = None, with_camera: bool = True) -> TechnicianServices:
    """Services built from the configuration: the store, the doctor, the log folder, the camera
    preview (:func:`camera_preview` unless given, and ``with_camera``), sync through
    ``sync_worker()`` (a getter of the running ``kiosk.sync.SyncWorker``, which may return None),
    face encoding with the dlib models (loaded on first use, on the worker thread), restart and
    exit through the Qt event loop.

    ``read_card`` defaults to opening ``reader.url`` directly: right for ``sim://`` and when the
    reader service is stopped; the running kiosk (:func:`ui.app.run_app`) passes one that reads
    through its reader service, which owns the port.
    """
    from kiosk.logsetup import log_dir
    from kiosk.store import Store

    def store_factory() -> Any:
        return Store.from_config(config, clock)

    def default_read_card() -> Any:
        from reader.transport import open_reader

        reader = open_reader(config.reader.url, baudrate=config.reader.baudrate, timeout_s=config.reader.command_timeout_s)
        try:
            return reader.read_card()
        finally:
            reader.close()

    encoder_lock = threading.Lock()
    encoder: dict[str, Any] = {}

    def encode_face(frame: np.ndarray) -> np.ndarray:
        from camera.matching.encoding import Encoder

        with encoder_lock:
            if "encoder" not in encoder:
                encoder["encoder"] = Encoder(config.match)
        return np.asarray(encoder["encoder"].encode(frame, jitters=config.match.reference_jitters).vector)

    def quit_with(status: int) -> Callable[[], None]:
        def leave() -> None:
            from PySide6.QtWidgets import QApplication

            app = QApplication.instance()
            if app is not None:
                app.exit(status)
            else:
                sys.exit(status)
        return leave

    def worker() -> Any:
        running = sync_worker() if sync_worker is not None else None
        if running is None:
            raise RuntimeError("sync is not running")  # shown on the page as its class name
        return running

    if start_preview is None and with_camera:
        start_preview, stop_preview = camera_preview(config)
    return TechnicianServices(
        config=config, site_config_path=site_config_path, store_factory=store_factory,
        read_card=read_card or default_read_card, start_preview=start_preview, stop_preview=stop_preview,
        encode_face=encode_face,
        sync_now=(lambda: worker().run_once()) if sync_worker is not None else None,
        sync_status=(lambda: worker().status()) if sync_worker is not None else None,
        log_dir=log_dir(config.terminal.resolved_data_dir()),
        restart=quit_with(RESTART_EXIT_STATUS), exit=quit_with(0),
    )
