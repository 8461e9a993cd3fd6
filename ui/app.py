"""Starting the kiosk window: the entry points the ``run`` / ``demo`` commands call.

Start-up order, so that the idle screen is up within 2.5 s whatever the devices do: the window is
built and shown first (Qt import ~0.1 s, catalogue parse, screens), then the controller is made and
started on a background thread (opening the store, starting the reader, loading models); touches
made before it is ready are kept and delivered in order once it is.

Thread rule: call these from the main thread; they own the Qt event loop.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QWidget

from kiosk import watchdog
from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError, reason_code
from kiosk.flow import Event, PromptFinished
from kiosk.ports import ScreenVoice
from kiosk.runtime import TECHNICIAN_READ_TIMEOUT_S, KioskSlot, RunningKiosk, technician_services as kiosk_services
from kiosk.technician_services import RESTART_EXIT_STATUS, TechnicianServices
from kiosk.paths import recorded_voice_dir, rendered_voice_dir
from ui.catalogue import Catalogue
from ui.main_window import MainWindow
from ui.voice import VoicePlayer

log = logging.getLogger(__name__)

RENDER_CHECK_DELAY_MS = 5000

__all__ = ["TECHNICIAN_READ_TIMEOUT_S", "ControllerFactory", "build_main_window", "make_voice", "run_app"]

ControllerFactory = Callable[..., RunningKiosk]
"""Called as ``factory(voice=, on_view=, on_preview=, on_staff_called=)`` on a background thread;
returns the kiosk (a :class:`kiosk.runtime.KioskRuntime`), not started yet."""


class _Poster(QObject):
    """Holds events until the controller exists, then forwards them (thread-safe)."""

    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._target: Callable[[Event], None] | None = None
        self._early: list[Event] = []

    def post(self, event: Event) -> None:
        with self._lock:
            if self._target is None:
                self._early.append(event)
                return
            target = self._target
        target(event)

    def attach(self, target: Callable[[Event], None]) -> None:
        with self._lock:
            early, self._early = self._early, []
            self._target = target
        for event in early:
            target(event)


def make_voice(config: KioskConfig, catalogue: Catalogue) -> VoicePlayer:
    """The voice player with the rendered clips of ``<data_dir>/voice`` and recorded ones from ``ui.voice_dir``."""
    recorded = recorded_voice_dir(config.ui.voice_dir)
    return VoicePlayer(catalogue, rendered_voice_dir(config.terminal.resolved_data_dir()), recorded,
                       volume=config.ui.volume, language=config.ui.voice_language)


def build_main_window(config: KioskConfig, post: Callable[[Event], None], *, catalogue: Catalogue | None = None,
                      voice: ScreenVoice | None = None, clock: Clock | None = None,
                      technician_services: TechnicianServices | None = None, portrait: bool | None = None) -> MainWindow:
    """The kiosk window (not shown yet). ``post`` receives flow events (the controller's ``post``);
    ``technician_services`` enables the technician pages. Needs a QApplication. Raises
    CatalogueError for a broken catalogue."""
    catalogue = catalogue or Catalogue.load()
    clock = clock or SystemClock()
    panel = None
    window: MainWindow | None = None
    if technician_services is not None:
        from ui.technician.panel import TechnicianPanel

        panel = TechnicianPanel(config, catalogue, technician_services, clock,
                                leave=lambda: window.leave_technician() if window is not None else None)
    window = MainWindow(config, catalogue, post, voice=voice, clock=clock, technician_panel=panel, portrait=portrait)
    return window


def _render_missing_clips(config: KioskConfig, catalogue: Catalogue) -> None:
    """Renders clips that are missing or whose text changed (0.3 s when all are current), so a
    terminal where `kiosk voice render` was forgotten still speaks after a few seconds."""
    from ui.dialects import LANGUAGES, render_language
    from ui.voice_clips import all_clips

    try:
        clips = all_clips(catalogue)
        # Both voices: a person may switch to the other one at any terminal.
        for language in sorted(LANGUAGES, key=lambda lang: lang != config.ui.voice_language):
            render_language(clips, rendered_voice_dir(config.terminal.resolved_data_dir()), language)
    except (KioskError, OSError) as exc:
        log.warning("voice clips could not be rendered: %s", reason_code(exc))


def _start_failed(window: MainWindow, code: str) -> None:
    """The controller could not start: the person sees the maintenance screen, staff the code in the log."""
    from kiosk.flow import FlowView, State

    log.error("the kiosk could not start: %s", code)
    window.show_view(FlowView(State.MAINTENANCE, maintenance_code=code))


def run_app(config: KioskConfig, controller_factory: ControllerFactory, *, fullscreen: bool | None = None,
            demo_panel: QWidget | Callable[[], QWidget] | None = None,
            technician_services: TechnicianServices | None = None, argv: list[str] | None = None,
            render_voice: bool = True, site_config_path: Path | None = None) -> int:
    """Runs the kiosk until the window closes; returns the exit status of the Qt loop.

    ``fullscreen`` defaults to ``ui.fullscreen``; ``demo_panel`` (a widget or a factory of one, e.g.
    ``lambda: ui.demo_panel.DemoPanel(config.reader.url)``) is shown in its own window.
    ``render_voice``: render missing or changed voice clips in the background after start-up.
    ``technician_services`` defaults to :func:`kiosk.runtime.technician_services` for
    ``site_config_path`` (default ``/etc/kiosk/kiosk.toml``) over the kiosk the factory makes, once
    it has started (reader, matcher process, sync worker).
    """
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    catalogue = Catalogue.load()
    voice = make_voice(config, catalogue)
    poster = _Poster()
    slot = KioskSlot()
    if technician_services is None:
        from kiosk.paths import SITE_CONFIG_FILE
        from ui.technician.services import quit_with

        technician_services = kiosk_services(config, site_config_path or SITE_CONFIG_FILE, SystemClock(), slot,
                                             restart=quit_with(RESTART_EXIT_STATUS), exit_app=quit_with(0))
    if technician_services.set_volume is None:
        technician_services.set_volume = voice.set_volume
    window = build_main_window(config, poster.post, catalogue=catalogue, voice=voice,
                               technician_services=technician_services)
    app.installEventFilter(window)
    if fullscreen if fullscreen is not None else config.ui.fullscreen:
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        screen = app.primaryScreen()
        if screen is not None:
            size = screen.size()
            window.fit_to_screen(size.width(), size.height())
        window.showFullScreen()
    else:
        window.show()
    panel = demo_panel() if callable(demo_panel) and not isinstance(demo_panel, QWidget) else demo_panel
    if panel is not None:
        panel.show()
    poster.failed.connect(lambda code: _start_failed(window, code))
    # The flow learns when a prompt has been heard in full (an action's window starts then).
    voice.finished.connect(lambda prompt_id: poster.post(PromptFinished(prompt_id)))

    def start_controller() -> None:
        try:
            kiosk = controller_factory(voice=voice, on_view=window.on_view, on_preview=window.on_preview,
                                       on_staff_called=lambda: None)  # delivered by the runtime (kiosk.staff_calls)
            kiosk.start()
        except Exception as exc:  # noqa: BLE001 - shown as the maintenance screen by the controller's owner
            poster.failed.emit(reason_code(exc))
            return
        slot.put(kiosk)
        poster.attach(kiosk.post)

    threading.Thread(target=start_controller, name="kiosk-start", daemon=True).start()
    _keep_systemd_informed(window)
    _watch_network(window, slot)
    # Checked a few seconds after start so it never competes with showing the idle screen.
    if render_voice:
        QTimer.singleShot(RENDER_CHECK_DELAY_MS, lambda: threading.Thread(
            target=_render_missing_clips, args=(config, catalogue), name="voice-render", daemon=True).start())
    status = app.exec()
    watchdog.notify_stopping()
    kiosk = slot.get()
    if kiosk is not None:
        kiosk.stop()
    return status


def _keep_systemd_informed(window: QWidget) -> None:
    """Tells systemd the kiosk is up, then pings its watchdog from the GUI loop itself: if the loop
    hangs, the pings stop and systemd restarts the kiosk (deploy/kiosk.service, WatchdogSec)."""
    watchdog.notify_ready("idle screen shown")
    timer = QTimer(window)
    timer.timeout.connect(lambda: watchdog.notify_alive())
    timer.start(watchdog.ping_interval_ms())


def _watch_network(window: QWidget, slot: KioskSlot) -> None:
    """Forwards the operating system's reachability to the sync worker, so results go out soon
    after the network returns. Without a backend (no NetworkManager) the worker's own probe does."""
    from PySide6.QtNetwork import QNetworkInformation

    if not QNetworkInformation.loadDefaultBackend() or QNetworkInformation.instance() is None:
        log.info("no network information backend; the sync worker probes by itself")
        return
    info = QNetworkInformation.instance()

    def changed(reachability: QNetworkInformation.Reachability) -> None:
        kiosk = slot.get()
        worker = kiosk.sync if kiosk is not None else None
        if worker is not None:
            worker.notify_network_changed(reachability == QNetworkInformation.Reachability.Online)

    info.reachabilityChanged.connect(changed)
    window.destroyed.connect(lambda: info.reachabilityChanged.disconnect(changed))
