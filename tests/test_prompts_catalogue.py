"""The message catalogue is complete: every state, prompt id, reason code and next step has words.

Parametrised over the live registries, so a reason code added by a device package fails here until
its message is written.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from kiosk.flow import State, prompt_ids
from kiosk.reasons import NextStep, Outcome, all_reason_codes
from ui.spoken_numbers import spoken_text
from ui.catalogue import Catalogue, CatalogueError
from ui.chime import CHIME_TEXT
from ui.voice_clips import speech_clips

CATALOGUE = Catalogue.load()


REASON_CODES = sorted(set().union(*all_reason_codes().values()))
QUALITY_CODES = sorted(code for code in REASON_CODES if CATALOGUE.has("hint", code))
SAMPLE_PARAMS = {"due_date": date(2027, 5, 20), "grace_until": date(2027, 6, 4), "suspended_from": date(2026, 7, 1),
                 "back_pay_months": 4, "valid_until": date(2027, 5, 20), "next_step": "retry", "attempts_left": 2}
ALL_PROMPTS = sorted(prompt_ids(hint_codes=tuple(QUALITY_CODES), outcome_codes=tuple(REASON_CODES)))


@pytest.mark.parametrize("code", REASON_CODES)
def test_every_reason_code_has_plain_words(code: str) -> None:
    text = CATALOGUE.reason(code)
    assert not re.search(r"[A-Za-z]", text), f"reason {code} shows English or a code: {text}"
    assert not re.search(r"\d", text), f"reason {code} shows digits (a score?): {text}"


@pytest.mark.parametrize("step", [str(step) for step in NextStep])
def test_every_next_step_has_words(step: str) -> None:
    assert CATALOGUE.next_step(step)


@pytest.mark.parametrize("prompt", ALL_PROMPTS)
def test_every_prompt_the_flow_speaks_has_clips(prompt: str) -> None:
    clips = speech_clips(CATALOGUE, prompt, SAMPLE_PARAMS)
    assert clips and all(clip.text.strip() for clip in clips)
    for clip in clips:
        if clip.text == CHIME_TEXT:
            continue  # a tone written at render time (ui.chime), not text espeak-ng speaks
        assert "{" not in clip.text and not re.search(r"[A-Za-z0-9]", clip.text), (prompt, clip)


@pytest.mark.parametrize("state", [str(state) for state in State])
def test_every_state_has_a_screen_title(state: str) -> None:
    keys = CATALOGUE.keys(f"screen.{state}")
    assert any(key.endswith("title") for key in keys), f"[screen.{state}] has no title"


def test_spoken_text_avoids_words_espeak_misreads() -> None:
    for section in ("prompt", "hint", "reason", "next_step"):
        for key in CATALOGUE.keys(section):
            text = spoken_text(CATALOGUE.raw(section, key))
            assert "重试" not in text, f"[{section}] {key}: say 请再试一次, espeak misreads 重试"
            assert not re.search(r"\d", text), f"[{section}] {key}: numbers must be words for the voice"


def test_the_hotline_is_digits_on_screen_and_yao_er_san_san_san_in_the_voice() -> None:
    shown = CATALOGUE.next_step("counter")
    assert "12333" in shown
    clips = speech_clips(CATALOGUE, "result_not_in_roster", {"next_step": "counter"})
    assert "幺二三三三" in "".join(clip.text for clip in clips) and "12333" not in "".join(c.text for c in clips)


def test_two_attempts_left_is_said_liang_ci() -> None:
    clips = speech_clips(CATALOGUE, "attempts_left", {"attempts_left": 2})
    assert "".join(clip.text for clip in clips) == "您还可以再试两次。"
    assert "十二" in "".join(c.text for c in speech_clips(CATALOGUE, "attempts_left", {"attempts_left": 12}))


def test_no_sentence_is_said_twice_in_one_result() -> None:
    """A reason said what to do and the next step said it again ("请到人工窗口办理" twice)."""
    from kiosk.reasons import NextStep

    for code in CATALOGUE.keys("reason"):
        if code in (Outcome.CERTIFIED, Outcome.STAFF_VERIFIED):
            continue  # said by its own prompt, with its date
        for step in NextStep:
            clips = speech_clips(CATALOGUE, f"result_{code}", {"next_step": str(step), "attempts_left": 1})
            sentences = [s for clip in clips for s in re.split(r"[。，？！]", clip.text) if s.strip()]
            assert len(sentences) == len(set(sentences)), (code, step, sentences)


def test_unknown_prompt_and_missing_value_are_clear_errors() -> None:
    with pytest.raises(CatalogueError, match="no spoken text"):
        speech_clips(CATALOGUE, "no_such_prompt")
    with pytest.raises(CatalogueError, match="due_date"):
        speech_clips(CATALOGUE, "status_valid", {})
    with pytest.raises(CatalogueError, match="date or a count"):
        speech_clips(CATALOGUE, "status_valid", {"due_date": "110101194001011234"})


def test_outcomes_are_covered() -> None:
    assert {str(o) for o in Outcome} <= set(REASON_CODES)


def test_the_registry_holds_every_device_package_and_the_codes_the_flow_composes() -> None:
    registries = all_reason_codes()
    assert {"Outcome", "ReaderReason", "IdNumberProblem", "CameraReason", "MatchReason", "KioskError"} <= set(registries)
    # The flow finishes a session with these when a read or an action times out.
    assert {"card_read_failed", "action_timeout", "no_face", "no_usable_face", "storage_full"} <= set(REASON_CODES)


def test_a_registry_that_moved_is_an_error_not_a_smaller_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "camera.errors", None)  # as if the module were gone
    with pytest.raises(ImportError):
        all_reason_codes()


@pytest.mark.parametrize(("content", "message"), [("[prompt\nx = 1", "not valid TOML"), ('[prompt]\nmatching = ""', "non-empty"),
                                                  ("[prompt]\nmatching = 3", "non-empty")])
def test_a_broken_catalogue_is_a_clear_error(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(path)
    with pytest.raises(CatalogueError, match="does not exist"):
        Catalogue.load(tmp_path / "missing.toml")


def test_a_code_missing_from_the_catalogue_still_gets_plain_words(caplog) -> None:
    """Belt and braces at run time: a new device code never crashes the result screen or the voice."""
    clips = speech_clips(CATALOGUE, "result_brand_new_code", {"next_step": "ask_staff"})
    assert clips[0].clip_id == "reason-device_error"
    assert CATALOGUE.reason_or_fallback("brand_new_code") == CATALOGUE.reason("device_error")
    assert "brand_new_code" in caplog.text
    caplog.clear()
    assert speech_clips(CATALOGUE, "hint_other_new_code")[0].clip_id == "reason-device_error"
    assert "other_new_code" in caplog.text  # a hint for an unknown code is logged too
