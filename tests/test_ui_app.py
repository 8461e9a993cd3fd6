"""run_app: the idle screen comes first, the controller is started off the GUI thread, early
touches are delivered once it is ready, and a controller that cannot start shows maintenance."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig
from kiosk.errors import StorageError
from kiosk.flow import FlowView, HelpRequested, State
from camera.matching.errors import MatchError, MatchReason
from reader.errors import ReaderError
from ui.app import TECHNICIAN_READ_TIMEOUT_S, run_app
from ui.main_window import MainWindow


class FakeController:
    """A kiosk.runtime.RunningKiosk that starts slowly and has no devices."""

    sync = None

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.posted: list = []
        self.started_on_gui_thread: bool | None = None
        self.stopped = False

    def read_card_now(self, timeout_s: float):
        raise ReaderError("reader_unavailable", "no reader in this test")

    def encode_reference(self, image_bgr, timeout_s: float = 30.0):
        raise MatchError(MatchReason.MATCHER_UNAVAILABLE, "no matcher in this test")

    def start(self) -> None:
        self.started_on_gui_thread = threading.current_thread() is threading.main_thread()
        self.release.wait(10)  # slow start-up: models loading

    def stop(self) -> None:
        self.stopped = True

    def post(self, event) -> None:
        self.posted.append(event)


def window_of(qapp: QApplication) -> MainWindow:
    return next(w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())


@pytest.fixture(autouse=True)
def _close_windows(qapp: QApplication):
    yield
    for widget in qapp.topLevelWidgets():
        widget.close()


def quit_when(qapp: QApplication, condition, limit_s: float = 10.0) -> None:
    """Polls ``condition`` from the event loop; quits when it holds or after ``limit_s``."""
    timer = QTimer(qapp)
    ticks = {"n": 0}

    def poll() -> None:
        ticks["n"] += 1
        if condition() or ticks["n"] * 0.02 > limit_s:
            timer.stop()
            qapp.quit()

    timer.timeout.connect(poll)
    timer.start(20)


def test_idle_first_then_the_controller_and_early_touches(qapp: QApplication, config: KioskConfig) -> None:
    release = threading.Event()
    made: list[FakeController] = []
    seen: dict = {}

    def factory(**hooks):
        assert set(hooks) == {"voice", "on_view", "on_preview", "on_staff_called"}
        made.append(FakeController(release))
        return made[-1]

    def while_starting() -> None:
        window = window_of(qapp)
        seen["state_before_ready"] = window.view.state
        window.screens[State.IDLE].event_requested.emit(HelpRequested())  # a touch before the controller exists
        release.set()
        quit_when(qapp, lambda: bool(made and made[0].posted))

    QTimer.singleShot(50, while_starting)
    assert run_app(config, factory, fullscreen=False, render_voice=False) == 0
    controller = made[0]
    assert seen["state_before_ready"] is State.IDLE
    assert controller.started_on_gui_thread is False
    assert [type(e) for e in controller.posted] == [HelpRequested] and controller.stopped


def test_a_controller_that_cannot_start_shows_maintenance(qapp: QApplication, config: KioskConfig) -> None:
    def factory(**_hooks):
        raise StorageError("database locked")

    views: list[FlowView] = []

    def maintenance_shown() -> bool:
        views.append(window_of(qapp).view)
        return views[-1].state is State.MAINTENANCE

    QTimer.singleShot(0, lambda: quit_when(qapp, maintenance_shown))
    run_app(config, factory, fullscreen=False, render_voice=False)
    assert views[-1].state is State.MAINTENANCE and views[-1].maintenance_code == "storage_error"


def test_the_technician_test_read_borrows_the_running_kiosks_reader(qapp: QApplication, config: KioskConfig) -> None:
    """The reader service owns the port: the technician page reads through the controller, and
    before the controller exists the read is refused as reader_unavailable (no second opening)."""
    release = threading.Event()
    reads: list[float] = []
    seen: dict = {}

    class ReadingController(FakeController):
        def read_card_now(self, timeout_s: float) -> str:
            reads.append(timeout_s)
            return "the card"

    def read_once() -> bool:
        try:
            seen["card"] = window_of(qapp).technician_panel.services.read_card()
        except ReaderError as exc:
            seen.setdefault("early", exc.code)
        return "card" in seen

    def while_starting() -> None:
        read_once()  # the controller is still starting
        release.set()
        quit_when(qapp, read_once)

    QTimer.singleShot(50, while_starting)
    run_app(config, lambda **_hooks: ReadingController(release), fullscreen=False, render_voice=False)
    assert seen == {"early": "reader_unavailable", "card": "the card"}
    assert reads == [TECHNICIAN_READ_TIMEOUT_S]


@pytest.mark.parametrize(("demo", "renders"), [(False, True), (True, False)])
def test_the_demo_does_not_render_the_voice_a_second_time(config: KioskConfig, monkeypatch, demo: bool, renders: bool) -> None:
    """`make demo` rendered the clips and prepare_demo points ui.voice_dir at them."""
    from kiosk.runtime import Devices
    from ui.commands import run_window

    seen: dict = {}
    monkeypatch.setattr("ui.app.run_app", lambda *_args, **kwargs: seen.update(kwargs) or 0)
    assert run_window(config, Devices("sim://?present=0", config.camera.url), fullscreen=False, demo=demo) == 0
    assert seen["render_voice"] is renders


def test_a_prompt_heard_to_its_end_reaches_the_flow(qapp: QApplication, config: KioskConfig) -> None:
    """The wiring of run_app: the voice's ``finished`` becomes a PromptFinished for the controller."""
    from kiosk.flow import PromptFinished

    release = threading.Event()
    release.set()
    made: list[FakeController] = []
    voices: list = []

    def factory(**hooks):
        voices.append(hooks["voice"])
        made.append(FakeController(release))
        return made[-1]

    def after_start() -> None:
        if not made:  # the controller is made on a background thread: look again shortly
            QTimer.singleShot(50, after_start)
            return
        voices[0].finished.emit("action_blink")  # as the player does at the end of the clip
        quit_when(qapp, lambda: bool(made and made[0].posted))

    QTimer.singleShot(200, after_start)
    run_app(config, factory, fullscreen=False, render_voice=False)
    assert made[0].posted == [PromptFinished("action_blink")]
    assert voices[0].reports_prompt_ends
