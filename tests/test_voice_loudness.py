"""Every rendered clip at one speech level (a date composed of word clips must not rise and fall)."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from ui.loudness import PEAK_LIMIT_DBFS, TARGET_SPEECH_DBFS, normalise_wav, read_pcm16, speech_level_db


def write_tone(path: Path, amplitude: float, rate: int = 22050) -> None:
    t = np.arange(int(rate * 0.6)) / rate
    signal = np.concatenate([np.zeros(rate // 5), amplitude * np.sin(2 * np.pi * 220 * t), np.zeros(rate // 5)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(signal * 32767).astype("<i2").tobytes())


def test_quiet_and_loud_clips_end_at_the_same_speech_level(tmp_path: Path) -> None:
    levels = []
    for name, amplitude in (("quiet", 0.02), ("loud", 0.5)):
        path = tmp_path / f"{name}.wav"
        write_tone(path, amplitude)
        before, gain = normalise_wav(path)
        samples, rate, _ = read_pcm16(path)
        levels.append(speech_level_db(samples, rate))
        assert before is not None and abs(gain) > 1.0
    assert levels[0] == pytest.approx(TARGET_SPEECH_DBFS, abs=0.2) and levels[1] == pytest.approx(levels[0], abs=0.2)


def test_a_clip_is_never_driven_into_clipping(tmp_path: Path) -> None:
    path = tmp_path / "spiky.wav"
    rate = 22050
    signal = np.zeros(rate)
    signal[1000] = 0.9  # one click in near silence: raising its level to the target would clip it
    signal[2000:2200] = 0.001
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(np.round(signal * 32767).astype("<i2").tobytes())
    normalise_wav(path)
    samples, _, _ = read_pcm16(path)
    assert 20 * np.log10(np.abs(samples).max()) <= PEAK_LIMIT_DBFS + 0.01


def test_rendered_word_clips_share_one_level(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    from ui.voice_clips import Clip
    from ui.voice_render import render_clips

    clips = [Clip("year-2027", "二零二七年"), Clip("month-5", "五月"), Clip("day-20", "二十日"),
             Clip("prompt-x", "认证成功。您的认证有效期到")]
    render_clips(clips, tmp_path)
    levels = [speech_level_db(*read_pcm16(tmp_path / f"{c.clip_id}.wav")[:2]) for c in clips]
    assert max(levels) - min(levels) < 0.5, levels
