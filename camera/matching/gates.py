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

from camera.matching.encoding import FaceQuality
from camera.settings import MatchSettings


def live_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a live frame fails (empty = usable): size, blur, pose, cut_off, chin."""
    found = _issues(quality, settings.min_face_px, settings.min_sharpness, settings.max_yaw_ratio,
                    settings.min_visible_ratio)
    # NaN (the dlib path: no mouth point) compares False: the rule is not applied there.
    if quality.chin_margin < settings.min_chin_margin:
        found += ("chin",)
    return found


def reference_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a reference photo fails (empty = usable), with the looser reference rules."""
    return _issues(quality, settings.min_face_px, settings.reference_min_sharpness, settings.reference_max_yaw_ratio,
                   settings.reference_min_visible_ratio)


def issues(quality: FaceQuality, settings: MatchSettings, *, reference: bool) -> tuple[str, ...]:
    """:func:`reference_issues` when ``reference`` else :func:`live_issues`."""
    return reference_issues(quality, settings) if reference else live_issues(quality, settings)


def _issues(quality: FaceQuality, min_face_px: float, min_sharpness: float, max_yaw_ratio: float,
            min_visible_ratio: float) -> tuple[str, ...]:
    found: list[str] = []
    if quality.face_width_px < min_face_px:
        found.append("size")
    if quality.sharpness < min_sharpness:
        found.append("blur")
    if quality.yaw_ratio > max_yaw_ratio:
        found.append("pose")
    if quality.visible_ratio < min_visible_ratio:
        found.append("cut_off")
    return tuple(found)


def explain(quality: FaceQuality, settings: MatchSettings, *, reference: bool) -> str:
    """A technician's sentence naming each failed gate with the measured value and the limit, e.g.
    ``reference photo fails blur (sharpness 6.1 < 10.0)``; "" when every gate passes. Holds no
    personal data (measures of image quality only)."""
    if reference:
        limits = (settings.min_face_px, settings.reference_min_sharpness, settings.reference_max_yaw_ratio,
                  settings.reference_min_visible_ratio)
    else:
        limits = (settings.min_face_px, settings.min_sharpness, settings.max_yaw_ratio, settings.min_visible_ratio)
    words = {
        "size": f"size (face {quality.face_width_px:.0f} px wide < {limits[0]} px)",
        "blur": f"blur (sharpness {quality.sharpness:.1f} < {limits[1]:.1f})",
        "pose": f"pose (head turn ratio {quality.yaw_ratio:.2f} > {limits[2]:.2f})",
        "cut_off": f"cut_off (only {100 * quality.visible_ratio:.0f} % of the face inside the photo < {100 * limits[3]:.0f} %)",
        "chin": f"chin (image ends {quality.chin_margin:.2f} eye-to-mouth distances below the mouth < "
                f"{settings.min_chin_margin:.2f})",
    }
    failed = issues(quality, settings, reference=reference)
    if not failed:
        return ""
    side = "reference photo" if reference else "live frame"
    return f"{side} fails " + "; ".join(words[name] for name in failed)
