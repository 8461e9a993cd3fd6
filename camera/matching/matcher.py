"""1:1 verification: live frames against a person's reference templates or images.

Two descriptors (``match.model``; measured in ``docs/matching.md``):

- ``sface`` (the default): OpenCV Zoo's YuNet detector and SFace recogniser
  (:mod:`camera.matching.sface`), distance 1 - cosine, cut ``match.sface_max_distance``;
- ``dlib``: HOG, 5 points and dlib's ResNet (:mod:`camera.matching.encoding`), Euclidean distance,
  cut ``match.max_distance``. It is also the fallback: when the SFace files are missing or corrupt
  the matcher logs the reason code once, ``kiosk doctor`` shows it, and dlib decides.

Templates (:data:`camera.matching.scoring.TEMPLATE_SIZES`): a reference is encoded with both
descriptors (dlib's part, then SFace's), so switching ``match.model`` or losing a model file never
needs re-enrolment; a 128-float template (stored before SFace came in) is dlib's alone and is
compared with dlib. Live frames are encoded only with what the references need.

Decision rule:

1. Encode each live frame; a frame failing the live quality gates (:mod:`camera.matching.gates`)
   is skipped, never a failure by itself; keep the ``max_live_frames`` sharpest. No usable frame:
   ``no_usable_face``.
2. Each reference is a template or an image (encoded with the reference gates). No usable
   reference: ``no_reference``.
3. Per reference, the model both sides share (SFace when it can, else dlib) gives the mean of the
   kept frames' distances to it (score-level fusion of frames); its margin is that mean minus the
   model's cut. The reference with the smallest margin decides.
4. Matched when that margin is <= 0. ``MatchDecision.model`` says which model decided.

Privacy: only the decision leaves this module; a person is shown pass/fail only (GB/T 38671), the
distance goes to the local record. Nothing is logged but reason codes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camera.matching import gates, scoring
from camera.matching.encoding import Box, Encoder, FaceEncoding, FaceQuality, as_bgr
from camera.matching.errors import MatchError, MatchReason
from camera.settings import MatchSettings

log = logging.getLogger(__name__)

DLIB, SFACE = "dlib", "sface"


@dataclass(frozen=True)
class MatchDecision:
    """The outcome of one verification.

    - ``matched``: the only thing the person is told (as pass/fail).
    - ``distance``: the fused distance to the deciding reference, in ``model``'s own scale (dlib:
      Euclidean; SFace: 1 - cosine), NaN when nothing could be compared. It goes to the local audit record only, never to the screen.
    - ``frames_used``: live frames fused; ``references_used``: usable references.
    - ``reason``: ``None`` when matched, else a :class:`MatchReason`.
    """

    matched: bool
    distance: float
    frames_used: int
    references_used: int
    reason: MatchReason | None
    #: The model whose distance decided (``sface`` or ``dlib``); "" when nothing was compared.
    model: str = ""
    #: The distance to each reference given to :meth:`FaceMatcher.verify`, in its order (NaN for a
    #: reference that could not be compared); a live reference is earned from the official
    #: reference's own distance (kiosk/live_references.py). Empty when nothing was compared.
    reference_distances: tuple[float, ...] = ()


class FaceMatcher:
    """Encodes faces and verifies a live face against references (models loaded on construction).

    Raises :class:`MatchError` ``model_missing`` when a dlib model file is missing (dlib is the
    fallback, so it must be there); a missing or corrupt SFace file is not raised but kept in
    :attr:`sface_problem` (dlib then decides). Thread rule: calls are serialised internally;
    CPU-bound, so the kiosk runs it in :class:`~camera.matching.process.MatcherProcess`, never on
    the UI thread.
    """

    def __init__(self, settings: MatchSettings) -> None:
        from camera.matching import sface_files  # noqa: PLC0415
        from camera.matching.sface import SFaceEncoder, load_sface  # noqa: PLC0415

        self.settings = settings
        self.encoder = Encoder(settings)
        self.sface: SFaceEncoder | None = None
        self.sface_problem: MatchError | None = None
        if settings.model == SFACE:
            try:
                self.sface = SFaceEncoder(load_sface(sface_files.candidate_folders(self.encoder.models.folder)))
            except MatchError as exc:
                self.sface_problem = exc
                log.warning("SFace not used, dlib decides: %s (%s)", exc.code, exc.detail)

    @property
    def deciding_model(self) -> str:
        """``sface`` when SFace is configured and loaded, else ``dlib``."""
        return SFACE if self.sface is not None else DLIB

    # ------------------------------------------------------------------ encoding
    def encode(self, image_bgr: np.ndarray, face_box: Box | None = None, *, reference: bool = False,
               require_usable: bool = True, parts: Sequence[str] | None = None) -> FaceEncoding:
        """Encodes the one usable face of an image into a template.

        ``reference=True``: both descriptors (when SFace is loaded), dlib's with
        ``reference_jitters``, judged by the reference gates; else the deciding model's alone (or
        ``parts``), judged by the live gates. A part whose face fails its gates is dropped; the
        encoding fails only when no part is left. Raises :class:`MatchError`: ``image_unreadable``;
        ``no_usable_face`` (``detail`` names the failed gates, or ``no_face``);
        ``multiple_faces_found``.
        """
        image = as_bgr(image_bgr)
        wanted = tuple(parts) if parts is not None else ((SFACE, DLIB) if reference else (self.deciding_model,))
        wanted = tuple(p for p in dict.fromkeys(wanted) if p != SFACE or self.sface is not None) or (DLIB,)
        found: dict[str, FaceEncoding] = {}
        errors: list[MatchError] = []
        for part in wanted:
            try:
                encoding = self._encode_part(part, image, face_box, reference)
            except MatchError as exc:
                if exc.code == MatchReason.IMAGE_UNREADABLE:
                    raise
                errors.append(exc)
                continue
            found[part] = encoding
        if not found:
            raise errors[0]
        usable = {p: e for p, e in found.items() if not e.issues}
        kept = usable if require_usable else found
        if not kept:
            first = next(iter(found.values()))
            raise MatchError(MatchReason.NO_USABLE_FACE,
                             gates.explain(first.quality, self.settings, reference=reference) + f" ({first.model})",
                             detail=",".join(first.issues))
        primary = kept[SFACE] if SFACE in kept else kept[DLIB]
        vector = scoring.join_parts(kept[DLIB].vector if DLIB in kept else None,
                                    kept[SFACE].vector if SFACE in kept else None)
        vector.setflags(write=False)
        return FaceEncoding(vector=vector, box=primary.box, quality=primary.quality, faces_found=primary.faces_found,
                            seeded=primary.seeded, issues=primary.issues, model=primary.model)

    def _encode_part(self, part: str, image: np.ndarray, face_box: Box | None, reference: bool) -> FaceEncoding:
        """One descriptor's encoding with its gate verdict (never raises for the gates)."""
        if part == SFACE:
            assert self.sface is not None
            face = self.sface.encode(image, face_box, reference=reference)
            quality = FaceQuality(face_width_px=face.face_width_px, sharpness=face.sharpness, yaw_ratio=face.yaw_ratio,
                                  visible_ratio=face.visible_ratio, detection_score=face.face.score,
                                  brightness=face.brightness, chin_margin=face.chin_margin)
            return FaceEncoding(vector=face.vector, box=face.face.box, quality=quality, faces_found=face.faces_found,
                                seeded=face.seeded, issues=gates.issues(quality, self.settings, reference=reference),
                                model=SFACE)
        jitters = self.settings.reference_jitters if reference else self.settings.live_jitters
        encoding = self.encoder.encode(image, face_box, jitters=jitters, require_usable=False)
        return FaceEncoding(vector=encoding.vector, box=encoding.box, quality=encoding.quality,
                            faces_found=encoding.faces_found, seeded=encoding.seeded,
                            issues=gates.issues(encoding.quality, self.settings, reference=reference), model=DLIB)

    # ------------------------------------------------------------------ verification
    def live_templates(self, live_frames: Sequence[np.ndarray], face_boxes: Sequence[Box | None] | None = None,
                       parts: Sequence[str] | None = None) -> list[np.ndarray]:
        """Templates of the (at most ``max_live_frames``) sharpest live frames with a usable face.

        Frames with no usable face are skipped (a blink or a turned head in one frame does not spoil
        the others); raises :class:`MatchError` ``no_usable_face`` when none is usable, or the
        error of the frames when they all fail the same way (``multiple_faces_found``,
        ``image_unreadable``). ``parts``: the descriptors to compute (default: the deciding model's).
        """
        boxes = list(face_boxes) if face_boxes is not None else [None] * len(live_frames)
        usable: list[FaceEncoding] = []
        errors: list[MatchError] = []
        for frame, box in zip(live_frames, boxes, strict=True):
            try:
                usable.append(self.encode(frame, box, parts=parts))
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
        """Templates of the usable references: 128/256 floats pass through, images are encoded."""
        return [template for _, template in self._usable_references(references)]

    def _usable_references(self, references: Sequence[np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """(index in ``references``, template) of each usable reference."""
        templates: list[tuple[int, np.ndarray]] = []
        for index, reference in enumerate(references):
            array = np.asarray(reference)
            if array.ndim == 1 or (array.ndim == 2 and 1 in array.shape and array.size in scoring.TEMPLATE_SIZES):
                try:
                    templates.append((index, scoring.as_template(array)))
                except ValueError:
                    log.warning("a reference template is malformed; skipped")
                continue
            try:
                templates.append((index, self.encode(array, reference=True).vector))
            except MatchError as exc:
                log.info("a reference image was skipped: %s", exc.code)
        return templates

    def live_parts(self, templates: Sequence[np.ndarray]) -> tuple[str, ...]:
        """The descriptors live frames need to be compared with ``templates``: SFace's when it is
        loaded and a template has its part; dlib's when a template has no SFace part (or SFace is
        not loaded)."""
        has_sface = [scoring.split_parts(t)[1] is not None for t in templates]
        if self.sface is None:
            return (DLIB,)
        if all(has_sface):
            return (SFACE,)
        return (SFACE, DLIB) if any(has_sface) else (DLIB,)

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
        usable = self._usable_references(references)
        templates = [template for _, template in usable]
        if not templates:
            return MatchDecision(False, math.nan, 0, 0, MatchReason.NO_REFERENCE)
        try:
            live = self.live_templates(live_frames, face_boxes, parts=self.live_parts(templates))
        except MatchError as exc:
            return MatchDecision(False, math.nan, 0, len(templates), exc.code)
        decision = self.decide(live, templates)
        # decide() numbers the usable templates; the caller numbers what it gave.
        distances = [math.nan] * len(references)
        for (index, _), distance in zip(usable, decision.reference_distances, strict=True):
            distances[index] = distance
        return dataclasses.replace(decision, reference_distances=tuple(distances))

    def decide(self, live: Sequence[np.ndarray], templates: Sequence[np.ndarray]) -> MatchDecision:
        """The decision for already encoded live templates (1..n frames) against reference templates."""
        if not templates:
            return MatchDecision(False, math.nan, len(live), 0, MatchReason.NO_REFERENCE)
        if not live:
            return MatchDecision(False, math.nan, 0, len(templates), MatchReason.NO_USABLE_FACE)
        best: tuple[float, float, str] | None = None  # (margin, distance, model)
        scores = [self._score(live, template) for template in templates]
        for scored in scores:
            if scored is not None and (best is None or scored[0] < best[0]):
                best = scored
        if best is None:  # no reference shares a descriptor with the live frames
            return MatchDecision(False, math.nan, len(live), len(templates), MatchReason.NO_REFERENCE)
        margin, distance, model = best
        matched = margin <= 0
        # Distances of another model's scale would mislead a caller comparing them to one cut.
        distances = tuple(s[1] if s is not None and s[2] == model else math.nan for s in scores)
        return MatchDecision(matched, distance, len(live), len(templates), None if matched else MatchReason.MISMATCH,
                             model, distances)

    def _score(self, live: Sequence[np.ndarray], template: np.ndarray) -> tuple[float, float, str] | None:
        return score_templates(live, template, self.settings, use_sface=self.sface is not None)


def score_templates(live: Sequence[np.ndarray], template: np.ndarray, settings: MatchSettings, *,
                    use_sface: bool) -> tuple[float, float, str] | None:
    """(margin to the model's cut, distance, model) of live templates against one reference template.

    SFace decides when ``use_sface`` and both sides have its part (the mean over the live frames
    that have it), else dlib when both have dlib's part; None when the two share no descriptor.
    A margin <= 0 is a match. Pure: used by :class:`FaceMatcher` and by ``kiosk verify``.
    """
    ref_dlib, ref_sface = scoring.split_parts(template)
    frames = [scoring.split_parts(v) for v in live]
    if use_sface and ref_sface is not None:
        sface_frames = [s for _, s in frames if s is not None]
        if sface_frames:
            distance = float(np.mean([scoring.sface_distance(s, ref_sface) for s in sface_frames]))
            return distance - settings.sface_max_distance, distance, SFACE
    dlib_frames = [d for d, _ in frames if d is not None]
    if ref_dlib is not None and dlib_frames:
        distance = scoring.fused_distance(dlib_frames, ref_dlib)
        return distance - settings.max_distance, distance, DLIB
    return None
