"""Doctor checks of the voice: a sound output the kiosk can play to, and a clip for every prompt.

It lives in ``ui/`` because it needs the message catalogue, and imports no Qt (``kiosk doctor`` runs it
without a window): the output is looked for where QtMultimedia would find it, a PulseAudio /
PipeWire server socket or an ALSA playback device. Voice is how many elderly
people follow the screen, so a missing output is a failure, not a warning.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status
from kiosk.paths import recorded_voice_dir, rendered_voice_dir
from ui.catalogue import Catalogue
from ui.voice_clips import all_clips, clip_path


def sound_outputs(runtime_dir: str | None = None, snd_dir: Path = Path("/dev/snd")) -> list[str]:
    """The sound outputs found: a PulseAudio / PipeWire socket and ALSA playback devices."""
    found: list[str] = []
    runtime = runtime_dir if runtime_dir is not None else os.environ.get("XDG_RUNTIME_DIR", "")
    server = os.environ.get("PULSE_SERVER")
    if server:
        found.append(f"pulse server {server}")
    for name in ("pulse/native", "pipewire-0"):
        if runtime and (Path(runtime) / name).exists():
            found.append(name.split("/")[0])
    if snd_dir.is_dir():
        found += sorted(p.name for p in snd_dir.glob("pcmC*D*p"))
    return found


def check_audio_output(_config: KioskConfig) -> CheckResult:
    """Is there anything to play the voice to?"""
    outputs = sound_outputs()
    if not outputs:
        return CheckResult(Status.FAILED, "no sound server and no ALSA playback device",
                           "connect the speakers, check `aplay -l`, and that the kiosk user is in the audio group")
    return CheckResult(Status.OK, ", ".join(outputs[:4]))


def check_voice_clips(config: KioskConfig) -> CheckResult:
    """Has every prompt a clip (recorded in ``ui.voice_dir`` or rendered at set-up)?"""
    catalogue = Catalogue.load()
    rendered = rendered_voice_dir(config.terminal.resolved_data_dir())
    recorded = recorded_voice_dir(config.ui.voice_dir)
    clips = all_clips(catalogue)
    missing = [clip.clip_id for clip in clips if clip_path(clip.clip_id, rendered, recorded) is None]
    if not missing:
        return CheckResult(Status.OK, f"{len(clips)} clips" + (f" (recorded ones from {recorded})" if recorded else ""))
    hint = "run `kiosk voice render`" if shutil.which("espeak-ng") else "install espeak-ng, then run `kiosk voice render`"
    if len(missing) == len(clips):
        return CheckResult(Status.FAILED, f"no voice clips in {rendered}", hint)
    return CheckResult(Status.WARNING, f"{len(missing)} of {len(clips)} clips missing, e.g. {missing[0]}", hint)


CHECKS = [
    Check("audio output", check_audio_output, required=True, order=70),
    Check("voice clips", check_voice_clips, required=True, order=71),
]
