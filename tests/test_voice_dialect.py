"""The second voice, Cantonese: its clip texts, its folder, the person's switch, the terminal's choice."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from kiosk.flow import FlowView, PersonView, Speak, State
from ui.catalogue import Catalogue
from ui.dialects import clip_dir, clips_in, render_language, spoken_in
from ui.voice import VoicePlayer
from ui.voice_clips import Clip, all_clips, speech_clips


class Backend:
    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.on_finished = lambda: None

    def play(self, path: Path) -> None:
        self.paths.append(path)
        self.on_finished()

    def stop(self) -> None:
        pass


def test_cantonese_dates_say_hou_and_phone_digits_say_jat() -> None:
    clips = speech_clips(Catalogue.load(), "result_certified", {"valid_until": date(2027, 5, 20)})
    said = "".join(spoken_in(clip, "yue").text for clip in clips)
    assert "二零二七年五月二十號" in said and "二十日" not in said
    hotline = speech_clips(Catalogue.load(), "result_not_in_roster", {"next_step": "counter"})
    assert "一二三三三" in "".join(spoken_in(c, "yue").text for c in hotline)
    assert "幺二三三三" in "".join(c.text for c in hotline)  # Mandarin unchanged
    assert [c.clip_id for c in clips_in(all_clips(Catalogue.load()), "yue")] == [c.clip_id for c in all_clips(Catalogue.load())]


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    voice = tmp_path / "voice"
    clip_dir(voice, "yue").mkdir(parents=True)
    for clip in all_clips(Catalogue.load()):
        (voice / f"{clip.clip_id}.wav").write_bytes(b"RIFF")
    (clip_dir(voice, "yue") / "prompt-idle_welcome.wav").write_bytes(b"RIFF")
    return voice


def test_the_player_speaks_the_chosen_language_and_falls_back_to_mandarin(qapp: QApplication, folders: Path) -> None:
    backend = Backend()
    player = VoicePlayer(Catalogue.load(), folders, None, backend=backend, language="yue")
    player.speak(Speak("idle_welcome"))
    player.speak(Speak("matching"))  # no Cantonese clip yet: Mandarin rather than silence
    qapp.processEvents()
    assert [p.parent.name for p in backend.paths] == ["yue", "voice"]
    player.set_language("cmn")
    player.speak(Speak("idle_welcome"))
    assert backend.paths[-1].parent.name == "voice"


def test_the_person_switches_the_voice_with_one_button_and_the_visit_end_resets_it(qapp: QApplication,
                                                                                  folders: Path, config) -> None:
    from ui.app import build_main_window

    backend = Backend()
    player = VoicePlayer(Catalogue.load(), folders, None, backend=backend)
    window = build_main_window(config, lambda _e: None, voice=player)
    idle = window.screens[State.IDLE]
    assert idle.language_button is not None and idle.language_button.text() == "听粤语"
    idle.language_button.click()
    qapp.processEvents()
    assert player.language == "yue" and backend.paths[-1] == clip_dir(folders, "yue") / "prompt-idle_welcome.wav"
    status = window.screens[State.STATUS]
    assert status.language_button.text() == "听普通话"
    window.show_view(FlowView(State.STATUS, session_id="s", person=PersonView("王*华", True, None),
                              last_prompt=Speak("status_never_certified")))
    assert player.language == "yue"  # kept through the visit
    window.show_view(FlowView(State.IDLE))
    assert player.language == "cmn" and idle.language_button.text() == "听粤语"
    window.close()


def test_a_terminal_set_to_cantonese_starts_in_it(qapp: QApplication, config) -> None:
    from ui.app import build_main_window, make_voice

    config = config.model_copy(update={"ui": config.ui.model_copy(update={"voice_language": "yue"})})
    voice = make_voice(config, Catalogue.load())
    assert voice.language == voice.default_language == "yue"
    window = build_main_window(config, lambda _e: None, voice=voice)
    assert window.screens[State.IDLE].language_button.text() == "听普通话" and voice.language == "yue"
    window.close()


def test_cantonese_clips_render_with_espeak_yue(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    report = render_language([Clip("day-20", "二十日"), Clip("prompt-remove_card", "请取走您的身份证。")], tmp_path, "yue")
    assert sorted(report.rendered) == ["day-20", "prompt-remove_card"]
    assert (tmp_path / "yue" / "day-20.wav").stat().st_size > 1000
