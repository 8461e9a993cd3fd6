"""Configuration sections owned by ``camera`` (validated by the kiosk; usable on their own).

Units are in the key names: ``_s`` seconds, ``_px`` pixels, ``_deg`` degrees, ``_ratio`` a plain
fraction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True)

Action = Literal["blink", "mouth_open", "turn_left", "turn_right"]


class CameraSettings(BaseModel):
    """The frame source and its capture thread."""

    model_config = _STRICT
    url: str = Field(min_length=1)
    width_px: int = Field(ge=160, le=4096)
    height_px: int = Field(ge=120, le=4096)
    fps: float = Field(gt=0, le=120)
    # What the camera sends: YUYV (uncompressed; turning it into BGR costs 0.14 ms a 640x480 frame),
    # MJPG (JPEG per frame, ~1.6 ms to decode; for cameras that reach 30 fps only compressed), or
    # auto (the driver's and OpenCV's choice).
    pixel_format: Literal["YUYV", "MJPG", "auto"]
    # No frame for this long from a device counts as unplugged: the capture thread reopens it.
    frame_timeout_s: float = Field(gt=0, le=60)
    # Reopen attempts back off exponentially up to this interval.
    reconnect_max_backoff_s: float = Field(gt=0, le=300)


class QualitySettings(BaseModel):
    """Quality gates a face must pass before (and while) the challenge runs."""

    model_config = _STRICT
    min_face_width_ratio: float = Field(gt=0, lt=1)
    max_face_width_ratio: float = Field(gt=0, le=1)
    max_centre_offset_ratio: float = Field(gt=0, le=1)
    max_yaw_deg: float = Field(gt=0, le=90)
    max_pitch_deg: float = Field(gt=0, le=90)
    max_roll_deg: float = Field(gt=0, le=90)
    min_brightness: float = Field(ge=0, le=255)
    max_brightness: float = Field(ge=0, le=255)
    max_backlight_ratio: float = Field(gt=1, le=20)
    min_sharpness: float = Field(ge=0)
    min_eye_ratio: float = Field(ge=0, le=1)
    hold_s: float = Field(ge=0, le=10)


class LivenessSettings(BaseModel):
    """The randomised action challenge and the event detectors behind it."""

    model_config = _STRICT
    actions: list[Action] = Field(min_length=1)
    min_actions_per_session: int = Field(ge=1, le=4)
    actions_per_session: int = Field(ge=1, le=4)
    action_timeout_s: float = Field(gt=0, le=120)
    baseline_s: float = Field(gt=0, le=10)
    baseline_window_s: float = Field(gt=0, le=30)
    blink_close_fraction: float = Field(gt=0, lt=1)
    blink_open_fraction: float = Field(gt=0, le=1)
    blink_min_s: float = Field(ge=0, le=2)
    blink_max_s: float = Field(gt=0, le=5)
    mouth_open_min_ratio: float = Field(gt=0, le=2)
    mouth_open_min_rise_ratio: float = Field(gt=0, le=2)
    mouth_close_ratio: float = Field(ge=0, le=2)
    mouth_open_min_s: float = Field(ge=0, le=5)
    turn_min_deg: float = Field(gt=0, le=90)
    turn_min_s: float = Field(ge=0, le=5)
    face_lost_grace_s: float = Field(ge=0, le=30)
    max_reprompts: int = Field(ge=0, le=10)
    max_jump_face_widths: float = Field(gt=0, le=10)
    max_shape_change_ratio: float = Field(gt=0, le=1)
    best_frames: int = Field(ge=1, le=30)

    @model_validator(mode="after")
    def _counts_fit(self) -> LivenessSettings:
        distinct = len(set(self.actions))
        if self.min_actions_per_session > self.actions_per_session:
            raise ValueError("min_actions_per_session must not exceed actions_per_session")
        if self.actions_per_session > distinct:
            raise ValueError(f"actions_per_session ({self.actions_per_session}) exceeds the {distinct} distinct actions")
        if self.blink_open_fraction <= self.blink_close_fraction:
            raise ValueError("blink_open_fraction must be above blink_close_fraction (hysteresis)")
        if self.mouth_close_ratio >= self.mouth_open_min_ratio:
            raise ValueError("mouth_close_ratio must be below mouth_open_min_ratio (hysteresis)")
        if self.blink_min_s >= self.blink_max_s:
            raise ValueError("blink_min_s must be below blink_max_s")
        return self


class AntispoofSettings(BaseModel):
    """Passive presentation-attack checks (see camera/antispoof)."""

    model_config = _STRICT
    enabled: bool
    max_attack_score: float = Field(ge=0, le=1)
    every_n_frames: int = Field(ge=1, le=30)
    bezel_weight: float = Field(ge=0, le=1)
    motion_weight: float = Field(ge=0, le=1)
    glare_weight: float = Field(ge=0, le=1)
    moire_weight: float = Field(ge=0, le=1)


class MatchSettings(BaseModel):
    """1:1 face verification (see ``docs/matching.md`` for where each number comes from).

    The defaults in ``config/kiosk.toml`` were calibrated by ``scripts/calibrate_matching.py``.
    """

    model_config = _STRICT
    # Which descriptor decides: "sface" (OpenCV Zoo's SFace + YuNet; dlib is the fallback when its
    # files are missing or corrupt) or "dlib" (the dlib ResNet alone).
    model: Literal["sface", "dlib"]
    max_distance: float = Field(gt=0, lt=2)
    sface_max_distance: float = Field(gt=0, lt=2)
    model_dir: str
    refresh_reference_on_success: bool
    # Live references (kiosk/live_references.py): earned when the official reference matched at
    # most refresh_keep_ratio x the cut and the attack score is at most refresh_max_attack_score;
    # at most refresh_max_live per person, each counted for refresh_max_age_days.
    refresh_keep_ratio: float = Field(default=0.8, gt=0, le=1)
    refresh_max_attack_score: float = Field(default=0.25, ge=0, le=1)
    refresh_max_live: int = Field(default=2, ge=1, le=4)
    refresh_max_age_days: int = Field(default=730, ge=1, le=3650)
    detect_long_side_px: int = Field(ge=160, le=2000)
    min_face_px: int = Field(ge=20, le=2000)
    min_sharpness: float = Field(ge=0)
    max_yaw_ratio: float = Field(gt=0, le=1)
    min_visible_ratio: float = Field(ge=0, le=1)
    min_chin_margin: float = Field(ge=0, le=2)
    reference_min_sharpness: float = Field(ge=0)
    reference_min_visible_ratio: float = Field(ge=0, le=1)
    reference_max_yaw_ratio: float = Field(gt=0, le=1)
    live_jitters: int = Field(ge=0, le=100)
    reference_jitters: int = Field(ge=0, le=100)
    max_live_frames: int = Field(ge=1, le=30)
