"""1:1 verification: live frames against a person's reference templates or images.

Decision rule (numbers from ``config/kiosk.toml`` ``[match]``, calibrated in ``docs/matching.md``):

1. Encode each live frame; keep those passing the quality gates; keep the ``max_live_frames``
   sharpest. No usable frame: ``no_usable_face``.
2. Each reference is a template (float32 (128,)) or an image (encoded with ``reference_jitters``).
   No usable reference: ``no_reference``.
3. ``distance``: for each reference, the mean distance of the kept live frames to it (score-level
   fusion, see :func:`camera.matching.scoring.fused_distance`); the smallest over references.
4. Matched when ``distance <= max_distance`` (0.36: FAR <= 0.1 % on the Chinese faces).

Privacy: only the decision leaves this module; a person is shown pass/fail only (GB/T 38671), the
distance goes to the local record. Nothing is logged but reason codes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camera.matching import scoring
from camera.matching.encoding import Box, Encoder, FaceEncoding
from camera.matching.errors import MatchError, MatchReason
from camera.settings import MatchSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatchDecision:
    """The outcome of one verification.

    - ``matched``: the only thing the person is told (as pass/fail).
    - ``distance``: the fused distance to the closest reference (NaN when nothing could be
      compared). It goes to the local audit record only, never to the screen.
    - ``frames_used``: live frames fused; ``references_used``: usable references.
    - ``reason``: ``None`` when matched, else a :class:`MatchReason`.
    """

    matched: bool
    distance: float
    frames_used: int
    references_used: int
    reason: MatchReason | None


class FaceMatcher:
    """Encodes faces and verifies a live face against references (models loaded on construction).

    Raises :class:`MatchError` ``model_missing`` when a model file is missing. Thread rule: calls
    are serialised internally; CPU-bound (dlib holds the GIL), so the kiosk runs it in
    :class:`~camera.matching.process.MatcherProcess`, never on the UI thread.
    """

    def __init__(self, settings: MatchSettings) -> None:
        self.settings = settings
        self.encoder = Encoder(settings)

    # ------------------------------------------------------------------ encoding
    def encode(self, image_bgr: np.ndarray, face_box: Box | None = None, *, reference: bool = False,
               require_usable: bool = True) -> FaceEncoding:
        """Encodes the one usable face of an image; see :meth:`Encoder.encode` for what it raises.

        ``reference=True`` uses ``reference_jitters`` (an enrolment photo is encoded once, so the
        extra passes are affordable), else ``live_jitters``.
        """
        jitters = self.settings.reference_jitters if reference else self.settings.live_jitters
        return self.encoder.encode(image_bgr, face_box, jitters=jitters, require_usable=require_usable)

    # ------------------------------------------------------------------ verification
    def live_templates(self, live_frames: Sequence[np.ndarray], face_boxes: Sequence[Box | None] | None = None
                       ) -> list[np.ndarray]:
        """Templates of the (at most ``max_live_frames``) sharpest live frames with a usable face.

        Frames with no usable face are skipped (a blink or a turned head in one frame does not spoil
        the others); raises :class:`MatchError` ``no_usable_face`` when none is usable, or the
        error of the frames when they all fail the same way (``multiple_faces_found``,
        ``image_unreadable``).
        """
        boxes = list(face_boxes) if face_boxes is not None else [None] * len(live_frames)
        usable: list[FaceEncoding] = []
        errors: list[MatchError] = []
        for frame, box in zip(live_frames, boxes, strict=True):
            try:
                usable.append(self.encode(frame, box))
            except MatchError as exc:
                errors.append(exc)
        if not usable:
            codes = {e.code for e in errors}
            if len(codes) == 1 and errors:
                raise errors[0]
            raise MatchError(MatchReason.NO_USABLE_FACE, "no live frame holds a usable face",
                             detail=",".join(sorted({e.detail for e in errors if e.detail})))
        best = sorted(usable, key=lambda e: -e.quality.sharpness)[: self.settings.max_live_frames]
        return [e.vector for e in best]

    def reference_templates(self, references: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Templates of the usable references: (128,) floats pass through, images are encoded."""
        templates: list[np.ndarray] = []
        for reference in references:
            array = np.asarray(reference)
            if array.ndim == 1 or (array.ndim == 2 and 1 in array.shape and array.size == scoring.DESCRIPTOR_SIZE):
                try:
                    templates.append(scoring.as_template(array))
                except ValueError:
                    log.warning("a reference template is malformed; skipped")
                continue
            try:
                templates.append(self.encode(array, reference=True).vector)
            except MatchError as exc:
                log.info("a reference image was skipped: %s", exc.code)
        return templates

    def verify(self, live_frames: Sequence[np.ndarray], references: Sequence[np.ndarray],
               face_boxes: Sequence[Box | None] | None = None) -> MatchDecision:
        """Decides whether the live frames show the person of the references.

        ``live_frames``: BGR uint8 frames of one challenge (best first or in any order);
        ``face_boxes``: optional FaceMesh boxes per frame. ``references``: templates and/or images.
        Never raises for a face problem: those become a decision with a ``reason``. Raises
        ``ValueError`` only for mismatched ``face_boxes`` length.
        """
        if face_boxes is not None and len(face_boxes) != len(live_frames):
            raise ValueError("face_boxes must have one entry per live frame")
        templates = self.reference_templates(references)
        if not templates:
            return MatchDecision(False, math.nan, 0, 0, MatchReason.NO_REFERENCE)
        try:
            live = self.live_templates(live_frames, face_boxes)
        except MatchError as exc:
            return MatchDecision(False, math.nan, 0, len(templates), exc.code)
        return self.decide(live, templates)

    def decide(self, live: Sequence[np.ndarray], templates: Sequence[np.ndarray]) -> MatchDecision:
        """The decision for already encoded live templates (1..n frames) against reference templates."""
        if not templates:
            return MatchDecision(False, math.nan, len(live), 0, MatchReason.NO_REFERENCE)
        if not live:
            return MatchDecision(False, math.nan, 0, len(templates), MatchReason.NO_USABLE_FACE)
        best = min(scoring.fused_distance(live, t) for t in templates)
        matched = best <= self.settings.max_distance
        return MatchDecision(matched, best, len(live), len(templates), None if matched else MatchReason.MISMATCH)
