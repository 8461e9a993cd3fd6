"""Configuration sections owned by ``camera`` (validated by the kiosk; usable on their own).

Units are in the key names: ``_s`` seconds, ``_px`` pixels, ``_deg`` degrees, ``_ratio`` a plain
fraction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", frozen=True)

Action = Literal["blink", "mouth_open", "turn_left", "turn_right"]


class CameraSettings(BaseModel):
    """The frame source."""

    model_config = _STRICT
    url: str = Field(min_length=1)
    width_px: int = Field(ge=160, le=4096)
    height_px: int = Field(ge=120, le=4096)
    fps: float = Field(gt=0, le=120)


class QualitySettings(BaseModel):
    """Quality gates a face must pass before the challenge starts."""

    model_config = _STRICT
    min_face_width_ratio: float = Field(gt=0, lt=1)
    max_face_width_ratio: float = Field(gt=0, le=1)
    max_centre_offset_ratio: float = Field(gt=0, le=1)
    max_yaw_deg: float = Field(gt=0, le=90)
    max_pitch_deg: float = Field(gt=0, le=90)
    min_brightness: float = Field(ge=0, le=255)
    max_brightness: float = Field(ge=0, le=255)
    min_sharpness: float = Field(ge=0)


class LivenessSettings(BaseModel):
    """The randomised action challenge."""

    model_config = _STRICT
    actions: list[Action] = Field(min_length=1)
    actions_per_session: int = Field(ge=1, le=4)
    action_timeout_s: float = Field(gt=0, le=120)
    baseline_s: float = Field(gt=0, le=10)


class AntispoofSettings(BaseModel):
    """Passive presentation-attack checks."""

    model_config = _STRICT
    enabled: bool
    max_attack_score: float = Field(ge=0, le=1)


class MatchSettings(BaseModel):
    """1:1 face verification (see ``docs/matching.md`` for where each number comes from).

    The defaults in ``config/kiosk.toml`` were calibrated by ``scripts/calibrate_matching.py``.
    """

    model_config = _STRICT
    max_distance: float = Field(gt=0, lt=2)
    model_dir: str
    refresh_reference_on_success: bool
    detect_long_side_px: int = Field(ge=160, le=2000)
    min_face_px: int = Field(ge=20, le=2000)
    min_sharpness: float = Field(ge=0)
    max_yaw_ratio: float = Field(gt=0, le=1)
    min_visible_ratio: float = Field(ge=0, le=1)
    live_jitters: int = Field(ge=0, le=100)
    reference_jitters: int = Field(ge=0, le=100)
    max_live_frames: int = Field(ge=1, le=30)
