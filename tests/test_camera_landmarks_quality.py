"""Landmark geometry (pure), FaceMesh on real photos, and the quality gates."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.errors import CameraReason
from camera.landmarks import LandmarkDetector, head_angles, landmark_pixels, observation_from_points
from camera.quality import check, is_frontal
from camera.synthetic import observation


@pytest.fixture(scope="module")
def detector():
    with LandmarkDetector(static_images=True) as d:
        yield d


@pytest.fixture(scope="module")
def live_face(detector):
    from tests.conftest import MEDIA_DIR

    path = MEDIA_DIR / "spoof" / "live_person.jpg"
    if not path.is_file():
        pytest.skip("shared media absent")
    image = cv2.imread(str(path))
    return image, detector.detect(image)


def rotate(points: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    centre = points.mean(axis=0)
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    yaw = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    return ((points - centre) @ yaw.T @ pitch.T + centre).astype(np.float32)


@pytest.mark.media
def test_facemesh_gives_plain_frozen_values(live_face) -> None:
    image, obs = live_face
    assert obs is not None and obs.face_count == 1
    assert obs.points.shape == (468, 3) and obs.points.dtype == np.float32
    assert not obs.points.flags.writeable
    assert 0.15 < obs.ear_left < 0.45 and 0.15 < obs.ear_right < 0.45
    assert obs.mouth_ratio < 0.15
    x0, y0, x1, y1 = obs.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    with pytest.raises(AttributeError):
        obs.ear_left = 0.0  # type: ignore[misc]


def _landmark_list(values: list[tuple[float, float, float]], visibility: float | None = None):
    from mediapipe.framework.formats import landmark_pb2

    message = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in values:
        landmark = message.landmark.add(x=x, y=y, z=z)
        if visibility is not None:
            landmark.visibility = visibility
    return message


def test_landmark_pixels_reads_the_serialised_list_like_the_plain_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    values = [tuple(float(v) for v in row) for row in rng.uniform(-0.2, 1.2, (478, 3)).astype(np.float32)]
    values[5] = (0.0, 0.5, 0.0)  # zeros are still written by proto2 fields that were set
    expected = np.array([(x * 640, y * 480, z * 640) for x, y, z in values], dtype=np.float32)
    fast = landmark_pixels(_landmark_list(values).SerializeToString(), 640, 480)
    assert fast.dtype == np.float32 and fast.shape == (478, 3)
    np.testing.assert_array_equal(fast, expected)
    # A layout the record reader does not know (visibility set) is parsed as a message: same values.
    np.testing.assert_array_equal(landmark_pixels(_landmark_list(values, visibility=0.9).SerializeToString(), 640, 480),
                                  expected)
    assert landmark_pixels(b"", 640, 480).shape == (0,)
    # FaceMesh's own layout must take the record reader, not the message parser (the same values
    # either way, so only this tells the 0.02 ms path from the 0.3 ms one).
    import mediapipe.framework.formats as formats

    class Parsed(Exception):
        pass

    class NoParsing:
        class NormalizedLandmarkList:
            @staticmethod
            def FromString(_data: bytes) -> None:  # noqa: N802 - protobuf's name
                raise Parsed

    plain, visible = (_landmark_list(values, visibility).SerializeToString() for visibility in (None, 0.9))
    monkeypatch.setattr(formats, "landmark_pb2", NoParsing)
    np.testing.assert_array_equal(landmark_pixels(plain, 640, 480), expected)
    with pytest.raises(Parsed):
        landmark_pixels(visible, 640, 480)


@pytest.mark.media
def test_the_direct_graph_run_on_the_calling_thread_gives_what_process_gives(media_dir) -> None:
    """camera.solution_runner drives mediapipe's internals and swaps the graph's executor for the
    calling thread: on real frames the landmarks and detections must equal mediapipe's own
    process() with its thread pool, and the swapped graphs start no threads."""
    from mediapipe.python.solutions import face_detection, face_mesh

    from camera.solution_runner import on_calling_thread, run_solution, supports_direct_run

    capture = cv2.VideoCapture(str(media_dir / "videos" / "blink_mouth_plain_bg.mp4"))
    frames = []
    while len(frames) < 20:
        ok, frame = capture.read()
        assert ok
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    frames.append(np.zeros_like(frames[0]))  # no face: both give nothing
    def threads() -> set[str]:  # native threads too (mediapipe's pools are not Python threads)
        return set(os.listdir("/proc/self/task"))

    # Compared as sets of thread ids: a thread of an earlier test may end meanwhile, none may start.
    threads_before = threads()
    with on_calling_thread(face_mesh.FaceMesh, max_num_faces=1, refine_landmarks=True) as direct, \
            on_calling_thread(face_detection.FaceDetection, model_selection=0) as counter:
        assert not threads() - threads_before
        with face_mesh.FaceMesh(max_num_faces=1, refine_landmarks=True) as reference, \
                face_detection.FaceDetection(model_selection=0) as reference_counter:
            assert threads() - threads_before  # the pools the swap avoids
            assert supports_direct_run(direct) and supports_direct_run(counter)
            for frame in frames:
                got = run_solution(direct, frame, "multi_face_landmarks")
                want = reference.process(frame).multi_face_landmarks or []
                assert got == [face.SerializeToString() for face in want]
                assert len(run_solution(counter, frame, "detections")) == \
                    len(reference_counter.process(frame).detections or [])
            assert len(run_solution(counter, frames[0], "detections")) == 1


def test_a_solution_without_the_internals_is_run_through_process() -> None:
    from types import SimpleNamespace

    from camera.solution_runner import run_solution

    face = _landmark_list([(0.5, 0.5, 0.0)])

    class PublicOnly:
        def process(self, rgb):  # noqa: ANN001, ANN202
            return SimpleNamespace(multi_face_landmarks=[face])

    assert run_solution(PublicOnly(), np.zeros((4, 4, 3), np.uint8), "multi_face_landmarks") == [face.SerializeToString()]
    with pytest.raises(ValueError):
        run_solution(PublicOnly(), np.zeros((4, 4), np.uint8), "multi_face_landmarks")


@pytest.mark.media
def test_head_angles_follow_a_rotation_of_the_face(live_face) -> None:
    _, obs = live_face
    yaw0, pitch0, _ = head_angles(obs.points)
    turned_left = observation_from_points(rotate(obs.points, yaw_deg=20), 1, obs.image_size)
    turned_right = observation_from_points(rotate(obs.points, yaw_deg=-20), 1, obs.image_size)
    # Unmirrored camera: the nose moving to the image's right is the person's own left (yaw > 0).
    assert turned_left.points[1, 0] > obs.points[1, 0]
    assert turned_left.yaw_deg - yaw0 == pytest.approx(20, abs=6)
    assert turned_right.yaw_deg - yaw0 == pytest.approx(-20, abs=6)
    looking_up = observation_from_points(rotate(obs.points, pitch_deg=15), 1, obs.image_size)
    assert looking_up.points[1, 1] < obs.points[1, 1]  # the nose rises in the image
    assert looking_up.pitch_deg > pitch0 + 8


def test_an_empty_frame_has_no_face_and_bad_arrays_are_refused(detector) -> None:
    assert detector.detect(np.zeros((240, 320, 3), dtype=np.uint8)) is None
    with pytest.raises(ValueError):
        detector.detect(np.zeros((240, 320), dtype=np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((240, 320, 3), dtype=np.float32))


@pytest.mark.media
def test_a_cut_off_face_is_not_guessed(detector, media_dir: Path, config) -> None:
    """casia 019_4 cuts part of the face off: either no face, or one that fails a gate."""
    matches = sorted((media_dir / "faces" / "casia" / "019").glob("*4*"))
    if not matches:
        pytest.skip("casia 019_4 not present")
    image = cv2.imread(str(matches[0]))
    obs = detector.detect(image)
    if obs is not None:
        assert not check(image, obs, config.quality).ok


def grey(value: int, size=(480, 640)) -> np.ndarray:
    return np.full((*size, 3), value, dtype=np.uint8)


def textured(value: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.integers(-40, 40, size=(480, 640, 1))
    return np.clip(value + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)


@pytest.mark.parametrize(
    ("obs_kwargs", "image_value", "reason"),
    [
        (None, 120, CameraReason.NO_FACE),
        ({"faces": 2}, 120, CameraReason.MULTIPLE_FACES),
        ({"width_px": 60.0}, 120, CameraReason.FACE_TOO_SMALL),
        ({"width_px": 600.0}, 120, CameraReason.FACE_TOO_CLOSE),
        ({"centre": (520.0, 240.0)}, 120, CameraReason.OFF_CENTRE),
        ({"yaw_deg": 30.0}, 120, CameraReason.TURNED_AWAY),
        ({"pitch_deg": -35.0}, 120, CameraReason.TURNED_AWAY),
        ({}, 20, CameraReason.TOO_DARK),
        ({}, 245, CameraReason.TOO_BRIGHT),
        ({"ear": 0.05}, 120, CameraReason.EYES_NOT_VISIBLE),
    ],
)
def test_each_gate_names_its_reason(config, obs_kwargs, image_value: int, reason: CameraReason) -> None:
    obs = observation(**obs_kwargs) if obs_kwargs is not None else None
    report = check(textured(image_value), obs, config.quality)
    assert report.reason == reason


def test_a_good_face_passes_every_gate(config) -> None:
    report = check(textured(120), observation(), config.quality)
    assert report.ok, report
    assert report.brightness == pytest.approx(120, abs=10) and report.sharpness > config.quality.min_sharpness


def test_a_flat_face_is_blurred(config) -> None:
    assert check(grey(120), observation(), config.quality).reason == CameraReason.BLURRED


def test_a_dark_face_against_a_bright_window_is_backlit(config) -> None:
    image = textured(240)
    obs = observation()
    x0, y0, x1, y1 = (int(v) for v in obs.box)
    image[y0:y1, x0:x1] = textured(40)[y0:y1, x0:x1]
    assert check(image, obs, config.quality).reason == CameraReason.BACKLIT


def test_ignored_gates_are_skipped(config) -> None:
    obs = observation(ear=0.05, yaw_deg=30.0)
    report = check(textured(120), obs, config.quality,
                   ignore=frozenset({CameraReason.EYES_NOT_VISIBLE, CameraReason.TURNED_AWAY}))
    assert report.ok
    assert not is_frontal(obs, config.quality) and is_frontal(observation(), config.quality)


def test_close_frees_both_graphs_even_when_the_first_fails() -> None:
    closed: list[str] = []

    class Graph:
        def __init__(self, name: str, error: Exception | None = None) -> None:
            self.name, self.error = name, error

        def close(self) -> None:
            closed.append(self.name)
            if self.error:
                raise self.error

    detector = LandmarkDetector.__new__(LandmarkDetector)  # the graphs are fakes: no model needed
    detector._mesh, detector._counter = Graph("mesh", RuntimeError("graph error")), Graph("counter")
    with pytest.raises(RuntimeError, match="graph error"):
        detector.close()
    assert closed == ["mesh", "counter"]
    detector.close()  # idempotent: nothing left to close
    assert closed == ["mesh", "counter"]
