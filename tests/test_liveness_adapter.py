"""The liveness adapter on real clips: the flow events a genuine clip and an attack produce."""

from __future__ import annotations

import queue
import random
from pathlib import Path


from kiosk.config import KioskConfig
from kiosk.devices.liveness_adapter import CameraConfig, LivenessAdapter
from kiosk.flow import ActionCompleted, ActionPrompted, DeviceFailed, FacePositioned, LivenessFailed, LivenessPassed


def camera_config(config: KioskConfig, url: str) -> CameraConfig:
    return CameraConfig(url, config.camera, config.quality, config.liveness, config.antispoof)


def run_attempt(adapter: LivenessAdapter, timeout: float = 60.0) -> tuple[list, list]:
    events: queue.Queue = queue.Queue()
    previews: list = []
    adapter.start(1, events.put, previews.append)
    got: list = []
    while True:
        event = events.get(timeout=timeout)
        got.append(event)
        if isinstance(event, (LivenessPassed, LivenessFailed, DeviceFailed)):
            break
    adapter.stop()
    return got, previews


def test_a_genuine_clip_passes_with_prompts_before_its_actions(config: KioskConfig, media_dir: Path) -> None:
    clip = media_dir / "videos" / "blink_mouth_plain_bg.mp4"
    adapter = LivenessAdapter(camera_config(config, f"file:{clip}"), rng=random.Random(1),
                              prompts=[("mouth_open", 1.8), ("blink", 2.9)], realtime=False)
    events, previews = run_attempt(adapter)
    assert isinstance(events[-1], LivenessPassed), events
    assert FacePositioned() in events
    assert [e.action for e in events if isinstance(e, ActionPrompted)] == ["mouth_open", "blink"]
    assert {e.action for e in events if isinstance(e, ActionCompleted)} == {"mouth_open", "blink"}
    assert adapter.best_frames(), "a passed challenge keeps frames for matching"
    assert previews and previews[-1].face_box is not None and previews[-1].eye_ratio is not None
    x, y, w, h = previews[-1].face_box
    height, width = previews[-1].image.shape[:2]
    assert 0 <= x and 0 <= y and 40 < w and 40 < h and x + w <= width + 2 and y + h <= height + 2
    adapter.wipe()
    assert adapter.best_frames() == [] and adapter.scores().attack_score is None


def test_a_phone_replay_fails(config: KioskConfig, media_dir: Path) -> None:
    """Refused for what it is, not for any failure (a missed blink, the clip ending): the phone cycles
    through photos, so the challenge sees the face change, and the passive checks call it an attack
    too (without the face change the verdict would be spoof_detected)."""
    clip = media_dir / "spoof" / "phone_replay_b_attack.mp4"
    adapter = LivenessAdapter(camera_config(config, f"file:{clip}"), rng=random.Random(1),
                              prompts=[("blink", 0.5)], realtime=False)
    events, _ = run_attempt(adapter)
    assert events[-1] == LivenessFailed("face_changed"), events
    attack_score = adapter.scores().attack_score
    assert attack_score is not None and attack_score > config.antispoof.max_attack_score
    assert adapter.best_frames() == [], "a refused attempt keeps no frames for matching"


def test_a_missing_camera_is_a_device_failure(config: KioskConfig, tmp_path: Path) -> None:
    adapter = LivenessAdapter(camera_config(config, f"file:{tmp_path / 'none.mp4'}"), realtime=False)
    events, _ = run_attempt(adapter, timeout=10)
    assert events == [DeviceFailed("camera_unavailable")]
