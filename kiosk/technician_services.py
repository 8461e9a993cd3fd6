"""What the technician pages can do, as plain callables: the store, the doctor, the card reader, the
camera preview, reference enrolment, sync, the log folder, restart and exit.

The pages (``ui/technician``) only call these; :func:`kiosk.runtime.technician_services` builds
them over the running kiosk (so a test read goes through the reader service that owns the port and
an enrolment photo is encoded in the matcher process: dlib never loads in the GUI process), tests
pass fakes. A service left as None shows "not available on this terminal" on its page.

Thread rule: every callable may block (database, network, the matcher): call them off the GUI
thread (``ui.technician.services.run_in_background``), except :meth:`TechnicianServices.audit`,
which returns at once. Nothing here imports Qt.
Privacy: nothing here logs a name, an ID number or a face; the audit gets action codes only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kiosk.config import KioskConfig
from kiosk.doctor import Finding, run_checks
from kiosk.errors import reason_code
from kiosk.flow import Event, LivenessFailed, LivenessPassed
from kiosk.ports import Preview

if TYPE_CHECKING:
    from kiosk.store import Store
    from kiosk.sync import SyncReport, SyncStatus
    from reader.card import IdCard

log = logging.getLogger(__name__)

RESTART_EXIT_STATUS = 75
"""Exit status of "restart": the service manager (systemd ``Restart=on-failure``) starts the kiosk again."""

RESTART_PREVIEW_AFTER_S = 1.0
"""Pause before the technician's preview starts a new challenge after one ended (seconds)."""


def isolated_checks(config: KioskConfig) -> Iterable[Finding]:
    """The doctor's checks as the technician page runs them: those that load dlib run in a child
    process, so the GUI process never holds it (it would block the GIL in the camera loop)."""
    return run_checks(config, isolate=True)


@dataclass
class TechnicianServices:
    """The technician pages' access to the terminal. Only ``config`` and ``site_config_path`` are required."""

    config: KioskConfig
    site_config_path: Path
    store_factory: Callable[[], Store] | None = None  # opened and closed per action
    checks: Callable[[KioskConfig], Iterable[Finding]] = isolated_checks
    read_card: Callable[[], IdCard] | None = None  # reads one card; raises ReaderError
    start_preview: Callable[[Callable[[Preview], None]], None] | None = None
    stop_preview: Callable[[], None] | None = None
    encode_face: Callable[[np.ndarray], np.ndarray] | None = None  # BGR frame -> template; raises with .code
    sync_now: Callable[[], SyncReport] | None = None
    sync_status: Callable[[], SyncStatus] | None = None
    log_dir: Path | None = None
    restart: Callable[[], None] | None = None
    exit: Callable[[], None] | None = None
    set_volume: Callable[[float], None] | None = None  # the voice's loudness 0-1, applied at once (GUI thread)

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
                log.error("technician audit %s failed: %s", code, reason_code(exc))

        thread = threading.Thread(target=write, name="technician-audit", daemon=True)
        thread.start()
        return thread


def camera_preview(config: KioskConfig, camera_url: str | None = None
                   ) -> tuple[Callable[[Callable[[Preview], None]], None], Callable[[], None]]:
    """``(start_preview, stop_preview)`` for the technician pages, on the kiosk's own liveness
    adapter (landmarks, face box, eye and mouth ratios on each frame). A challenge that ends (passed,
    failed, timed out) is started again after a second, so the preview runs until it is stopped.
    Use only while the flow is in the technician state (the flow has stopped its camera then).

    Thread rule: both may be called from any thread; the sink is called from the camera's thread.
    """
    from kiosk.devices.liveness_adapter import CameraConfig, LivenessAdapter

    adapter = LivenessAdapter(CameraConfig(camera_url or config.camera.url, config.camera, config.quality,
                                           config.liveness, config.antispoof))
    lock = threading.Lock()
    sink: Callable[[Preview], None] | None = None
    generation = 0

    def post(event: Event) -> None:
        if not isinstance(event, (LivenessPassed, LivenessFailed)):
            return
        with lock:
            ended_sink, ended_generation = sink, generation
        if ended_sink is None:
            return

        def again() -> None:
            time.sleep(RESTART_PREVIEW_AFTER_S)
            with lock:
                still = sink is ended_sink and generation == ended_generation
            if still and ended_sink is not None:
                adapter.start(0, post, ended_sink)

        threading.Thread(target=again, name="technician-preview", daemon=True).start()

    def start(new_sink: Callable[[Preview], None]) -> None:
        nonlocal sink, generation
        with lock:
            sink = new_sink
            generation += 1
        adapter.start(0, post, new_sink)

    def stop() -> None:
        nonlocal sink
        with lock:
            sink = None
        adapter.stop()
        adapter.wipe()

    return start, stop
