"""Doctor checks of the voice: sound outputs are found where Qt looks, missing clips are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import KioskConfig
from kiosk.doctor import Status
from ui.doctor_audio import check_voice_clips, sound_outputs
from kiosk.paths import rendered_voice_dir
from ui.catalogue import Catalogue
from ui.voice_clips import all_clips


def test_outputs_found_in_a_runtime_dir_and_alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    runtime = tmp_path / "run"
    (runtime / "pulse").mkdir(parents=True)
    snd = tmp_path / "snd"
    snd.mkdir()
    assert sound_outputs(str(runtime), snd) == []
    (runtime / "pulse" / "native").touch()
    (snd / "pcmC0D0p").touch()
    (snd / "pcmC0D0c").touch()  # a capture device is no output
    assert sound_outputs(str(runtime), snd) == ["pulse", "pcmC0D0p"]


def test_voice_clips_missing_then_present(config: KioskConfig) -> None:
    result = check_voice_clips(config)
    assert result.status is Status.FAILED and "kiosk voice render" in result.hint
    folder = rendered_voice_dir(config.terminal.resolved_data_dir())
    folder.mkdir(parents=True)
    clips = all_clips(Catalogue.load())
    for clip in clips[1:]:
        (folder / f"{clip.clip_id}.wav").write_bytes(b"RIFF")
    result = check_voice_clips(config)
    assert result.status is Status.WARNING and clips[0].clip_id in result.detail
    (folder / f"{clips[0].clip_id}.wav").write_bytes(b"RIFF")
    assert check_voice_clips(config).status is Status.OK
