"""The SFace path: YuNet detection, 5-point alignment to 112x112, SFace embedding (OpenCV Zoo).

Both networks run in OpenCV's own ``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF`` (no new
runtime); their files are found and sha256-checked by :mod:`camera.matching.sface_files`.

Pipeline of :meth:`SFaceEncoder.encode`:

1. A reference photo (``reference=True``) is padded by :data:`REFERENCE_PAD_RATIO` of its size on
   every side with its edge colour: ID-style crops are tight (the chin or hair touch the border) and
   YuNet, like every detector, needs some margin around a face. Live frames are not padded.
2. YuNet on a copy whose longer side is :data:`DETECT_LONG_SIDE_PX` (a 640x480 frame is halved; a
   92x112 crop is enlarged), boxes and landmarks mapped back to source pixels.
3. The face: the detection overlapping ``face_box`` most, else the largest; two faces of similar
   size without a seed box are ``multiple_faces_found`` (as on the dlib path).
4. ``alignCrop`` (similarity transform of the 5 points to SFace's template) and ``feature``,
   plus the features of the same face found again in the mirror image, summed: 128 floats,
   L2-normalised here so that the cosine is a dot product.
5. Quality measures of the capture (:class:`~camera.matching.encoding.FaceQuality`, same meaning as
   on the dlib path, measured on the 112x112 chip and YuNet's points); the caller's gate rules judge them.

Scores: ``cosine`` in [-1, 1] (1 identical); :func:`sface_distance` = 1 - cosine, so that
"smaller is closer" holds for every model and ``MatchDecision.distance`` keeps one meaning.

Thread rule: an :class:`SFaceEncoder` is used from one thread at a time (a lock guards the nets).
Privacy: nothing here logs or keeps an image or a vector.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.matching import sface_files
from camera.matching.errors import MatchError, MatchReason

Box = tuple[int, int, int, int]
DETECT_LONG_SIDE_PX = 320  # YuNet finds faces from ~10 px; 320 keeps detection near 5-20 ms
DETECT_SCORE = 0.6  # YuNet's own default confidence cut
DETECT_NMS = 0.3
REFERENCE_PAD_RATIO = 0.3  # margin added around a reference photo before detection (share of its size)
_SIMILAR_FACE_WIDTH_RATIO = 0.7  # as encoding.py: two faces this alike in width and no seed box: refuse
_SAME_FACE_IOU = 0.3  # a detection overlapping a known box this much (IoU) is taken for the same face
EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class SFaceModels:
    """The two loaded nets (library types: they stay inside :mod:`camera.matching`)."""

    detector_path: Path
    recogniser_path: Path
    detector: object  # cv2.FaceDetectorYN
    recogniser: object  # cv2.FaceRecognizerSF


def load_sface(folders: list[Path]) -> SFaceModels:
    """Loads YuNet and SFace from the first of ``folders`` holding them, after the sha256 check.

    Raises :class:`MatchError` ``model_missing`` (``detail`` ``file_missing`` or
    ``sha256_mismatch``, see :mod:`camera.matching.sface_files`) or when OpenCV cannot load a file.
    """
    detector_path, recogniser_path = sface_files.locate_all(folders)
    try:
        detector = cv2.FaceDetectorYN.create(str(detector_path), "", (DETECT_LONG_SIDE_PX, DETECT_LONG_SIDE_PX),
                                             DETECT_SCORE, DETECT_NMS, 50)
        recogniser = cv2.FaceRecognizerSF.create(str(recogniser_path), "")
    except cv2.error as exc:
        raise MatchError(MatchReason.MODEL_MISSING, f"OpenCV cannot load the SFace/YuNet files: {exc}",
                         detail="load_failed") from None
    return SFaceModels(detector_path, recogniser_path, detector, recogniser)


@dataclass(frozen=True)
class SFaceFace:
    """One YuNet detection in source pixels: box, the 5 points (right eye, left eye, nose tip,
    right and left mouth corners, as (x, y)), and YuNet's score (0-1)."""

    box: Box
    points: np.ndarray
    score: float

    def row(self) -> np.ndarray:
        """The detection as YuNet's (1, 15) float32 row, which ``alignCrop`` expects."""
        left, top, right, bottom = self.box
        return np.array([[left, top, right - left, bottom - top, *self.points.reshape(-1), self.score]], np.float32)


@dataclass(frozen=True)
class SFaceEncoding:
    """SFace's embedding of one face (float32 (128,), unit length) with where and how good it is.

    Privacy: ``vector`` is biometric data: never log it, store it only encrypted.
    """

    vector: np.ndarray
    face: SFaceFace
    faces_found: int
    seeded: bool
    face_width_px: float
    sharpness: float  # variance of the Laplacian of the grey 112x112 chip
    yaw_ratio: float  # nose offset from the eye midpoint along the eye line / eye distance
    visible_ratio: float  # share of the face box (before padding) inside the original image
    brightness: float  # mean grey level of the chip
    chin_margin: float  # image bottom below the mouth / eye-to-mouth distance (see _chin_margin)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (1 identical, 0 unrelated)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64) / norm if norm > 0 else 0.0


def sface_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine: the SFace score as a distance (0 identical, smaller is closer)."""
    return 1.0 - cosine(a, b)


def _iou(a: Box, b: Box) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class SFaceEncoder:
    """Turns BGR images into :class:`SFaceEncoding` values (models loaded by :func:`load_sface`).

    Calls are serialised by a lock; CPU-bound (each image is detected and embedded twice, the face and
    its mirror image: about 43 ms for a 640x480 frame on one core, ``kiosk bench --only matching``),
    so the kiosk runs it in the matcher process, never on the UI thread.
    """

    def __init__(self, models: SFaceModels) -> None:
        self.models = models
        self._lock = threading.Lock()

    def detect(self, image_bgr: np.ndarray) -> list[SFaceFace]:
        """YuNet faces of a BGR uint8 image in its own pixels, widest first."""
        height, width = image_bgr.shape[:2]
        scale = DETECT_LONG_SIDE_PX / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        with self._lock:
            self.models.detector.setInputSize(size)
            _, rows = self.models.detector.detect(small)
        faces: list[SFaceFace] = []
        for row in rows if rows is not None else []:
            x, y, w, h = (float(v) / scale for v in row[:4])
            box = (round(x), round(y), round(x + w), round(y + h))
            faces.append(SFaceFace(box, (row[4:14] / scale).reshape(5, 2).astype(np.float32), float(row[14])))
        return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]))

    @staticmethod
    def _choose(found: list[SFaceFace], face_box: Box | None) -> tuple[SFaceFace, bool]:
        """The face to encode and whether the seed box itself was used (never: SFace needs YuNet's
        points, so a seed box without a detection is ``no_usable_face``); raises
        ``no_usable_face`` (none) or ``multiple_faces_found``."""
        if face_box is not None:
            seed = tuple(int(round(v)) for v in face_box)
            at_seed = _best_overlap(found, seed)  # type: ignore[arg-type]
            if at_seed is not None:
                return at_seed, False
            raise MatchError(MatchReason.NO_USABLE_FACE, "no face found at the given face box", detail="no_face")
        if not found:
            raise MatchError(MatchReason.NO_USABLE_FACE, "no face found", detail="no_face")
        if len(found) > 1:
            widest, second = found[0].box[2] - found[0].box[0], found[1].box[2] - found[1].box[0]
            if second >= _SIMILAR_FACE_WIDTH_RATIO * widest:
                raise MatchError(MatchReason.MULTIPLE_FACES_FOUND, f"{len(found)} faces of similar size and no face box")
        return found[0], False

    def encode(self, image_bgr: np.ndarray, face_box: Box | None = None, *, reference: bool = False) -> SFaceEncoding:
        """The embedding and quality measures of the one face of ``image_bgr`` (uint8 BGR).

        ``reference=True`` pads the image first (ID-style crops, see the module docstring).
        Raises :class:`MatchError` ``no_usable_face`` (``detail`` ``no_face``) or
        ``multiple_faces_found``; quality gates are the caller's (:mod:`camera.matching.gates`).
        """
        height, width = image_bgr.shape[:2]
        pad = round(REFERENCE_PAD_RATIO * max(height, width)) if reference else 0
        image = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image_bgr
        found = self.detect(image)
        if not found and pad:
            # A reference with margins of its own can read worse padded (the replicated edge makes a
            # second "chin"): the photo as it is gets the last word.
            pad, image = 0, image_bgr
            found = self.detect(image)
        seed = None if face_box is None else tuple(v + pad for v in face_box)
        face, seeded = self._choose(found, seed)  # type: ignore[arg-type]
        with self._lock:
            chip = self.models.recogniser.alignCrop(image, face.row())
            vector = np.asarray(self.models.recogniser.feature(chip), np.float32).reshape(-1)
        vector = vector + self._mirror_features(image, face, chip)
        norm = float(np.linalg.norm(vector))
        vector = vector / norm if norm > 0 else vector
        grey = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
        left, top, right, bottom = face.box
        inside_w = max(0, min(right, pad + width) - max(left, pad))
        inside_h = max(0, min(bottom, pad + height) - max(top, pad))
        area = max(1, (right - left) * (bottom - top))
        original = SFaceFace((left - pad, top - pad, right - pad, bottom - pad), face.points - pad, face.score)
        vector.setflags(write=False)
        return SFaceEncoding(
            vector=vector, face=original, faces_found=len(found), seeded=seeded,
            face_width_px=float(right - left),
            sharpness=float(cv2.Laplacian(grey, cv2.CV_64F).var()),
            yaw_ratio=_yaw_ratio(face.points),
            visible_ratio=inside_w * inside_h / area,
            brightness=float(grey.mean()),
            chin_margin=_chin_margin(original.points, height),
        )

    def _mirror_features(self, image: np.ndarray, face: SFaceFace, chip: np.ndarray) -> np.ndarray:
        """SFace's features of the same face in the mirror image of ``image``, found and aligned
        again by YuNet (not normalised; added to the plain features by :meth:`encode`).

        Why: the sum weighs a half-lit face, a parting on the other side or a slight turn less, and
        the second detection's landmarks err independently of the first, so alignment noise
        averages out. Measured by ``kiosk faces evaluate`` (docs/matching.md, "Mirror
        averaging"): held-out FRR at FAR <= 0.1 % fell from 0.71 to 0.47 % overall and from 7.14
        to 3.45 % on older faces; mirroring only the aligned chip (no second detection) gave half
        the gain. Costs one more detection and embedding (about 3 + 18 ms for a 640x480 frame on
        one core). When YuNet does not find the face again in the mirror, the mirrored chip stands
        in for it.
        """
        mirrored = cv2.flip(image, 1)
        width = image.shape[1]
        left, top, right, bottom = face.box
        expected = (width - right, top, width - left, bottom)
        again = _best_overlap(self.detect(mirrored), expected)
        with self._lock:
            if again is not None:
                mirror_chip = self.models.recogniser.alignCrop(mirrored, again.row())
            else:
                mirror_chip = cv2.flip(chip, 1)
            return np.asarray(self.models.recogniser.feature(mirror_chip), np.float32).reshape(-1)


def _best_overlap(found: list[SFaceFace], box: Box) -> SFaceFace | None:
    """The detection overlapping ``box`` most, if any overlaps it by IoU 0.3 or more."""
    overlapping = [f for f in found if _iou(f.box, box) >= _SAME_FACE_IOU]
    return max(overlapping, key=lambda f: _iou(f.box, box)) if overlapping else None


def _chin_margin(points: np.ndarray, image_height: int) -> float:
    """How far the image goes on below the mouth, in eye-to-mouth distances (YuNet's points in the
    image's own pixels: eyes, nose, mouth corners).

    Why: YuNet's box stops at the image border, so a frame cut off at the lips still has its whole
    box "inside" (``visible_ratio`` 1.0) and YuNet guesses the mouth; SFace then reads a face that
    is not there (the shared media's CASIA 019 crops, cut at the nose or lips, were most of SFace's
    East Asian false rejections). The chin lies about 0.6-0.7 eye-to-mouth distances below the
    mouth line, so a whole face reads 0.7 or more; 0 is a frame cut at the lips.
    """
    eyes = (points[0].astype(np.float64) + points[1]) / 2
    mouth = (points[3].astype(np.float64) + points[4]) / 2
    distance = float(np.hypot(*(mouth - eyes)))
    if distance < 1e-6:
        return 0.0
    return (image_height - float(mouth[1])) / distance


def _yaw_ratio(points: np.ndarray) -> float:
    """Head-turn proxy from YuNet's points: nose offset from the eye midpoint along the eye line."""
    eye_a, eye_b, nose = points[0].astype(np.float64), points[1].astype(np.float64), points[2].astype(np.float64)
    axis = eye_b - eye_a
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return float("inf")
    return abs(float(np.dot(nose - (eye_a + eye_b) / 2, axis))) / distance**2
