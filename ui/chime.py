"""The staff-call chime: a two-tone "ding-dong" WAV written at render time, not a recording in the
repository and not a download. It precedes the spoken alert while a staff call could not reach the
hall console (``staff_call_local``), repeated by the flow every ``session.staff_alert_repeat_s``.

Pure numpy + :mod:`wave`; thread-safe (writes only its own file).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

CHIME_CLIP_ID = "chime"
CHIME_TEXT = "<tone:chime>"
"""The text of the chime's clip: not speech; :func:`ui.voice_render.render_clips` writes the tone."""

SAMPLE_RATE_HZ = 16_000
NOTES = ((880.0, 0.35), (660.0, 0.55))  # (frequency in Hz, seconds): ding, dong
LEVEL = 0.45  # of full scale: clearly audible over a hall, well short of clipping


def chime_samples() -> np.ndarray:
    """The chime as 16-bit PCM samples (mono, :data:`SAMPLE_RATE_HZ`), each note fading out."""
    parts = []
    for frequency, seconds in NOTES:
        t = np.arange(int(SAMPLE_RATE_HZ * seconds)) / SAMPLE_RATE_HZ
        envelope = np.exp(-t * 4.0) * np.minimum(1.0, t / 0.01)  # 10 ms attack: no click
        tone = np.sin(2 * np.pi * frequency * t) + 0.3 * np.sin(2 * np.pi * 2 * frequency * t)
        parts.append(LEVEL * envelope * tone / 1.3)
    return (np.concatenate(parts) * 32767).astype("<i2")


def write_chime(path: Path) -> None:
    """Writes the chime WAV to ``path``. Raises OSError."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(chime_samples().tobytes())
