"""Quality gates: which captures are good enough to compare, with different rules per side.

Pure functions of :class:`~camera.matching.encoding.FaceQuality` and ``[match]`` settings, so the
rules are tested without a model.

- **Live frames** (:func:`live_issues`): strict. A live frame that fails is never a failure by
  itself: the matcher skips it and uses the other frames of the challenge (which sees hundreds);
  only when no frame of the attempt passes is the attempt ``no_usable_face``.
- **Reference photos** (:func:`reference_issues`): an ID-style photo is taken once, by someone else,
  and is tightly cropped: chin or hair touching the border is normal there and must not refuse a
  usable reference, so the cut-off rule is looser (``reference_min_visible_ratio``) and so is the blur
  rule (``reference_min_sharpness``: a scanned or downscaled card photo is soft but still usable).
  Size and head turn are judged as on the live side.

Gate names (``size``, ``blur``, ``pose``, ``cut_off``) are what ``MatchError.detail`` carries to a
technician: they say why a photo was refused, never anything about the person.
"""

from __future__ import annotations

from camera.matching.encoding import FaceQuality
from camera.settings import MatchSettings


def live_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a live frame fails (empty = usable): size, blur, pose, cut_off."""
    return _issues(quality, settings.min_face_px, settings.min_sharpness, settings.max_yaw_ratio,
                   settings.min_visible_ratio)


def reference_issues(quality: FaceQuality, settings: MatchSettings) -> tuple[str, ...]:
    """Gates a reference photo fails (empty = usable), with the looser reference rules."""
    return _issues(quality, settings.min_face_px, settings.reference_min_sharpness, settings.max_yaw_ratio,
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
