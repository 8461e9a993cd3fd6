"""The voice's languages: Mandarin (``cmn``, the default) and Cantonese (``yue``).

Each language has its own folder of clips with the same clip ids: rendered ones under
``<data_dir>/voice`` (Mandarin) and ``<data_dir>/voice/yue``, recorded ones under ``ui.voice_dir``
and ``ui.voice_dir/yue``, so a site can drop in recorded Cantonese clips by name. The text on
screen stays written Chinese; only what is heard changes. A terminal's language is
``ui.voice_language``; a person switches for their own visit with one button (idle and status
screens).

Cantonese is rendered by espeak-ng's ``yue`` voice (it reads characters as Jyutping). The clip texts
are adapted where Cantonese says it differently: the day of a date is 號 (二十號, not 二十日), and a
telephone digit 1 is 一 (the Mandarin 幺 is not Cantonese). Pure except :func:`render_language`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ui.voice_clips import Clip

LANGUAGES = ("cmn", "yue")
DEFAULT_LANGUAGE = "cmn"
ESPEAK_VOICES = {"cmn": "cmn-latn-pinyin", "yue": "yue"}


def other_language(language: str) -> str:
    """The language the switch button offers when ``language`` is spoken."""
    return "yue" if language == "cmn" else "cmn"


def clip_dir(base: Path, language: str) -> Path:
    """A language's folder under a voice folder (Mandarin is the folder itself)."""
    return base if language == DEFAULT_LANGUAGE else base / language


def spoken_in(clip: Clip, language: str) -> Clip:
    """``clip`` with its text as said in ``language`` (same id)."""
    if language != "yue":
        return clip
    text = clip.text.replace("幺", "一")
    if clip.clip_id.startswith("day-") and text.endswith("日"):
        text = text[:-1] + "號"
    return Clip(clip.clip_id, text)


def clips_in(clips: Iterable[Clip], language: str) -> list[Clip]:
    """Every clip of ``clips`` as said in ``language``."""
    return [spoken_in(clip, language) for clip in clips]


def render_language(clips: Iterable[Clip], voice_dir: Path, language: str, *, force: bool = False,
                    speed_wpm: int = 145):  # noqa: ANN201 - ui.voice_render.RenderReport
    """Renders ``clips`` in ``language`` into its folder under ``voice_dir`` (see
    :func:`ui.voice_render.render_clips`; raises :class:`~ui.voice_render.VoiceRenderError`)."""
    from ui.voice_render import EspeakEngine, render_clips

    engine = EspeakEngine(voice=ESPEAK_VOICES[language], speed_wpm=speed_wpm)
    return render_clips(clips_in(clips, language), clip_dir(voice_dir, language), engine, force=force)
