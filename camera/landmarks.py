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

import cv2
import numpy as np

from camera.errors import CameraError, CameraReason
from camera.solution_runner import on_calling_thread, run_solution

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
    ``face_count`` faces found in the frame (up to the detector's maximum); ``counter_ran`` True when
    the face counter ran on this very frame (about 1.6 ms that optional per-frame work, the passive
    attack checks, then leaves to the next frame so that no frame pays for both).
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
    counter_ran: bool = False

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


def observation_from_points(points: np.ndarray, face_count: int, image_size: tuple[int, int], *,
                            counter_ran: bool = False) -> FaceObservation:
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
        counter_ran=counter_ran,
    )


# How a NormalizedLandmarkList holding only x, y, z serialises: per landmark a 2-byte header (field 1,
# length 15) and three float32 fields (tags 0x0d, 0x15, 0x1d), 17 bytes. Reading those records with
# one frombuffer costs 0.02 ms; reading 478 landmarks attribute by attribute cost 0.3 ms per frame.
_LANDMARK_RECORD = np.dtype([("head", "u1", 2), ("x_tag", "u1"), ("x", "<f4"), ("y_tag", "u1"), ("y", "<f4"),
                             ("z_tag", "u1"), ("z", "<f4")])
_LANDMARK_TAGS = {"x_tag": 0x0D, "y_tag": 0x15, "z_tag": 0x1D}


def landmark_pixels(landmarks: bytes, width: int, height: int) -> np.ndarray:
    """(N, 3) float32 pixel coordinates of a serialised mediapipe ``NormalizedLandmarkList`` (z
    scaled by width).

    Reads the bytes directly when every landmark has exactly x, y and z (what FaceMesh produces);
    any other layout (visibility or presence set, a field missing) is parsed as a message.
    """
    if landmarks and len(landmarks) % _LANDMARK_RECORD.itemsize == 0:
        records = np.frombuffer(landmarks, dtype=_LANDMARK_RECORD)
        if ((records["head"] == (0x0A, 0x0F)).all()
                and all((records[name] == tag).all() for name, tag in _LANDMARK_TAGS.items())):
            out = np.empty((len(records), 3), dtype=np.float32)
            out[:, 0] = records["x"] * width
            out[:, 1] = records["y"] * height
            out[:, 2] = records["z"] * width
            return out
    from mediapipe.framework.formats import landmark_pb2  # noqa: PLC0415 - only for unusual layouts

    message = landmark_pb2.NormalizedLandmarkList.FromString(landmarks)
    return np.array([(lm.x * width, lm.y * height, lm.z * width) for lm in message.landmark], dtype=np.float32)


class LandmarkDetector:
    """mediapipe FaceMesh (irises on) over BGR frames; one instance per thread, frames in order.

    FaceMesh tracks one face (asking it for two makes it re-run its face detector on every frame
    that shows only one: 9 ms instead of 4 ms per 640x480 frame on one core). Other faces are counted
    by mediapipe's short-range face detector every ``count_every_n`` frames (30: a second face is
    noticed within a second at 30 fps, and fewer than 5 % of frames pay its 1.6 ms, so the p95 frame
    time does not; see ``FaceObservation.counter_ran``) (and on every frame in ``static_images``
    mode); ``face_count`` carries the latest count. Raises :class:`CameraError`
    ``landmark_model_unavailable`` when a model cannot be loaded. Call :meth:`close` (or use
    ``with``) to free the graphs.
    """

    def __init__(self, *, static_images: bool = False, count_every_n: int = 30,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        if count_every_n < 1:
            raise ValueError("count_every_n must be at least 1")
        try:
            from mediapipe.python.solutions import face_detection, face_mesh  # heavy import: only here

            self._mesh = on_calling_thread(
                face_mesh.FaceMesh,
                static_image_mode=static_images,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
            self._counter = on_calling_thread(face_detection.FaceDetection, model_selection=0,
                                              min_detection_confidence=0.6)
        except Exception as exc:  # noqa: BLE001 - any failure here means the model is unusable
            raise CameraError(CameraReason.LANDMARK_MODEL_UNAVAILABLE,
                              f"FaceMesh could not be loaded: {type(exc).__name__}: {exc}") from exc
        self._count_every = 1 if static_images else count_every_n
        self._frames = 0
        self._face_count = 1

    def detect(self, image_bgr: np.ndarray) -> FaceObservation | None:
        """Landmarks of the face in ``image_bgr`` (H, W, 3 uint8), or None when there is none.

        Raises ValueError for an image that is not 3-channel uint8.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got shape {image_bgr.shape} {image_bgr.dtype}")
        height, width = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)  # contiguous copy; far cheaper than [..., ::-1]
        rgb.flags.writeable = False
        counted = self._frames % self._count_every == 0
        if counted:
            self._face_count = len(run_solution(self._counter, rgb, "detections"))
        self._frames += 1
        faces = run_solution(self._mesh, rgb, "multi_face_landmarks")
        if not faces:
            return None
        # In static_images mode every image is counted: there is no frame rate to protect.
        return observation_from_points(landmark_pixels(faces[0], width, height), max(1, self._face_count), (width, height),
                                       counter_ran=counted and self._count_every > 1)

    def close(self) -> None:
        """Frees the mediapipe graphs (idempotent); both are closed even when the first one raises,
        and then its error is raised."""
        failure: BaseException | None = None
        for name in ("_mesh", "_counter"):
            graph = getattr(self, name, None)
            setattr(self, name, None)
            if graph is not None:
                try:
                    graph.close()
                except Exception as exc:  # noqa: BLE001 - raised once the other graph is closed too
                    failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> LandmarkDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
