"""Face landmarks with mediapipe FaceMesh, turned at once into plain frozen values.

mediapipe types never leave this module: :meth:`LandmarkDetector.detect` returns a
:class:`FaceObservation` holding numpy arrays and floats only.

Coordinates: pixels of the analysed image, x to the right, y down, origin top-left. ``points`` is
(468, 3) float32 with z in the same pixel scale as x (mediapipe's relative depth times the image
width; smaller z is nearer the camera). Angles are degrees: yaw > 0 when the person turns their head
to their own left (the face moves toward the image's right edge in an unmirrored camera), pitch > 0
when they look up, roll > 0 when the head tilts clockwise in the image.

Thread rules: a :class:`LandmarkDetector` is not thread-safe (FaceMesh keeps tracking state between
frames); use one per thread and feed it frames in time order. The geometry functions are pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camera.errors import CameraError, CameraReason

# FaceMesh indices (canonical 468-point topology). "Right eye" is the person's right eye, which
# appears on the image's left in an unmirrored camera.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # outer corner, two upper lid, inner corner, two lower lid
LEFT_EYE = (362, 385, 387, 263, 373, 380)
MOUTH_INNER_TOP, MOUTH_INNER_BOTTOM = 13, 14
MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT = 61, 291
FOREHEAD, CHIN = 10, 152
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
NOSE_TIP = 1
# Iris centres exist only with refine_landmarks=True (points 468-477); we keep the first 468 points
# for geometry and report whether the irises were found.
RIGHT_IRIS, LEFT_IRIS = 468, 473
# The forehead-chin line of the mesh leans back about this much when a person faces the camera
# squarely (measured on the frontal shared clips); subtracting it makes a frontal pitch read ~0.
_PITCH_OFFSET_DEG = -9.0
# Nose-tip depth in front of the outer eye corners over the corner span (42 mm / 90 mm).
_NOSE_DEPTH_OVER_CORNER_SPAN = 0.467


@dataclass(frozen=True, eq=False)
class FaceObservation:
    """What FaceMesh saw of the most prominent face in one frame (plain values, immutable).

    ``box`` is (x0, y0, x1, y1) in pixels around all landmarks; ``points`` (468, 3) float32;
    ``ear_left``/``ear_right`` eye aspect ratios (height over width, about 0.25-0.35 open, below
    0.15 closed, person's own left/right); ``mouth_ratio`` inner-lip gap over mouth width (about 0
    closed, above 0.3 wide open); ``yaw_deg``/``pitch_deg``/``roll_deg`` head angles;
    ``face_count`` faces found in the frame (up to the detector's maximum).
    """

    box: tuple[float, float, float, float]
    points: np.ndarray
    ear_left: float
    ear_right: float
    mouth_ratio: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    face_count: int
    image_size: tuple[int, int]  # (width, height) in pixels

    @property
    def width_px(self) -> float:
        """Width of the landmark box in pixels."""
        return self.box[2] - self.box[0]

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the landmark box in pixels (x, y)."""
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @property
    def ear_mean(self) -> float:
        """Mean eye aspect ratio of both eyes."""
        return (self.ear_left + self.ear_right) / 2.0

    @property
    def inter_ocular_px(self) -> float:
        """Distance between the outer eye corners in pixels (a scale for the face)."""
        return float(np.linalg.norm(self.points[LEFT_EYE_OUTER, :2] - self.points[RIGHT_EYE_OUTER, :2]))


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, int, int, int, int, int]) -> float:
    """Soukupova-Cech eye aspect ratio: mean lid distance over corner distance (unitless)."""
    p = points[list(eye), :2].astype(np.float64)
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = np.linalg.norm(p[0] - p[3])
    return float(vertical / (2.0 * horizontal)) if horizontal > 1e-6 else 0.0


def mouth_ratio(points: np.ndarray) -> float:
    """Inner-lip opening over mouth-corner distance (unitless, 0 when closed)."""
    gap = np.linalg.norm(points[MOUTH_INNER_TOP, :2] - points[MOUTH_INNER_BOTTOM, :2])
    width = np.linalg.norm(points[MOUTH_CORNER_RIGHT, :2] - points[MOUTH_CORNER_LEFT, :2])
    return float(gap / width) if width > 1e-6 else 0.0


def head_angles(points: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees (see the module docstring for the signs).

    Yaw comes from where the nose tip falls between the outer eye corners in the image: with the
    corners about 90 mm apart and the nose tip about 42 mm in front of them (adult anthropometry),
    ``r - 0.5 = 0.467 tan(yaw)`` where ``r`` is the nose tip's fractional position. FaceMesh's own
    depth is flattened (a 25 degree three-quarter view reads about 16 degrees in 3-D), so the 2-D
    cue is the better yaw. Pitch and roll come from the 3-D landmark frame (x: right to left outer
    eye corner, y: chin to forehead, made orthonormal). Costs microseconds, needs no intrinsics.
    """
    p = points.astype(np.float64)
    corner_span = p[LEFT_EYE_OUTER, 0] - p[RIGHT_EYE_OUTER, 0]
    r = (p[NOSE_TIP, 0] - p[RIGHT_EYE_OUTER, 0]) / corner_span if abs(corner_span) > 1e-6 else 0.5
    yaw = math.degrees(math.atan2(r - 0.5, _NOSE_DEPTH_OVER_CORNER_SPAN))
    x_axis = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    y_axis = p[FOREHEAD] - p[CHIN]
    y_axis[1] = -y_axis[1]  # image y points down; make "up" positive
    x_axis[1] = -x_axis[1]
    x_axis /= np.linalg.norm(x_axis) + 1e-12
    y_axis -= x_axis * float(np.dot(x_axis, y_axis))
    y_axis /= np.linalg.norm(y_axis) + 1e-12
    z_axis = np.cross(x_axis, y_axis)
    pitch = -math.degrees(math.atan2(z_axis[1], math.hypot(z_axis[0], z_axis[2]))) - _PITCH_OFFSET_DEG
    roll = math.degrees(math.atan2(-x_axis[1], x_axis[0]))
    return yaw, pitch, roll


def observation_from_points(points: np.ndarray, face_count: int, image_size: tuple[int, int]) -> FaceObservation:
    """Builds a :class:`FaceObservation` from (N>=468, 3) pixel landmarks (pure; used by tests too)."""
    pts = np.ascontiguousarray(points[:468], dtype=np.float32)
    pts.setflags(write=False)
    x0, y0 = float(pts[:, 0].min()), float(pts[:, 1].min())
    x1, y1 = float(pts[:, 0].max()), float(pts[:, 1].max())
    yaw, pitch, roll = head_angles(pts)
    return FaceObservation(
        box=(x0, y0, x1, y1),
        points=pts,
        ear_left=eye_aspect_ratio(pts, LEFT_EYE),
        ear_right=eye_aspect_ratio(pts, RIGHT_EYE),
        mouth_ratio=mouth_ratio(pts),
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        face_count=face_count,
        image_size=image_size,
    )


class LandmarkDetector:
    """mediapipe FaceMesh (irises on) over BGR frames; one instance per thread, frames in order.

    ``max_faces`` is 2 so that a second face can be reported (the quality gate needs to know about
    it) without paying for more. Raises :class:`CameraError` ``landmark_model_unavailable`` when the
    model cannot be loaded. Call :meth:`close` (or use ``with``) to free the graph.
    """

    def __init__(self, *, max_faces: int = 2, static_images: bool = False,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        try:
            from mediapipe.python.solutions import face_mesh  # heavy import: only here

            self._mesh = face_mesh.FaceMesh(
                static_image_mode=static_images,
                max_num_faces=max_faces,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
        except Exception as exc:  # noqa: BLE001 - any failure here means the model is unusable
            raise CameraError(CameraReason.LANDMARK_MODEL_UNAVAILABLE,
                              f"FaceMesh could not be loaded: {type(exc).__name__}: {exc}") from exc

    def detect(self, image_bgr: np.ndarray) -> FaceObservation | None:
        """Landmarks of the largest face in ``image_bgr`` (H, W, 3 uint8), or None when there is none.

        Raises ValueError for an image that is not 3-channel uint8.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got shape {image_bgr.shape} {image_bgr.dtype}")
        height, width = image_bgr.shape[:2]
        rgb = image_bgr[:, :, ::-1]
        rgb = np.ascontiguousarray(rgb)
        rgb.flags.writeable = False
        result = self._mesh.process(rgb)
        faces = result.multi_face_landmarks
        if not faces:
            return None
        best: np.ndarray | None = None
        best_width = -1.0
        for face in faces:
            arr = np.array([(lm.x * width, lm.y * height, lm.z * width) for lm in face.landmark], dtype=np.float32)
            face_width = float(arr[:468, 0].max() - arr[:468, 0].min())
            if face_width > best_width:
                best, best_width = arr, face_width
        assert best is not None
        return observation_from_points(best, len(faces), (width, height))

    def close(self) -> None:
        """Frees the mediapipe graph (idempotent)."""
        mesh, self._mesh = getattr(self, "_mesh", None), None
        if mesh is not None:
            mesh.close()

    def __enter__(self) -> LandmarkDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
