"""The message catalogue and the voice: from a prompt id to words on screen and to WAV clips.

All Chinese text lives in ``config/prompts.toml`` (see its header). This module, with no Qt:

* loads and checks the catalogue (:class:`Catalogue`) and formats screen text with dates and counts;
* turns a :class:`~kiosk.flow.Speak` effect into a list of short clips (:func:`speech_clips`): fixed
  sentences are one clip each, and a date or a count is spoken from composed word clips
  (``year-2027`` 二零二七年, ``month-5`` 五月, ``day-20`` 二十日, ``num-3`` 三), because a deployment must
  be able to replace every clip with a recording and cannot record every date;
* renders every clip offline with espeak-ng (:func:`render_clips`), skipping clips whose text did
  not change (a hash per clip in ``manifest.json``).

Thread rule: everything here is pure or file-bound and may run on any thread; a :class:`Catalogue`
is immutable after loading. Privacy: prompts carry dates and counts only, never a name or a number
of the person, and nothing here logs the text of a prompt with a person's data in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.paths import prompts_file
from kiosk.reasons import NextStep, Outcome

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CLIP_ID = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
_DIGITS = "零一二三四五六七八九"
# Years with a pre-rendered clip: wide enough for any last-certified, due or suspension date that a
# terminal installed this decade will speak. Other years are spoken digit by digit.
YEAR_CLIPS = range(2000, 2061)
# The reason said for a code the catalogue lacks (a gap the completeness test exists to prevent).
FALLBACK_REASON = Outcome.DEVICE_ERROR
# Counts with a pre-rendered clip (attempts left, months of back pay); larger ones are composed.
NUMBER_CLIPS = range(0, 121)


class CatalogueError(KioskError):
    """The prompt catalogue is unreadable, or lacks a text the kiosk needs (a bug to fix, not a user state)."""

    code = "prompt_catalogue_invalid"


class VoiceRenderError(KioskError):
    """espeak-ng is missing or failed to render a clip; ``message`` says which clip and why."""

    code = "voice_render_failed"


# --- numbers and dates as words ----------------------------------------------------------------


def chinese_number(n: int) -> str:
    """``n`` (0 to 99 999 999) in Chinese numerals as spoken: 10 十, 12 十二, 105 一百零五, 2000 二千
    (二, not 两, keeps the engine's reading predictable). Raises ValueError outside that range."""
    if not 0 <= n <= 99_999_999:
        raise ValueError(f"number out of range for words: {n}")
    if n < 10:
        return _DIGITS[n]
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        rest = "" if low == 0 else ("零" if low < 1000 else "") + chinese_number(low)
        return chinese_number(high) + "万" + rest
    words = ""
    zero_pending = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = (n // value) % 10
        if digit == 0:
            zero_pending = bool(words)
            continue
        if zero_pending:
            words += "零"
            zero_pending = False
        words += ("" if (unit == "十" and digit == 1 and not words) else _DIGITS[digit]) + unit
    return words


def year_words(year: int) -> str:
    """A year read digit by digit, as people say it: 2027 → 二零二七年."""
    return "".join(_DIGITS[int(ch)] for ch in str(year)) + "年"


def date_words(day: date) -> str:
    """A date as spoken words: 2027-05-20 → 二零二七年五月二十日 (engines misread "2027年")."""
    return f"{year_words(day.year)}{chinese_number(day.month)}月{chinese_number(day.day)}日"


def date_display(day: date) -> str:
    """A date for the screen, in large Arabic digits elders read fastest: 2027年5月20日."""
    return f"{day.year}年{day.month}月{day.day}日"


# --- the catalogue ----------------------------------------------------------------------------


class Catalogue:
    """The parsed ``config/prompts.toml``: sections of key → text. Immutable; any thread."""

    def __init__(self, tables: Mapping[str, Any], source: str = "<memory>") -> None:
        self._tables = tables
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Reads the catalogue (default: the shipped one). Raises :class:`CatalogueError`."""
        path = path or prompts_file()
        try:
            with open(path, "rb") as handle:
                tables = tomllib.load(handle)
        except FileNotFoundError:
            raise CatalogueError(f"prompt catalogue {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"prompt catalogue {path} is not valid TOML: {exc}") from None
        for section, table in tables.items():
            for key, value in _flatten(table, section):
                if not isinstance(value, str) or not value.strip():
                    raise CatalogueError(f"prompt catalogue {path}: {key} must be a non-empty string")
        return cls(tables, str(path))

    def has(self, section: str, key: str) -> bool:
        """True when ``[section] key`` exists (``section`` may be dotted: ``screen.idle``)."""
        return isinstance(self._table(section).get(key), str)

    def raw(self, section: str, key: str) -> str:
        """The unformatted text of ``[section] key``; raises :class:`CatalogueError` when missing."""
        value = self._table(section).get(key)
        if not isinstance(value, str):
            raise CatalogueError(f"prompt catalogue has no [{section}] {key}")
        return value

    def text(self, section: str, key: str, **params: object) -> str:
        """The screen text of ``[section] key`` with placeholders filled (dates as 2027年5月20日)."""
        template = self.raw(section, key)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in params:
                raise CatalogueError(f"[{section}] {key} needs the value {{{name}}}")
            value = params[name]
            return date_display(value) if isinstance(value, date) else str(value)

        return _PLACEHOLDER.sub(fill, template)

    def keys(self, section: str) -> list[str]:
        """The keys of one section (for completeness tests and the technician pages)."""
        return [key for key, value in self._table(section).items() if isinstance(value, str)]

    def reason(self, code: str) -> str:
        """What happened, in plain words, for any reason code."""
        return self.raw("reason", code)

    def reason_key(self, code: str) -> str:
        """``code`` when ``[reason]`` has it, else :data:`FALLBACK_REASON` (logged: a gap the
        completeness test should have caught; the person still gets plain words)."""
        if self.has("reason", code):
            return code
        log.error("prompt catalogue has no [reason] %s; the generic %s is used", code, FALLBACK_REASON)
        return FALLBACK_REASON

    def reason_or_fallback(self, code: str) -> str:
        """The reason text, or the generic device-error text for a code the catalogue lacks (logged)."""
        return self.raw("reason", self.reason_key(code))

    def next_step(self, step: str) -> str:
        """What to do next, for a :class:`~kiosk.reasons.NextStep` value."""
        return self.raw("next_step", step)

    def hint_text(self, code: str) -> str:
        """The live instruction for a quality code; falls back to the reason text for other codes."""
        return self.raw("hint", code) if self.has("hint", code) else self.reason_or_fallback(code)

    def _table(self, section: str) -> Mapping[str, Any]:
        table: Any = self._tables
        for part in section.split("."):
            table = table.get(part, {}) if isinstance(table, Mapping) else {}
        return table if isinstance(table, Mapping) else {}


def _flatten(table: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    if isinstance(table, Mapping):
        for key, value in table.items():
            yield from _flatten(value, f"{prefix}.{key}")
    else:
        yield prefix, table


# --- from a Speak effect to clips ------------------------------------------------------------------


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
        return _template_clips(catalogue, prompt, values)
    if prompt.startswith("hint_"):
        code = prompt.removeprefix("hint_")
        if catalogue.has("hint", code):
            return [Clip(f"hint-{code}", catalogue.raw("hint", code))]
        return [_reason_clip(catalogue, code)]
    if prompt.startswith("result_"):
        clips = [_reason_clip(catalogue, prompt.removeprefix("result_"))]
        step = values.get("next_step")
        if step is not None:
            clips.append(Clip(f"next-{step}", catalogue.next_step(str(step))))
            if str(step) == NextStep.RETRY and isinstance(values.get("attempts_left"), int):
                clips += _template_clips(catalogue, "attempts_left", values)
        return clips
    raise CatalogueError(f"prompt catalogue has no spoken text for prompt {prompt!r}")


def _reason_clip(catalogue: Catalogue, code: str) -> Clip:
    """The reason clip for ``code``, or the generic one when the catalogue lacks it (logged)."""
    code = catalogue.reason_key(code)
    return Clip(f"reason-{code}", catalogue.reason(code))


def _prompt_parts(catalogue: Catalogue, prompt: str) -> list[Clip | str]:
    """The prompt's template as its fixed clips (named here, for speaking and rendering alike) and,
    in between, the names of its placeholders."""
    template = catalogue.raw("prompt", prompt)
    parts = _PLACEHOLDER.split(template)  # text, name, text, name, ..., text
    if len(parts) == 1:
        return [Clip(f"prompt-{prompt}", template)]
    return [part if index % 2 else Clip(f"prompt-{prompt}-{index // 2}", part)
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
        if value in NUMBER_CLIPS:
            return [Clip(f"num-{value}", chinese_number(value))]
        return [_char_clip(ch) for ch in chinese_number(value)]
    raise CatalogueError(f"a spoken value must be a date or a count, not {type(value).__name__}")


def _year_clips(year: int) -> list[Clip]:
    if year in YEAR_CLIPS:
        return [Clip(f"year-{year}", year_words(year))]
    return [*(Clip(f"digit-{ch}", _DIGITS[int(ch)]) for ch in str(year)), Clip("unit-year", "年")]


_UNIT_CLIPS = {"十": "unit-ten", "百": "unit-hundred", "千": "unit-thousand", "万": "unit-wan"}


def _char_clip(ch: str) -> Clip:
    if ch in _UNIT_CLIPS:
        return Clip(_UNIT_CLIPS[ch], ch)
    return Clip(f"digit-{_DIGITS.index(ch)}", ch)


def all_clips(catalogue: Catalogue) -> list[Clip]:
    """Every clip the kiosk can play: each fixed prompt or its segments, hints, reasons, next steps,
    and the word clips for dates and counts. Sorted by id; ids are unique."""
    clips: dict[str, Clip] = {}
    for prompt in catalogue.keys("prompt"):
        clips.update((part.clip_id, part) for part in _prompt_parts(catalogue, prompt) if isinstance(part, Clip))
    for section, prefix in (("hint", "hint"), ("reason", "reason"), ("next_step", "next")):
        for key in catalogue.keys(section):
            clips[f"{prefix}-{key}"] = Clip(f"{prefix}-{key}", catalogue.raw(section, key))
    words = [Clip(f"year-{y}", year_words(y)) for y in YEAR_CLIPS]
    words += [Clip(f"month-{m}", f"{chinese_number(m)}月") for m in range(1, 13)]
    words += [Clip(f"day-{d}", f"{chinese_number(d)}日") for d in range(1, 32)]
    words += [Clip(f"num-{n}", chinese_number(n)) for n in NUMBER_CLIPS]
    words += [Clip(f"digit-{d}", _DIGITS[d]) for d in range(10)] + [Clip("unit-year", "年")]
    words += [Clip(clip_id, ch) for ch, clip_id in _UNIT_CLIPS.items()]
    for clip in words:
        clips[clip.clip_id] = clip
    for clip_id in clips:
        if not _CLIP_ID.match(clip_id):
            raise CatalogueError(f"catalogue key makes an unusable clip name: {clip_id!r}")
    return sorted(clips.values(), key=lambda clip: clip.clip_id)


# --- rendering with espeak-ng -----------------------------------------------------------------------


@dataclass(frozen=True)
class EspeakEngine:
    """espeak-ng with the pinyin Mandarin voice (the plain ``cmn`` voice spells many characters).

    ``speed_wpm`` is slower than espeak's 175 default for elderly listeners; SSML ``prosody range``
    x-high makes the tones audible (platform.md).
    """

    executable: str = "espeak-ng"
    voice: str = "cmn-latn-pinyin"
    speed_wpm: int = 145
    pitch_range: str = "x-high"

    def signature(self) -> str:
        """What, besides the text, changes the sound (part of each clip's hash)."""
        return f"{self.voice}|{self.speed_wpm}|{self.pitch_range}"

    def render(self, text: str, path: Path) -> None:
        """Writes ``text`` spoken to the WAV file ``path``. Raises :class:`VoiceRenderError`."""
        exe = shutil.which(self.executable)
        if exe is None:
            raise VoiceRenderError(f"{self.executable} not found (Debian package espeak-ng)")
        ssml = f'<speak><prosody range="{self.pitch_range}">{_xml_escape(text)}</prosody></speak>'
        command = [exe, "-v", self.voice, "-s", str(self.speed_wpm), "-m", "-w", str(path), ssml]
        try:
            result = subprocess.run(command, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            raise VoiceRenderError(f"{self.executable} took over 30 s for clip {path.stem}") from None
        if result.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
            detail = result.stderr.decode("utf-8", "replace").strip()[:200]
            raise VoiceRenderError(f"{self.executable} failed for clip {path.stem} (status {result.returncode}): {detail}")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class RenderReport:
    """What :func:`render_clips` did (clip ids)."""

    rendered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


MANIFEST = "manifest.json"


def render_clips(clips: Iterable[Clip], out_dir: Path, engine: Any = None, *, force: bool = False) -> RenderReport:
    """Renders ``clips`` to ``out_dir/<clip_id>.wav``; clips whose text and engine settings did not
    change since the last run (``manifest.json``) are skipped, and stale rendered clips removed.

    Each clip is written to a temporary name and renamed, and the manifest is saved after every
    clip, so an interruption loses nothing already rendered. Raises :class:`VoiceRenderError`.
    """
    engine = engine or EspeakEngine()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = {}
    report = RenderReport()
    wanted = {clip.clip_id: clip for clip in clips}
    for clip_id, clip in sorted(wanted.items()):
        digest = hashlib.sha256(f"{engine.signature()}\n{clip.text}".encode()).hexdigest()
        target = out_dir / f"{clip_id}.wav"
        if not force and manifest.get(clip_id) == digest and target.is_file():
            report.unchanged.append(clip_id)
            continue
        partial = out_dir / f"{clip_id}.partial.wav"
        engine.render(clip.text, partial)
        os.replace(partial, target)
        manifest[clip_id] = digest
        _save_manifest(manifest_path, manifest)
        report.rendered.append(clip_id)
    for clip_id in sorted(set(manifest) - set(wanted)):
        (out_dir / f"{clip_id}.wav").unlink(missing_ok=True)
        del manifest[clip_id]
        report.removed.append(clip_id)
    _save_manifest(manifest_path, manifest)
    log.info("voice clips: %d rendered, %d unchanged, %d removed", len(report.rendered), len(report.unchanged), len(report.removed))
    return report


def _save_manifest(path: Path, manifest: Mapping[str, str]) -> None:
    tmp = path.with_suffix(".json.new")
    tmp.write_text(json.dumps(dict(sorted(manifest.items())), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def rendered_voice_dir(data_dir: Path) -> Path:
    """Where ``kiosk voice render`` writes clips: ``<data_dir>/voice``."""
    return data_dir / "voice"


def recorded_voice_dir(voice_dir: str) -> Path | None:
    """Where recorded clips live: ``ui.voice_dir`` with ``~`` expanded, or None when it is unset."""
    return Path(voice_dir).expanduser() if voice_dir else None


def clip_path(clip_id: str, rendered_dir: Path, recorded_dir: Path | None) -> Path | None:
    """The WAV file to play for ``clip_id``: a recorded clip in ``recorded_dir`` wins over the
    rendered one; None when neither exists."""
    for folder in (recorded_dir, rendered_dir):
        if folder is not None:
            candidate = folder / f"{clip_id}.wav"
            if candidate.is_file():
                return candidate
    return None
