"""Numbers and dates as words, clip composition, offline rendering with espeak-ng and its manifest."""

from __future__ import annotations

import re
import shutil
import wave
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ui.catalogue import Catalogue
from ui.spoken_numbers import chinese_number, date_words
from ui.voice_clips import Clip, all_clips, clip_path, speech_clips
from ui.voice_render import VoiceRenderError, render_clips


@pytest.mark.parametrize(("n", "words"), [(0, "零"), (7, "七"), (10, "十"), (12, "十二"), (20, "二十"), (31, "三十一"),
                                          (105, "一百零五"), (110, "一百一十"), (1001, "一千零一"),
                                          (2027, "二千零二十七"), (10000, "一万"), (10050, "一万零五十")])
def test_chinese_numbers(n: int, words: str) -> None:
    assert chinese_number(n) == words


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=99_999_999))
def test_numbers_are_only_numeral_characters(n: int) -> None:
    assert set(chinese_number(n)) <= set("零一二三四五六七八九十百千万")


def test_dates_are_spoken_as_words() -> None:
    assert date_words(date(2027, 5, 20)) == "二零二七年五月二十日"
    assert date_words(date(2030, 10, 1)) == "二零三零年十月一日"


def test_a_date_prompt_is_composed_from_word_clips() -> None:
    clips = speech_clips(Catalogue.load(), "result_certified", {"valid_until": date(2027, 12, 31)})
    ids = [clip.clip_id for clip in clips]
    assert ids[1:4] == ["year-2027", "month-12", "day-31"]
    assert "".join(clip.text for clip in clips[1:4]) == "二零二七年十二月三十一日"


def test_a_year_without_its_clip_is_spoken_digit_by_digit() -> None:
    clips = speech_clips(Catalogue.load(), "result_certified", {"valid_until": date(2099, 1, 2)})
    assert [c.clip_id for c in clips[1:6]] == ["digit-2", "digit-0", "digit-9", "digit-9", "unit-year"]


def test_every_spoken_clip_is_in_the_render_set() -> None:
    catalogue = Catalogue.load()
    rendered = {clip.clip_id for clip in all_clips(catalogue)}
    for prompt, params in [("status_suspended", {"suspended_from": date(2026, 1, 1), "back_pay_months": 140}),
                           ("result_mismatch", {"next_step": "retry", "attempts_left": 2}),
                           ("hint_too_dark", {}), ("status_grace", {"due_date": date(2026, 5, 1), "grace_until": date(2026, 5, 16)})]:
        for clip in speech_clips(catalogue, prompt, params):
            assert clip.clip_id in rendered, clip


def test_every_prompt_hint_and_result_of_the_catalogue_is_in_the_render_set() -> None:
    """Completeness over the live catalogue: whatever the flow may say, each clip has been rendered."""
    catalogue = Catalogue.load()
    rendered = {clip.clip_id for clip in all_clips(catalogue)}
    spoken: list[tuple[str, dict]] = []
    for prompt in catalogue.keys("prompt"):
        names = re.findall(r"\{([a-z_]+)\}", catalogue.raw("prompt", prompt))
        spoken += [(prompt, dict.fromkeys(names, value)) for value in (2, 140, date(2026, 5, 1))]
    spoken += [(f"hint_{code}", {}) for code in catalogue.keys("hint") if not catalogue.has("prompt", f"hint_{code}")]
    spoken += [(f"result_{code}", {"next_step": step, "attempts_left": 2})
               for code in catalogue.keys("reason") if not catalogue.has("prompt", f"result_{code}")
               for step in catalogue.keys("next_step")]
    assert len(spoken) > 50
    for prompt, params in spoken:
        for clip in speech_clips(catalogue, prompt, params):
            assert clip.clip_id in rendered, (prompt, clip)


class CountingEngine:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def signature(self) -> str:
        return "fake"

    def render(self, text: str, path: Path) -> None:
        self.calls.append(text)
        path.write_bytes(b"RIFF" + b"\0" * 60)


def test_render_skips_unchanged_clips_and_removes_stale_ones(tmp_path: Path) -> None:
    engine = CountingEngine()
    clips = [Clip("a", "一"), Clip("b", "二")]
    assert render_clips(clips, tmp_path, engine).rendered == ["a", "b"]
    again = render_clips(clips, tmp_path, engine)
    assert again.rendered == [] and again.unchanged == ["a", "b"]
    changed = render_clips([Clip("a", "一"), Clip("b", "三")], tmp_path, engine)
    assert changed.rendered == ["b"] and engine.calls[-1] == "三"
    pruned = render_clips([Clip("a", "一")], tmp_path, engine)
    assert pruned.removed == ["b"] and not (tmp_path / "b.wav").exists()
    (tmp_path / "a.wav").unlink()  # a deleted clip is rendered again even though the manifest knows it
    assert render_clips([Clip("a", "一")], tmp_path, engine).rendered == ["a"]


def test_a_failing_engine_keeps_what_was_rendered(tmp_path: Path) -> None:
    class Failing(CountingEngine):
        def render(self, text: str, path: Path) -> None:
            if text == "坏":
                raise VoiceRenderError("boom")
            super().render(text, path)

    with pytest.raises(VoiceRenderError):
        render_clips([Clip("a", "一"), Clip("b", "坏")], tmp_path, Failing())
    assert render_clips([Clip("a", "一")], tmp_path, CountingEngine()).unchanged == ["a"]


def test_recorded_clips_win_over_rendered_ones(tmp_path: Path) -> None:
    rendered, recorded = tmp_path / "r", tmp_path / "rec"
    rendered.mkdir(), recorded.mkdir()
    (rendered / "prompt-matching.wav").write_bytes(b"x")
    assert clip_path("prompt-matching", rendered, recorded) == rendered / "prompt-matching.wav"
    (recorded / "prompt-matching.wav").write_bytes(b"y")
    assert clip_path("prompt-matching", rendered, recorded) == recorded / "prompt-matching.wav"
    assert clip_path("prompt-missing", rendered, recorded) is None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_voice_render_command_makes_real_wav_files(data_dir: Path) -> None:
    from tests.conftest import run_cli

    assert run_cli(["voice", "render"]) == 0
    voice = data_dir / "voice"
    with wave.open(str(voice / "prompt-matching.wav")) as clip:
        seconds = clip.getnframes() / clip.getframerate()
    assert 0.5 < seconds < 10
    assert len(list(voice.glob("*.wav"))) == len(all_clips(Catalogue.load()))
    assert run_cli(["voice", "say", "no_such_prompt"]) == 2


def test_render_without_espeak_is_one_clear_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from tests.conftest import run_cli

    monkeypatch.setenv("PATH", "/nonexistent")
    assert run_cli(["voice", "render"]) == 2
    err = capsys.readouterr().err
    assert "voice_render_failed" in err and "espeak-ng not found" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["\u00b2", "\u0663"])
def test_say_takes_only_ascii_digits_as_a_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """#13: ``str.isdigit`` is true for a superscript two (``int()`` then raised: an internal error)
    and an Arabic-Indic three (spoken as 3); both are words, refused like any other non-count."""
    from tests.conftest import run_cli

    assert run_cli(["voice", "say", "attempts_left", "--param", "attempts_left=3"]) == 0
    capsys.readouterr()
    assert run_cli(["voice", "say", "attempts_left", "--param", f"attempts_left={value}"]) == 2
    err = capsys.readouterr().err
    assert "prompt_catalogue_invalid" in err and "internal error" not in err


def test_the_staff_alert_starts_with_a_rendered_chime_tone(tmp_path: Path) -> None:
    import wave

    from ui.catalogue import Catalogue
    from ui.chime import CHIME_CLIP_ID
    from ui.voice_clips import all_clips, speech_clips
    from ui.voice_render import render_clips

    catalogue = Catalogue.load()
    clips = speech_clips(catalogue, "staff_call_local")
    assert clips[0].clip_id == CHIME_CLIP_ID and len(clips) == 2
    chime = next(clip for clip in all_clips(catalogue) if clip.clip_id == CHIME_CLIP_ID)

    class NoSpeech:
        def signature(self) -> str:
            return "none"

        def render(self, text: str, path: Path) -> None:
            raise AssertionError(f"the chime must not be spoken: {text}")

    render_clips([chime], tmp_path, NoSpeech())
    with wave.open(str(tmp_path / "chime.wav"), "rb") as tone:
        assert tone.getnchannels() == 1 and tone.getframerate() == 16_000
        assert 0.5 < tone.getnframes() / tone.getframerate() < 1.5
