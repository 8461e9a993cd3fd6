"""Quality gates: which captures are good enough to compare, with different rules per side.

Pure functions of :class:`~camera.matching.encoding.FaceQuality` and ``[match]`` settings, so the
rules are tested without a model.

- **Live frames** (:func:`live_issues`): strict. A live frame that fails is never a failure by
  itself: the matcher skips it and uses the other frames of the challenge (which sees hundreds);
  only when no frame of the attempt passes is the attempt ``no_usable_face``.
- **Reference photos** (:func:`reference_issues`): an ID-style photo is taken once, by someone else,
  and is tightly cropped: chin or hair touching the border is normal there and must not refuse a
  usable reference, so the cut-off rule is looser (``reference_min_visible_ratio``) and so is the blur
  rule (``reference_min_sharpness``: a scanned or downscaled card photo is soft but still usable)
  and so is the head-turn rule (``reference_max_yaw_ratio``: the photo cannot be retaken at the
  terminal, and SFace's held-out FRR was no higher without any pose gate). Size is judged as on
  the live side.

A live frame must also show the face down to the chin (``min_chin_margin``, SFace's points): YuNet's
box ends at the image border, so the box rule alone passes a frame cut at the lips, and SFace then
reads a face that is not there. A reference photo is not held to it (ID-style crops cut the chin).

Gate names (``size``, ``blur``, ``pose``, ``cut_off``, ``chin``) are what ``MatchError.detail`` carries to a
technician: they say why a photo was refused, never anything about the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from camera.settings import MatchSettings

if TYPE_CHECKING:  # the encoders call these gates: importing encoding here at run time would be circular
    from camera.matching.encoding import FaceQuality


@dataclass(frozen=True)
class Limits:
    """The gate limits of one side (live frame or reference photo), read from ``[match]``."""

    min_face_px: int  # pixels
    min_sharpness: float  # Laplacian variance, grey levels squared
    max_yaw_ratio: float  # head-turn ratio
    min_visible_ratio: float  # share of the face inside the image
    min_chin_margin: float | None  # eye-to-mouth distances below the mouth; None: not applied (references)


def limits(settings: MatchSettings, *, reference: bool) -> Limits:
    """The limits a reference photo (``reference``) or a live frame is held to."""
    if reference:
        return Limits(settings.min_face_px, settings.reference_min_sharpness, settings.reference_max_yaw_ratio,
                      settings.reference_min_visible_ratio, None)
    return Limits(settings.min_face_px, settings.min_sharpness, settings.max_yaw_ratio, settings.min_visible_ratio,
                  settings.min_chin_margin)


def live_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a live frame fails (empty = usable): size, blur, pose, cut_off, chin."""
    return issues(quality, settings, reference=False)


def reference_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a reference photo fails (empty = usable), with the looser reference rules."""
    return issues(quality, settings, reference=True)


def issues(quality: FaceQuality, settings: MatchSettings, *, reference: bool) -> tuple[str, ...]:
    """Names of the gates ``quality`` fails on its side (empty = usable), in a fixed order."""
    rule = limits(settings, reference=reference)
    failed = {
        "size": quality.face_width_px < rule.min_face_px,
        "blur": quality.sharpness < rule.min_sharpness,
        "pose": quality.yaw_ratio > rule.max_yaw_ratio,
        "cut_off": quality.visible_ratio < rule.min_visible_ratio,
        # NaN (the dlib path: no mouth point) compares False: the rule is not applied there.
        "chin": rule.min_chin_margin is not None and quality.chin_margin < rule.min_chin_margin,
    }
    return tuple(name for name, fails in failed.items() if fails)


def explain(quality: FaceQuality, settings: MatchSettings, *, reference: bool) -> str:
    """A technician's sentence naming each failed gate with the measured value and the limit, e.g.
    ``reference photo fails blur (sharpness 6.1 < 10.0)``; "" when every gate passes. Holds no
    personal data (measures of image quality only)."""
    failed = issues(quality, settings, reference=reference)
    if not failed:
        return ""
    rule = limits(settings, reference=reference)
    # Formatted only for the gates that failed: a reference photo has no chin limit to print.
    words = {
        "size": lambda: f"size (face {quality.face_width_px:.0f} px wide < {rule.min_face_px} px)",
        "blur": lambda: f"blur (sharpness {quality.sharpness:.1f} < {rule.min_sharpness:.1f})",
        "pose": lambda: f"pose (head turn ratio {quality.yaw_ratio:.2f} > {rule.max_yaw_ratio:.2f})",
        "cut_off": lambda: f"cut_off (only {100 * quality.visible_ratio:.0f} % of the face inside the photo < "
                           f"{100 * rule.min_visible_ratio:.0f} %)",
        "chin": lambda: f"chin (image ends {quality.chin_margin:.2f} eye-to-mouth distances below the mouth < "
                        f"{rule.min_chin_margin:.2f})",
    }
    side = "reference photo" if reference else "live frame"
    return f"{side} fails " + "; ".join(words[name]() for name in failed)
