"""One image in, one face encoding out: detection, 5-point alignment, quality measures, descriptor.

Pipeline (dlib, the same steps as ``face_recognition`` but with the quality gates made explicit):

1. HOG detection on a copy resized so that its longer side is ``match.detect_long_side_px``
   (a 640x480 frame is halved, which keeps detection near 9 ms; a 92x112 grey crop is enlarged so
   that its face reaches the HOG window of 80 px). A given ``face_box`` (for example FaceMesh's) is
   the seed: the detection overlapping it most is used, and when HOG finds nothing the seed box
   itself is used (FaceMesh tracks faces HOG misses, such as tilted elderly faces).
2. The 5-point shape predictor on the source image, then ``get_face_chip`` (150x150, padding 0.25).
3. Quality measures on the aligned chip, so they do not depend on the camera resolution.
4. The ResNet descriptor (128 floats): one pass of dlib's network exported to ONNX and run by
   ``cv2.dnn`` (:mod:`camera.matching.dnn_resnet`; the numpy copy when OpenCV cannot run it), or
   dlib's own when jittered.

Thread rule: an :class:`Encoder` is used from one thread at a time (it holds a lock around dlib).
Privacy: nothing here logs or keeps an image or a vector.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from camera.matching import gates
from camera.matching.errors import MatchError, MatchReason
from camera.matching.models import DlibModels, load_models
from camera.matching.resnet import CHIP_SIZE_PX
from camera.settings import MatchSettings

Box = tuple[int, int, int, int]
"""A face box in source-image pixels: (left, top, right, bottom), right/bottom exclusive."""

CHIP_PADDING = 0.25  # dlib's training padding; other values cost accuracy
# Two faces whose widths are within this ratio are "similar size": without a seed box the matcher
# cannot tell which one is the person, so it refuses rather than guess.
_SIMILAR_FACE_WIDTH_RATIO = 0.7


@dataclass(frozen=True)
class FaceQuality:
    """Measures of one face, used by the quality gates (``match.*`` thresholds).

    - ``face_width_px``: width of the face box in source pixels.
    - ``sharpness``: variance of the Laplacian of the grey 150x150 aligned chip (higher = sharper).
    - ``yaw_ratio``: nose offset from the eye midpoint along the eye line, over the eye distance
      (0 frontal; about 0.25 at 30 degrees of head turn).
    - ``visible_ratio``: fraction of the unpadded aligned face that lies inside the image
      (below 1 when the photo cuts part of the face off).
    - ``detection_score``: HOG detector score (NaN when the seed box was used).
    - ``brightness``: mean grey level of the chip (0-255).
    - ``chin_margin``: how far the image goes on below the mouth, in eye-to-mouth distances (a
      whole face reads about 0.7 or more, a frame cut at the lips 0); SFace's points only, NaN on
      the dlib path (its 5 points have no mouth), where the rule is not applied.
    """

    face_width_px: float
    sharpness: float
    yaw_ratio: float
    visible_ratio: float
    detection_score: float
    brightness: float
    chin_margin: float = float("nan")


@dataclass(frozen=True)
class FaceEncoding:
    """The descriptor of one face with where it was and how good it is.

    ``vector`` is a template (see :data:`camera.matching.scoring.TEMPLATE_SIZES`): dlib's float32
    (128,) from :class:`Encoder`; from :class:`~camera.matching.matcher.FaceMatcher` dlib's and/or
    SFace's parts (256,). ``faces_found`` counts detections in the image (0 when only the seed box
    was used). ``issues`` lists failed quality gates; a vector with issues is never used for a
    decision. ``model`` names the detector whose box and quality measures these are (``dlib`` or
    ``sface``).
    Privacy: ``vector`` is biometric data: never log it, store it only encrypted.
    """

    vector: np.ndarray = field(repr=False)
    box: Box
    quality: FaceQuality
    faces_found: int
    seeded: bool
    issues: tuple[str, ...] = ()
    model: str = "dlib"

    @property
    def usable(self) -> bool:
        """True when every quality gate passed."""
        return not self.issues


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Checks an image array and returns it as contiguous 8-bit BGR (grey is expanded).

    Raises :class:`MatchError` ``image_unreadable`` for anything that is not an 8-bit (H, W),
    (H, W, 3) or (H, W, 4) array of at least 16x16 pixels.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, "image must be a uint8 numpy array")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"image shape {image.shape} is not grey, BGR or BGRA")
    if min(image.shape[:2]) < 16:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"image of {image.shape[1]}x{image.shape[0]} px is too small")
    return np.ascontiguousarray(image)


def _iou(a: Box, b: Box) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Encoder:
    """Turns images into :class:`FaceEncoding` values with the models of one process.

    Loads the models on construction (raises :class:`MatchError` ``model_missing``). Calls are
    serialised by a lock: share one instance per process, call it from a worker, never the UI thread
    (one encode of a 640x480 frame is about 35 ms of CPU, mostly holding the GIL).
    """

    def __init__(self, settings: MatchSettings, models: DlibModels | None = None) -> None:
        self.settings = settings
        self.models = models or load_models(settings.model_dir)
        self._lock = threading.Lock()

    def detect(self, image_bgr: np.ndarray, upsample: int = 0) -> list[tuple[Box, float]]:
        """HOG face boxes in source pixels with their scores, largest first."""
        image = as_bgr(image_bgr)
        height, width = image.shape[:2]
        scale = self.settings.detect_long_side_px / max(height, width)
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        with self._lock:
            rects, scores, _ = self.models.detector.run(rgb, upsample, 0.0)
        boxes = [
            ((round(r.left() / scale), round(r.top() / scale), round((r.right() + 1) / scale), round((r.bottom() + 1) / scale)), float(s))
            for r, s in zip(rects, scores, strict=True)
        ]
        return sorted(boxes, key=lambda item: -(item[0][2] - item[0][0]))

    def _choose(self, found: list[tuple[Box, float]], face_box: Box | None) -> tuple[Box, float, bool]:
        """The face to encode: (box, detection score, seeded); raises when none or ambiguous."""
        if face_box is not None:
            seed = tuple(int(round(v)) for v in face_box)
            if len(seed) != 4 or seed[2] <= seed[0] or seed[3] <= seed[1]:
                raise MatchError(MatchReason.NO_USABLE_FACE, "face_box must be (left, top, right, bottom)", detail="bad_seed")
            overlapping = [(box, score) for box, score in found if _iou(box, seed) >= 0.3]
            if overlapping:
                box, score = max(overlapping, key=lambda item: _iou(item[0], seed))
                return box, score, False
            return seed, float("nan"), True  # type: ignore[return-value]
        if not found:
            raise MatchError(MatchReason.NO_USABLE_FACE, "no face found", detail="no_face")
        if len(found) > 1:
            widest, second = found[0][0][2] - found[0][0][0], found[1][0][2] - found[1][0][0]
            if second >= _SIMILAR_FACE_WIDTH_RATIO * widest:
                raise MatchError(MatchReason.MULTIPLE_FACES_FOUND, f"{len(found)} faces of similar size and no face box")
        return found[0][0], found[0][1], False

    def encode(self, image_bgr: np.ndarray, face_box: Box | None = None, *, jitters: int | None = None,
               require_usable: bool = True) -> FaceEncoding:
        """Encodes the one face in ``image_bgr`` (uint8 BGR or grey, any size).

        ``face_box`` (left, top, right, bottom) in source pixels seeds the choice of face and is the
        fallback when HOG finds none. ``jitters`` overrides ``match.live_jitters``. Raises
        :class:`MatchError`: ``image_unreadable``; ``no_usable_face`` (no face, or a quality gate
        failed while ``require_usable``; ``detail`` names the gates); ``multiple_faces_found``.
        """
        import dlib  # noqa: PLC0415 - already loaded by load_models; keeps import of this module cheap

        image = as_bgr(image_bgr)
        found = self.detect(image)
        if not found and face_box is None:
            found = self.detect(image, upsample=1)  # small or distant faces: worth 50 ms on a still
        box, score, seeded = self._choose(found, face_box)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        rect = dlib.rectangle(box[0], box[1], box[2] - 1, box[3] - 1)
        with self._lock:
            shape = self.models.shape_predictor(rgb, rect)
            chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING)
            n = self.settings.live_jitters if jitters is None else jitters
            vector = self._descriptor(chip, n)
            visible = self._visible_ratio(image.shape[:2], shape)
        grey_chip = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        quality = FaceQuality(
            face_width_px=float(box[2] - box[0]),
            sharpness=float(cv2.Laplacian(grey_chip, cv2.CV_64F).var()),
            yaw_ratio=_yaw_ratio(shape),
            visible_ratio=visible,
            detection_score=score,
            brightness=float(grey_chip.mean()),
        )
        issues = gates.live_issues(quality, self.settings)
        if issues and require_usable:
            raise MatchError(MatchReason.NO_USABLE_FACE, f"face fails quality gate(s): {', '.join(issues)}",
                             detail=",".join(issues))
        vector.setflags(write=False)
        return FaceEncoding(vector=vector, box=box, quality=quality, faces_found=len(found), seeded=seeded, issues=issues)

    def _descriptor(self, chip: np.ndarray, jitters: int) -> np.ndarray:
        """The 128 floats of an aligned RGB chip; ``jitters`` > 1 averages disturbed copies."""
        # dlib computes 0 and 1 jitters the same way (one plain pass); that pass runs on cv2.dnn (or
        # the numpy copy), four to eight times faster. Jittering (random crops, rotations, flips)
        # stays in dlib: the reference calibration used dlib's jitter, and references are encoded once.
        if jitters <= 1 and self.models.fast_resnet is not None:
            return self.models.fast_resnet.descriptor(chip)
        return np.asarray(self.models.resnet.compute_face_descriptor(chip, jitters), dtype=np.float32)

    @staticmethod
    def _visible_ratio(shape_hw: tuple[int, int], shape) -> float:  # noqa: ANN001 - dlib type
        """Fraction of the unpadded aligned face square that maps inside the image."""
        import dlib  # noqa: PLC0415

        mask = np.full(shape_hw, 255, dtype=np.uint8)
        details = dlib.get_face_chip_details(shape, size=32, padding=0.0)
        chip = dlib.extract_image_chip(mask, details)
        return float(np.count_nonzero(chip)) / chip.size


def _yaw_ratio(shape) -> float:  # noqa: ANN001 - dlib full_object_detection
    """Head-turn proxy from the 5 points (eye corners 0-3, nose base 4); see FaceQuality."""
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
    eye_a, eye_b = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    axis = eye_b - eye_a
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return float("inf")
    offset = points[4] - (eye_a + eye_b) / 2
    return abs(float(np.dot(offset, axis))) / distance**2
