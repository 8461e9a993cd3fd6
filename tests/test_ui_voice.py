"""The voice player: clip order, recorded clips win, prompts never overlap (interrupt or wait rule)."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from kiosk.flow import Speak
from ui.catalogue import Catalogue
from ui.voice_clips import all_clips
from ui.voice import VoicePlayer, interrupts


class ManualBackend:
    """Plays nothing; the test says when a clip ends."""

    def __init__(self) -> None:
        self.played: list[str] = []  # clip ids (file stems)
        self.paths: list[Path] = []  # the files themselves (which folder a clip came from)
        self.stops = 0
        self.on_finished = lambda: None

    def play(self, path: Path) -> None:
        self.played.append(path.stem)
        self.paths.append(path)

    def stop(self) -> None:
        self.stops += 1

    def finish(self) -> None:
        self.on_finished()


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "voice"
    folder.mkdir()
    for clip in all_clips(Catalogue.load()):
        (folder / f"{clip.clip_id}.wav").write_bytes(b"RIFF")
    return folder


def make(qapp: QApplication, clips: Path, recorded: Path | None = None) -> tuple[VoicePlayer, ManualBackend, list[str]]:
    backend = ManualBackend()
    player = VoicePlayer(Catalogue.load(), clips, recorded, backend=backend)
    started: list[str] = []
    player.started.connect(started.append)
    return player, backend, started


def settle(qapp: QApplication) -> None:
    for _ in range(3):
        qapp.processEvents()


def test_a_dated_prompt_plays_its_clips_in_order(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    player.speak(Speak("result_certified", (("valid_until", date(2027, 5, 20)),)))
    settle(qapp)
    for _ in range(6):
        backend.finish()
    assert backend.played == ["prompt-result_certified-0", "year-2027", "month-5", "day-20", "prompt-result_certified-1"]
    assert started == ["result_certified"] and player.playing is None


def test_a_screen_prompt_interrupts_and_a_hint_waits(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    player.speak(Speak("positioning_start"))
    player.speak(Speak("hint_too_dark"))  # waits for the end of positioning_start
    player.speak(Speak("hint_face_too_small"))  # replaces the waiting hint: stale hints are dropped
    settle(qapp)
    assert backend.played == ["prompt-positioning_start"] and backend.stops == 0
    backend.finish()
    assert backend.played[-1] == "hint-face_too_small"
    player.speak(Speak("matching"))  # a new screen: cuts the hint off at once
    settle(qapp)
    assert backend.stops == 1 and backend.played[-1] == "prompt-matching"
    assert started == ["positioning_start", "hint_face_too_small", "matching"]


def test_stop_silences_and_forgets_the_waiting_prompt(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    player.speak(Speak("consent_question"))
    player.speak(Speak("reminder_still_there"))
    player.stop()
    settle(qapp)
    assert backend.stops == 1
    backend.finish()
    assert started == ["consent_question"] and player.playing is None
    player.speak(Speak("face_ok"))
    settle(qapp)
    backend.finish()
    backend.finish()
    assert started == ["consent_question", "face_ok"]  # the reminder that waited before stop() never plays


def test_recorded_clips_win_and_missing_clips_are_skipped(qapp: QApplication, clips: Path, tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    (recorded / "prompt-matching.wav").write_bytes(b"RIFF")
    (clips / "prompt-face_ok.wav").unlink()
    player, backend, started = make(qapp, clips, recorded)
    player.speak(Speak("face_ok"))
    player.speak(Speak("matching"))
    settle(qapp)
    assert started == ["face_ok", "matching"]
    assert backend.played == ["prompt-matching"]
    assert backend.paths[0].parent == recorded
    player2, backend2, _ = make(qapp, clips, recorded)
    player2.speak(Speak("matching"))
    settle(qapp)
    assert backend2.played == ["prompt-matching"]
    assert backend2.paths[0].parent == recorded  # the recorded clip, not the rendered one beside it


def test_an_unknown_prompt_is_logged_not_fatal(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    player.speak(Speak("no_such_prompt"))
    player.speak(Speak("matching"))
    settle(qapp)
    assert started == ["matching"]


def test_speak_from_another_thread_plays_on_the_gui_thread(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    seen: list[bool] = []
    backend.play = lambda path: seen.append(threading.current_thread() is threading.main_thread())  # type: ignore[method-assign]
    worker = threading.Thread(target=lambda: player.speak(Speak("matching")))
    worker.start()
    worker.join()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        qapp.processEvents()
    assert seen == [True]


def test_the_interrupt_rule() -> None:
    assert interrupts("status_valid") and interrupts("result_mismatch") and interrupts("card_reading")
    assert not interrupts("hint_no_face") and not interrupts("action_blink") and not interrupts("face_ok")


def test_no_action_prompt_is_dropped_and_none_waits_behind_a_long_sentence(qapp: QApplication, clips: Path) -> None:
    """Seen live: with one waiting slot, "请张张嘴" and "请眨眨眼" were replaced by later chatter."""
    player, backend, started = make(qapp, clips)
    finished: list[str] = []
    player.finished.connect(finished.append)
    player.speak(Speak("positioning_start"))  # a long screen sentence
    player.speak(Speak("hint_off_centre"))
    player.speak(Speak("action_blink"))  # cuts the long sentence at once, drops the stale hint
    settle(qapp)
    assert started == ["positioning_start", "action_blink"] and backend.stops == 1
    player.speak(Speak("action_done"))
    player.speak(Speak("action_mouth_open"))  # waits for the blink prompt, never replaced
    player.speak(Speak("hint_too_dark"))
    player.speak(Speak("staff_called"))
    assert player.waiting == ["action_mouth_open", "staff_called", "hint_too_dark"]
    for _ in range(4):
        backend.finish()
    assert started == ["positioning_start", "action_blink", "action_mouth_open", "staff_called", "hint_too_dark"]
    assert finished == ["action_blink", "action_mouth_open", "staff_called", "hint_too_dark"]  # cut ones not


def test_an_action_prompt_lets_short_chatter_finish(qapp: QApplication, clips: Path) -> None:
    player, backend, started = make(qapp, clips)
    player.speak(Speak("face_ok"))
    player.speak(Speak("action_blink"))
    settle(qapp)
    assert started == ["face_ok"] and backend.stops == 0  # no half word
    backend.finish()
    assert started == ["face_ok", "action_blink"]
