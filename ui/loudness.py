"""One loudness for every voice clip: espeak-ng's clips differ by several dB, and a sentence built
from word clips (a date: 二零二七年 / 五月 / 二十日) rose and fell by ±5 dB within it.

The level of a clip is the RMS of its speech (the 20 ms frames within 35 dB of its loudest frame,
so the silence around words does not count), in dB relative to full scale. :func:`normalise_wav`
scales a 16-bit PCM WAV to :data:`TARGET_SPEECH_DBFS`, never above :data:`PEAK_LIMIT_DBFS`. Plain
numpy, no external tool. Pure functions and file rewrites; any thread.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

TARGET_SPEECH_DBFS = -20.0
"""The speech level every rendered clip is brought to (dBFS)."""

PEAK_LIMIT_DBFS = -1.0
"""No sample louder than this after scaling (dBFS): no clipping on the terminal's speaker."""

_FRAME_S = 0.02
_SPEECH_WITHIN_DB = 35.0


def read_pcm16(path: Path) -> tuple[np.ndarray, int, int]:
    """(samples as float64 in -1..1, shape (n, channels)), frame rate, channels of a 16-bit WAV.
    Raises ValueError for another sample width."""
    with wave.open(str(path), "rb") as clip:
        if clip.getsampwidth() != 2:
            raise ValueError(f"{path.name}: only 16-bit PCM clips are normalised")
        channels, rate = clip.getnchannels(), clip.getframerate()
        data = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
    return data.reshape(-1, channels).astype(np.float64) / 32768.0, rate, channels


def speech_level_db(samples: np.ndarray, rate: int) -> float | None:
    """The RMS level of the speech in ``samples`` (dBFS), None for silence."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    size = max(1, int(rate * _FRAME_S))
    frames = mono[: len(mono) // size * size].reshape(-1, size)
    if not len(frames):
        return None
    power = (frames ** 2).mean(axis=1)
    if power.max() <= 1e-12:
        return None
    speech = power[power >= power.max() * 10 ** (-_SPEECH_WITHIN_DB / 10)]
    return float(10 * np.log10(speech.mean()))


def normalise_wav(path: Path, target_dbfs: float = TARGET_SPEECH_DBFS) -> tuple[float | None, float]:
    """Rewrites ``path`` (16-bit PCM WAV) at ``target_dbfs`` speech level, peaks at most
    :data:`PEAK_LIMIT_DBFS`; returns (level before, gain applied) in dB. Silence is left alone."""
    samples, rate, channels = read_pcm16(path)
    level = speech_level_db(samples, rate)
    if level is None:
        return None, 0.0
    gain_db = target_dbfs - level
    peak = float(np.abs(samples).max())
    gain_db = min(gain_db, PEAK_LIMIT_DBFS - 20 * np.log10(peak))
    scaled = np.clip(np.round(samples * 10 ** (gain_db / 20) * 32768.0), -32768, 32767).astype("<i2")
    tmp = path.with_name(path.name + ".norm")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(scaled.tobytes())
    os.replace(tmp, path)
    return level, gain_db
