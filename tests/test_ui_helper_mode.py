"""The helper mode in the window (issue 19), wired to the real session controller (fake devices, real
store file): the 家人帮忙操作 button, the helper-aside screen while two faces are in view, the
pensioner's turn, and a record that says assisted_by = family."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication

from camera.errors import CameraReason
from conftest import wait_until
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.flow import (ActionCompleted, ActionPrompted, CardPlaced, CardRead, FacePositioned, FacesCounted,
                        LivenessPassed, QualityHinted, State)
from kiosk.ports import LivenessScores
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store
from ui.catalogue import Catalogue
from ui.main_window import MainWindow
from ui.screenshots import sample_preview
from ui.voice import VoicePlayer
from ui.voice_clips import all_clips
from test_ui_session import ID, NAME_MASKED, InstantBackend, Matcher, Reader, TaggingVoice, assert_nothing_of_the_person, click


class HelperLiveness:
    """The camera sees the pensioner and the helper until :meth:`helper_leaves`, then the pensioner acts."""

    def __init__(self) -> None:
        self.post = self.on_preview = None
        self.starts = 0

    def start(self, attempt, post, on_preview) -> None:
        self.starts += 1
        self.post, self.on_preview = post, on_preview
        post(FacesCounted(2))
        post(QualityHinted(CameraReason.MULTIPLE_FACES))

    def helper_leaves(self) -> None:
        for event in (FacesCounted(1), QualityHinted(None), FacePositioned(), ActionPrompted("blink"),
                      ActionCompleted("blink"), LivenessPassed()):
            self.post(event)

    def stop(self) -> None:
        pass

    def best_frames(self):
        return [np.full((48, 48, 3), 128, np.uint8)]

    def scores(self) -> LivenessScores:
        return LivenessScores(0.9, 0.1)

    def wipe(self) -> None:
        pass


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
    reader, liveness = Reader(), HelperLiveness()
    holder: dict = {}
    window = MainWindow(config, Catalogue.load(), lambda event: holder["controller"].post(event), voice=voice,
                        clock=clock)
    records: list = []
    controller = SessionController(config, clock, store_factory=lambda: Store.from_config(config, clock), reader=reader,
                                   liveness=liveness, matcher=Matcher(), voice=voice, on_view=window.on_view,
                                   on_preview=window.on_preview, on_record=lambda _id, record: records.append(record))
    holder["controller"] = controller
    voice.controller = controller
    window.show()
    controller.start()
    yield window, reader, liveness, voice, records
    controller.stop()
    window.close()
    window.deleteLater()
    player.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_a_family_member_operates_and_the_pensioner_is_certified(qapp, kiosk) -> None:
    window, reader, liveness, voice, records = kiosk
    reader.post(CardPlaced())
    reader.post(CardRead(ID, NAME_MASKED))
    wait_until(qapp, lambda: window.view.state is State.STATUS)
    status = window.screens[State.STATUS]
    assert not status.helper_note.isVisible()
    click(qapp, status.helper)
    wait_until(qapp, lambda: window.view.assisted)
    assert status.helper_note.isVisible() and not status.helper.isVisible()  # one press is enough
    click(qapp, status.start)
    wait_until(qapp, lambda: window.view.state is State.CONSENT)
    click(qapp, window.screens[State.CONSENT].agree)
    wait_until(qapp, lambda: window.view.state is State.HELPER_ASIDE and window.view.hint is not None)
    aside = window.screens[State.HELPER_ASIDE]
    assert aside.body.text() == Catalogue.load().text("screen.helper_aside", "waiting")
    assert not aside.attempt.isVisible()  # no "第 1 次" before a first failure, as on the other face screens
    liveness.on_preview(sample_preview())  # the camera keeps sending frames (from its own thread)
    wait_until(qapp, lambda: aside.camera.has_frame)
    liveness.helper_leaves()
    wait_until(qapp, lambda: window.view.state is State.RESULT)
    assert liveness.starts == 1  # the pensioner's turn kept the attempt's camera
    wait_until(qapp, lambda: len(records) == 1)
    assert records[0].certified and records[0].assisted_by == "family"
    asked = [prompt for prompt, _state in voice.asked]
    assert asked.index("helper_on") < asked.index("helper_step_aside") < asked.index("helper_look_at_screen") \
        < asked.index("action_blink")
    click(qapp, window.screens[State.RESULT].finish)
    wait_until(qapp, lambda: window.view.state is State.IDLE)
    assert_nothing_of_the_person(window, NAME_MASKED)
    assert window.screens[State.STATUS].helper.isHidden() is False  # offered again to the next person
