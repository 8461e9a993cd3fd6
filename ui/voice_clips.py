"""From a prompt to the WAV clips that say it, and the full list of clips to render.

A :class:`~kiosk.flow.Speak` effect becomes a list of short clips (:func:`speech_clips`): fixed
sentences are one clip each, and a date or a count is spoken from composed word clips
(``year-2027`` 二零二七年, ``month-5`` 五月, ``day-20`` 二十日, ``num-3`` 三), because a deployment must
be able to replace every clip with a recording and cannot record every date.

Thread rule: pure, any thread. Privacy: prompts carry dates and counts only, never a name or a
number of the person (:func:`value_clips` refuses anything else).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from kiosk.reasons import NextStep
from ui.catalogue import PLACEHOLDER, Catalogue, CatalogueError
from ui.chime import CHIME_CLIP_ID, CHIME_TEXT
from ui.spoken_numbers import DIGITS, chinese_number, count_words, spoken_text, year_words

CHIMED_PROMPTS = frozenset({"staff_call_local"})
"""Prompts preceded by the chime (:mod:`ui.chime`): the alert while a staff call could not reach staff."""

_CLIP_ID = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
# Years with a pre-rendered clip: wide enough for any last-certified, due or suspension date that a
# terminal installed this decade will speak. Other years are spoken digit by digit.
YEAR_CLIPS = range(2000, 2061)
# Counts with a pre-rendered clip (attempts left, months of back pay); larger ones are composed.
NUMBER_CLIPS = range(0, 121)


@dataclass(frozen=True)
class Clip:
    """One WAV clip: ``clip_id`` is its file stem (ASCII), ``text`` what espeak-ng says for it."""

    clip_id: str
    text: str


def speech_clips(catalogue: Catalogue, prompt: str, params: Mapping[str, object] | Iterable[tuple[str, object]] = ()) -> list[Clip]:
    """The clips that say prompt ``prompt`` with ``params``, in playing order.

    Lookup: ``[prompt] <id>`` first; then ``hint_<code>`` → the hint (or reason) text;
    ``result_<code>`` → the reason text, the next step (param ``next_step``) and, when the next step
    is a retry, how many attempts are left. A reason code the catalogue lacks is spoken as the
    generic device error (and logged). Raises :class:`CatalogueError` for any other unknown id.
    """
    values = dict(params)
    if catalogue.has("prompt", prompt):
        chime = [Clip(CHIME_CLIP_ID, CHIME_TEXT)] if prompt in CHIMED_PROMPTS else []
        return chime + _template_clips(catalogue, prompt, values)
    if prompt.startswith("hint_"):
        code = prompt.removeprefix("hint_")
        if catalogue.has("hint", code):
            return [Clip(f"hint-{code}", spoken_text(catalogue.raw("hint", code)))]
        return [_reason_clip(catalogue, code)]
    if prompt.startswith("result_"):
        clips = [_reason_clip(catalogue, prompt.removeprefix("result_"))]
        step = values.get("next_step")
        if step is not None:
            clips.append(Clip(f"next-{step}", spoken_text(catalogue.next_step(str(step)))))
            if str(step) == NextStep.RETRY and isinstance(values.get("attempts_left"), int):
                clips += _template_clips(catalogue, "attempts_left", values)
        return clips
    raise CatalogueError(f"prompt catalogue has no spoken text for prompt {prompt!r}")


def _reason_clip(catalogue: Catalogue, code: str) -> Clip:
    """The reason clip for ``code``, or the generic one when the catalogue lacks it (logged)."""
    code = catalogue.reason_key(code)
    return Clip(f"reason-{code}", spoken_text(catalogue.reason(code)))


def _prompt_parts(catalogue: Catalogue, prompt: str) -> list[Clip | str]:
    """The prompt's template as its fixed clips (named here, for speaking and rendering alike) and,
    in between, the names of its placeholders."""
    template = catalogue.raw("prompt", prompt)
    parts = PLACEHOLDER.split(template)  # text, name, text, name, ..., text
    if len(parts) == 1:
        return [Clip(f"prompt-{prompt}", spoken_text(template))]
    return [part if index % 2 else Clip(f"prompt-{prompt}-{index // 2}", spoken_text(part))
            for index, part in enumerate(parts) if index % 2 or part.strip()]


def _template_clips(catalogue: Catalogue, prompt: str, values: Mapping[str, object]) -> list[Clip]:
    clips: list[Clip] = []
    for part in _prompt_parts(catalogue, prompt):
        if isinstance(part, Clip):
            clips.append(part)
        elif part in values:
            clips += value_clips(values[part])
        else:
            raise CatalogueError(f"prompt {prompt!r} needs the value {{{part}}}")
    return clips


def value_clips(value: object) -> list[Clip]:
    """Clips that say a date or a count. Raises :class:`CatalogueError` for any other type, so that
    no free text (a name, a number of the card) can ever be spoken or rendered by accident."""
    if isinstance(value, date):
        return [*_year_clips(value.year), Clip(f"month-{value.month}", f"{chinese_number(value.month)}月"),
                Clip(f"day-{value.day}", f"{chinese_number(value.day)}日")]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        if value == 2:  # every spoken count stands before a measure word: 再试两次, 两个月
            return [Clip("count-2", count_words(2))]
        if value in NUMBER_CLIPS:
            return [Clip(f"num-{value}", chinese_number(value))]
        return [_char_clip(ch) for ch in chinese_number(value)]
    raise CatalogueError(f"a spoken value must be a date or a count, not {type(value).__name__}")


def _year_clips(year: int) -> list[Clip]:
    if year in YEAR_CLIPS:
        return [Clip(f"year-{year}", year_words(year))]
    return [*(Clip(f"digit-{ch}", DIGITS[int(ch)]) for ch in str(year)), Clip("unit-year", "年")]


_UNIT_CLIPS = {"十": "unit-ten", "百": "unit-hundred", "千": "unit-thousand", "万": "unit-wan"}


def _char_clip(ch: str) -> Clip:
    if ch in _UNIT_CLIPS:
        return Clip(_UNIT_CLIPS[ch], ch)
    return Clip(f"digit-{DIGITS.index(ch)}", ch)


def all_clips(catalogue: Catalogue) -> list[Clip]:
    """Every clip the kiosk can play: each fixed prompt or its segments, hints, reasons, next steps,
    and the word clips for dates and counts. Sorted by id; ids are unique."""
    clips: dict[str, Clip] = {}
    for prompt in catalogue.keys("prompt"):
        clips.update((part.clip_id, part) for part in _prompt_parts(catalogue, prompt) if isinstance(part, Clip))
    for section, prefix in (("hint", "hint"), ("reason", "reason"), ("next_step", "next")):
        for key in catalogue.keys(section):
            clips[f"{prefix}-{key}"] = Clip(f"{prefix}-{key}", spoken_text(catalogue.raw(section, key)))
    clips[CHIME_CLIP_ID] = Clip(CHIME_CLIP_ID, CHIME_TEXT)
    words = [Clip(f"year-{y}", year_words(y)) for y in YEAR_CLIPS]
    words += [Clip(f"month-{m}", f"{chinese_number(m)}月") for m in range(1, 13)]
    words += [Clip(f"day-{d}", f"{chinese_number(d)}日") for d in range(1, 32)]
    words += [Clip(f"num-{n}", chinese_number(n)) for n in NUMBER_CLIPS] + [Clip("count-2", count_words(2))]
    words += [Clip(f"digit-{d}", DIGITS[d]) for d in range(10)] + [Clip("unit-year", "年")]
    words += [Clip(clip_id, ch) for ch, clip_id in _UNIT_CLIPS.items()]
    for clip in words:
        clips[clip.clip_id] = clip
    for clip_id in clips:
        if not _CLIP_ID.match(clip_id):
            raise CatalogueError(f"catalogue key makes an unusable clip name: {clip_id!r}")
    return sorted(clips.values(), key=lambda clip: clip.clip_id)


def clip_path(clip_id: str, rendered_dir: Path, recorded_dir: Path | None) -> Path | None:
    """The WAV file to play for ``clip_id``: a recorded clip in ``recorded_dir`` wins over the
    rendered one; None when neither exists."""
    for folder in (recorded_dir, rendered_dir):
        if folder is not None:
            candidate = folder / f"{clip_id}.wav"
            if candidate.is_file():
                return candidate
    return None
