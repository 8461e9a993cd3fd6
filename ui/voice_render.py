"""Rendering the voice clips offline with espeak-ng (``kiosk voice render``, run at set-up).

Clips whose text and engine settings did not change are skipped (a hash per clip in
``manifest.json``); recorded WAVs dropped into ``ui.voice_dir`` replace rendered ones by name.
Thread rule: file-bound; call from one thread at a time per output folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import wave
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from ui.chime import CHIME_TEXT, write_chime
from ui.loudness import TARGET_SPEECH_DBFS, normalise_wav
from ui.voice_clips import Clip

log = logging.getLogger(__name__)


class VoiceRenderError(KioskError):
    """espeak-ng is missing or failed to render a clip; ``message`` says which clip and why."""

    code = "voice_render_failed"


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
        return f"{self.voice}|{self.speed_wpm}|{self.pitch_range}|speech {TARGET_SPEECH_DBFS:g} dBFS"

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
        # One loudness for all clips, so that a sentence composed of word clips does not rise and fall.
        try:
            normalise_wav(path)
        except (ValueError, OSError, EOFError, wave.Error) as exc:
            raise VoiceRenderError(f"clip {path.stem} could not be normalised: {exc}") from None


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
        if clip.text == CHIME_TEXT:
            write_chime(partial)  # a tone, not speech
        else:
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
