"""Errors and reason codes of the camera package.

Every reason code is flat snake_case and unique across the project, so that ``ui/`` can map each
one to a message in its catalogue. ``camera`` knows nothing of the kiosk: the kiosk wraps
:class:`CameraError` at its boundary (``kiosk.errors.from_device_error``).
"""

from __future__ import annotations

from enum import StrEnum


class CameraReason(StrEnum):
    """Every reason code the camera package produces (quality hints, outcomes, device errors)."""

    # Quality gates (hints while positioning and during the challenge).
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_TOO_CLOSE = "face_too_close"
    OFF_CENTRE = "off_centre"
    TURNED_AWAY = "turned_away"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BACKLIT = "backlit"
    BLURRED = "blurred"
    EYES_NOT_VISIBLE = "eyes_not_visible"
    # Outcomes of a liveness session.
    LIVENESS_PASSED = "liveness_passed"
    ACTION_TIMEOUT = "action_timeout"
    FACE_CHANGED = "face_changed"
    FACE_LOST = "face_lost"
    POSITIONING_TIMEOUT = "positioning_timeout"
    SPOOF_DETECTED = "spoof_detected"
    CLIP_ENDED = "clip_ended"
    # Device and model errors.
    CAMERA_UNAVAILABLE = "camera_unavailable"
    CAMERA_URL_INVALID = "camera_url_invalid"
    CAMERA_SOURCE_EMPTY = "camera_source_empty"
    LANDMARK_MODEL_UNAVAILABLE = "landmark_model_unavailable"


class CameraError(Exception):
    """A camera-package failure with a stable reason ``code`` (a :class:`CameraReason` value).

    The message is for technicians and logs; it never contains personal data (no images, no
    paths of a person's photo beyond the configured source URL).
    """

    def __init__(self, code: CameraReason, message: str = "") -> None:
        super().__init__(message or code.value)
        self.code: CameraReason = code

    @property
    def message(self) -> str:
        """The technician-facing sentence."""
        return str(self.args[0])
