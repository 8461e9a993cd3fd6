"""The window wired to the real session controller (fake devices, real store file): which prompt is
played at each state, touches become flow events, and nothing of the person is left after a session."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QPixmap
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from conftest import wait_until
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.flow import (ActionCompleted, ActionPrompted, CardPlaced, CardRead, FacePositioned, IdleTouched, LivenessPassed,
                        QualityHinted, Speak, State)
from kiosk.ports import LivenessScores, MatchOutcome
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store
from ui.catalogue import Catalogue
from ui.voice_clips import all_clips
from ui.camera_view import CameraView
from ui.main_window import MainWindow
from ui.screenshots import sample_preview
from ui.voice import VoicePlayer

ID = "110101195003070013"
NAME_MASKED = "李*英"


class InstantBackend:
    """Every clip ends as soon as it starts, so every prompt is heard in full and in order."""

    def __init__(self) -> None:
        self.on_finished = lambda: None
        self.calls: list[str] = []

    def play(self, path: Path) -> None:
        self.calls.append(path.stem)
        self.on_finished()

    def stop(self) -> None:
        self.calls.append("stop")


class Reader:
    def start(self, post) -> None:
        self.post = post

    def stop(self) -> None:
        pass


class Liveness:
    """A scripted challenge that also sends camera previews, like the real one."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def start(self, attempt, post, on_preview) -> None:
        self.frames = [np.full((48, 48, 3), 128, np.uint8)]
        on_preview(sample_preview())
        for event in (QualityHinted("face_too_small"), QualityHinted(None), FacePositioned(), ActionPrompted("blink"),
                      ActionCompleted("blink"), ActionPrompted("mouth_open"), ActionCompleted("mouth_open"), LivenessPassed()):
            post(event)
        on_preview(sample_preview())

    def stop(self) -> None:
        pass

    def best_frames(self):
        return list(self.frames)

    def scores(self) -> LivenessScores:
        return LivenessScores(0.9, 0.1)

    def wipe(self) -> None:
        self.frames = []


class Matcher:
    def verify(self, live_frames, references) -> Future:
        future: Future = Future()
        future.set_result(MatchOutcome(True, 0.2))
        return future


class TaggingVoice:
    """At the controller boundary: notes the flow state each prompt was asked in, then plays it."""

    def __init__(self, player: VoicePlayer) -> None:
        self.player = player
        self.controller: SessionController | None = None
        self.asked: list[tuple[str, str]] = []

    def speak(self, prompt: Speak) -> None:
        assert self.controller is not None
        self.asked.append((prompt.prompt, str(self.controller.flow.state)))
        self.player.speak(prompt)

    def stop(self) -> None:
        self.player.stop()

    def set_language(self, language: str) -> None:
        self.player.set_language(language)


@pytest.fixture
def kiosk(qapp: QApplication, config: KioskConfig, data_dir: Path):
    clock = FakeClock()
    with Store.from_config(config, clock) as store:
        store.upsert_pensioner(Pensioner(ID, "李秀英", "110101", date(2025, 6, 1)))
        store.add_reference(ID, np.ones(128, np.float32), "roster_photo")
    voice_dir = data_dir / "voice"
    voice_dir.mkdir()
    for clip in all_clips(Catalogue.load()):
        (voice_dir / f"{clip.clip_id}.wav").write_bytes(b"RIFF")
    player = VoicePlayer(Catalogue.load(), voice_dir, None, backend=InstantBackend())
    voice = TaggingVoice(player)
    reader = Reader()
    posted: list = []
    holder: dict = {}

    def post(event) -> None:
        posted.append(event)
        holder["controller"].post(event)

    window = MainWindow(config, Catalogue.load(), post, voice=voice, clock=clock)
    controller = SessionController(config, clock, store_factory=lambda: Store.from_config(config, clock), reader=reader,
                                   liveness=Liveness(), matcher=Matcher(), voice=voice, on_view=window.on_view,
                                   on_preview=window.on_preview)
    holder["controller"] = controller
    voice.controller = controller
    played: list[str] = []
    player.started.connect(played.append)
    window.show()
    qapp.installEventFilter(window)
    controller.start()
    yield window, controller, reader, voice, played, posted
    qapp.removeEventFilter(window)
    controller.stop()
    window.close()
    # Delete the Qt objects while the application lives: left to the interpreter's final garbage
    # collection, PySide6 destroys them after QApplication and the process aborts at exit.
    window.deleteLater()
    player.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def click(qapp: QApplication, button: QAbstractButton) -> None:
    assert button.isVisible(), button.text()
    button.click()
    qapp.processEvents()


def test_a_whole_session_speaks_the_right_prompt_in_each_state_and_leaves_nothing(qapp, kiosk) -> None:
    window, controller, reader, voice, played, posted = kiosk
    reader.post(CardPlaced())
    reader.post(CardRead(ID, NAME_MASKED))
    wait_until(qapp, lambda: window.view.state is State.STATUS)
    status = window.screens[State.STATUS]
    assert NAME_MASKED in status.title.text()
    click(qapp, status.start)
    wait_until(qapp, lambda: window.view.state is State.CONSENT)
    click(qapp, window.screens[State.CONSENT].agree)
    wait_until(qapp, lambda: window.view.state is State.RESULT)
    result = window.screens[State.RESULT]
    assert result.title.text() == Catalogue.load().text("screen.result", "success_title")
    wait_until(qapp, lambda: "result_certified" in played)
    expected = [
        ("card_reading", "reading"), ("status_valid", "status"), ("consent_question", "consent"),
        ("positioning_start", "positioning"), ("hint_face_too_small", "positioning"), ("face_ok", "positioning"),
        ("action_blink", "actions"), ("action_done", "actions"), ("action_mouth_open", "actions"),
        ("action_done", "actions"), ("matching", "matching"), ("result_certified", "result"),
    ]
    assert voice.asked == expected
    assert played == [prompt for prompt, _state in expected]  # every prompt was heard, none overlapped

    click(qapp, result.footer.repeat)
    wait_until(qapp, lambda: played[-1] == "result_certified" and len(played) == len(expected) + 1)
    click(qapp, result.finish)
    wait_until(qapp, lambda: window.view.state is State.IDLE)
    assert_nothing_of_the_person(window, NAME_MASKED)


def assert_nothing_of_the_person(window: MainWindow, name: str) -> None:
    catalogue = Catalogue.load()
    for widget in window.findChildren(QWidget):
        text = widget.text() if isinstance(widget, (QLabel, QAbstractButton)) else ""
        assert name not in text and "2027" not in text, (type(widget).__name__, text)
        if isinstance(widget, QLabel):
            pixmap: QPixmap | None = widget.pixmap()
            assert pixmap is None or pixmap.isNull()
        if isinstance(widget, CameraView):
            assert not widget.has_frame
    assert window.screens[State.RESULT].last_view() is None
    assert window.screens[State.STATUS].title.text() == catalogue.text("screen.status", "title_no_name")
    assert window._previews.waiting is None


def test_a_pulled_card_returns_to_idle_clean(qapp, kiosk) -> None:
    window, controller, reader, voice, played, posted = kiosk
    from kiosk.flow import CardRemoved, Finished

    reader.post(CardPlaced())
    reader.post(CardRead(ID, NAME_MASKED))
    wait_until(qapp, lambda: window.view.state is State.STATUS)
    reader.post(CardRemoved())
    wait_until(qapp, lambda: window.view.state is State.RESULT)
    assert window.view.outcome == "card_removed"
    controller.post(Finished())
    wait_until(qapp, lambda: window.view.state is State.IDLE)
    assert_nothing_of_the_person(window, NAME_MASKED)


def test_repeat_in_idle_plays_the_invitation(qapp, kiosk) -> None:
    window, controller, reader, voice, played, posted = kiosk
    click(qapp, window.screens[State.IDLE].footer.repeat)
    wait_until(qapp, lambda: played[-1:] == ["idle_welcome"])
    assert posted == []  # the flow has nothing to repeat in idle; the window speaks its own invitation


def test_a_real_press_on_the_idle_repeat_button_speaks_the_invitation_once(qapp, kiosk) -> None:
    """The press reaches the window's touch filter too: it must not also ask the flow to invite."""
    window, controller, reader, voice, played, posted = kiosk
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    button = window.screens[State.IDLE].footer.repeat
    centre = button.mapTo(window, QPoint(button.width() // 2, button.height() // 2))
    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, pos=centre)
    wait_until(qapp, lambda: played[-1:] == ["idle_welcome"])
    for _ in range(5):
        qapp.processEvents()
    assert played.count("idle_welcome") == 1
    assert posted == []


def test_a_new_card_on_the_result_screen_starts_clean_and_is_heard(qapp, kiosk) -> None:
    window, controller, reader, voice, played, posted = kiosk
    reader.post(CardPlaced())
    reader.post(CardRead(ID, NAME_MASKED))
    wait_until(qapp, lambda: window.view.state is State.STATUS)
    click(qapp, window.screens[State.STATUS].start)
    wait_until(qapp, lambda: window.view.state is State.CONSENT)
    click(qapp, window.screens[State.CONSENT].agree)
    wait_until(qapp, lambda: window.view.state is State.RESULT)
    first_session = window.view.session_id
    reader.post(CardPlaced())  # the next person puts their card down while the result still shows
    wait_until(qapp, lambda: window.view.state is State.READING and window.view.session_id != first_session)
    wait_until(qapp, lambda: played[-1:] == ["card_reading"])
    wait_until(qapp, lambda: window.screens[State.RESULT].last_view() is None)
    calls = window.voice.player._backend.calls
    assert "stop" not in calls[calls.index("prompt-card_reading"):]  # the wipe did not cut the new prompt off
    assert window.screens[State.RESULT].last_view() is None
    assert NAME_MASKED not in window.screens[State.STATUS].title.text()


def test_a_touch_on_the_idle_screen_says_how_to_start(qapp, kiosk) -> None:
    window, controller, reader, voice, played, posted = kiosk
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, pos=QPoint(900, 500))
    wait_until(qapp, lambda: played[-1:] == ["idle_welcome"])
    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, pos=QPoint(900, 500))
    qapp.processEvents()
    # The controller handles events in order on its own thread: once the card placed after the second
    # touch is spoken for, the flow has decided about that touch (without this the count below could
    # be read before the flow even saw it, and pass however the flow decided).
    reader.post(CardPlaced())
    wait_until(qapp, lambda: "card_reading" in [prompt for prompt, _state in voice.asked])
    assert posted == [IdleTouched(), IdleTouched()]  # the flow decides, with the presence invitation
    assert [prompt for prompt, _state in voice.asked].count("idle_welcome") == 1
    assert played.count("idle_welcome") == 1  # not again at once: at most every TOUCH_INVITATION_REPEAT_S


def test_previews_waiting_for_the_gui_thread_are_coalesced_and_dropped(qapp) -> None:
    """Only the newest waiting frame is painted (no backlog behind a slow paint), and a dropped one never is."""
    import threading

    from ui.camera_view import PreviewMailbox

    delivered: list = []
    mailbox = PreviewMailbox(delivered.append)
    first, second, third = sample_preview(), sample_preview(), sample_preview()
    camera = threading.Thread(target=lambda: (mailbox.put(first), mailbox.put(second)))
    camera.start()
    camera.join()
    assert delivered == [] and mailbox.waiting is second  # handed over by the GUI thread's loop only
    wait_until(qapp, lambda: delivered)
    for _ in range(5):
        qapp.processEvents()
    assert delivered == [second] and mailbox.waiting is None
    mailbox.put(third)
    mailbox.drop()  # a session ended before the frame was painted
    for _ in range(5):
        qapp.processEvents()
    assert delivered == [second]
    mailbox.deleteLater()
