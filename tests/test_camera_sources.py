"""Frame sources: files with media time, image folders, and a device through a fake camera
(unplug and replug, stale frames dropped, measured frame rate)."""

from __future__ import annotations

import itertools
import queue
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.errors import CameraError, CameraReason
from camera.settings import CameraSettings
from camera.sources import DeviceSource, FileSource, ImageFolderSource, open_source, url_for_path

WAIT_S = 5.0  # generous upper bound for a thread hand-over; never a timing assertion


@pytest.fixture
def settings(config) -> CameraSettings:
    return config.camera.model_copy(update={"frame_timeout_s": 0.05, "reconnect_max_backoff_s": 0.05})


def write_clip(path: Path, frames: int = 12, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 20, dtype=np.uint8))
    writer.release()
    return path


def drain(source) -> list:
    frames = []
    while (frame := source.next_frame(0.1)) is not None:
        frames.append(frame)
    return frames


def test_urls_name_their_source(settings, tmp_path: Path) -> None:
    assert isinstance(open_source("device:0", settings), DeviceSource)
    assert isinstance(open_source("device:/dev/video2", settings), DeviceSource)
    assert isinstance(open_source("/dev/video0", settings), DeviceSource)
    assert isinstance(open_source("file:clip.mp4", settings), FileSource)
    assert isinstance(open_source("images:folder/", settings), ImageFolderSource)
    assert url_for_path(tmp_path) == f"images:{tmp_path}"
    assert url_for_path("a/b.JPG") == "images:a/b.JPG"
    assert url_for_path("a/b.mp4") == "file:a/b.mp4"


@pytest.mark.parametrize("url", ["", "camera", "device:", "device:front", "rtsp://host/stream", "file:"])
def test_bad_urls_are_refused_with_a_code(settings, url: str) -> None:
    with pytest.raises(CameraError) as error:
        open_source(url, settings)
    assert error.value.code == CameraReason.CAMERA_URL_INVALID


def test_a_file_gives_every_frame_with_its_media_time_the_same_way_twice(settings, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=12, fps=25.0)
    runs = []
    for _ in range(2):
        source = open_source(f"file:{clip}", settings)
        source.start()
        frames = drain(source)
        assert source.ended
        source.stop()
        runs.append([(f.index, round(f.t_s, 4)) for f in frames])
    assert runs[0] == runs[1]
    assert [i for i, _ in runs[0]] == list(range(12))
    assert [t for _, t in runs[0]] == pytest.approx([i / 25.0 for i in range(12)], abs=1e-3)
    assert source.fps == pytest.approx(25.0)


def test_frames_are_read_only(settings, tmp_path: Path) -> None:
    source = open_source(f"file:{write_clip(tmp_path / 'clip.avi')}", settings)
    source.start()
    frame = source.latest()
    with pytest.raises(ValueError):
        frame.image[0, 0, 0] = 1


def test_missing_or_undecodable_files_raise_camera_unavailable(settings, tmp_path: Path) -> None:
    with pytest.raises(CameraError) as error:
        open_source(f"file:{tmp_path / 'absent.mp4'}", settings).start()
    assert error.value.code == CameraReason.CAMERA_UNAVAILABLE
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(CameraError) as error:
        source = open_source(f"file:{junk}", settings)
        source.start()
        source.latest()
    assert error.value.code in (CameraReason.CAMERA_UNAVAILABLE, CameraReason.CAMERA_SOURCE_EMPTY)


def test_an_image_folder_plays_in_name_order_and_skips_broken_files(settings, tmp_path: Path) -> None:
    for name, value in (("b.png", 200), ("a.png", 100), ("c.jpg", 50)):
        cv2.imwrite(str(tmp_path / name), np.full((20, 30, 3), value, dtype=np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(f"images:{tmp_path}", settings)
    source.start()
    frames = drain(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [100, 200, 50]  # a, b, (broken skipped), c
    assert [f.t_s for f in frames] == pytest.approx([0.0, 1 / settings.fps, 2 / settings.fps])
    assert source.ended



def test_an_image_folder_skips_a_decompression_bomb_without_decoding_it(settings, tmp_path: Path) -> None:
    """A 0.9 MB PNG of 30000x30000 px would take 2.7 GB decoded; it is refused from its header."""
    from test_matching_image_limits import bomb_png

    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 30, 3), 100, dtype=np.uint8))
    (tmp_path / "b.png").write_bytes(bomb_png(30000, 30000))
    cv2.imwrite(str(tmp_path / "c.png"), np.full((20, 30, 3), 50, dtype=np.uint8))
    source = open_source(f"images:{tmp_path}", settings)
    source.start()
    assert [int(f.image[0, 0, 0]) for f in drain(source)] == [100, 50]

def test_an_empty_folder_is_camera_source_empty(settings, tmp_path: Path) -> None:
    with pytest.raises(CameraError) as error:
        open_source(f"images:{tmp_path}", settings).start()
    assert error.value.code == CameraReason.CAMERA_SOURCE_EMPTY


class FakeCamera:
    """A camera the test feeds frame by frame, and can unplug and plug in again."""

    def __init__(self) -> None:
        self.frames: queue.Queue[np.ndarray] = queue.Queue()
        self.plugged = True
        self.opens = 0

    def opener(self, device: int | str) -> FakeCapture:
        self.opens += 1
        return FakeCapture(self, self.plugged)


class FakeCapture:
    def __init__(self, camera: FakeCamera, opened: bool) -> None:
        self.camera, self.opened = camera, opened

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's spelling
        return self.opened and self.camera.plugged

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.isOpened():
            return False, None
        try:
            return True, self.camera.frames.get(timeout=0.01)
        except queue.Empty:
            return False, None

    def release(self) -> None:
        self.opened = False


def image(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, dtype=np.uint8)


def test_a_device_that_cannot_open_raises_camera_unavailable(settings) -> None:
    camera = FakeCamera()
    camera.plugged = False
    with pytest.raises(CameraError) as error:
        open_source("device:0", settings, opener=camera.opener).start()
    assert error.value.code == CameraReason.CAMERA_UNAVAILABLE


def test_stale_frames_are_dropped_not_queued(settings) -> None:
    camera = FakeCamera()
    source = open_source("device:0", settings, opener=camera.opener)
    source.start()
    try:
        for value in range(5):
            camera.frames.put(image(value))
        deadline = threading.Event()
        while not camera.frames.empty() and not deadline.wait(0.01):
            pass
        newest = None
        for _ in range(50):
            frame = source.next_frame(WAIT_S)
            newest = frame if frame is not None else newest
            if newest is not None and int(newest.image[0, 0, 0]) == 4:
                break
        assert newest is not None and int(newest.image[0, 0, 0]) == 4
        assert source.latest() is None  # nothing newer: the consumer never sees a frame twice
        assert source.dropped >= 1
    finally:
        source.stop()


def test_the_camera_is_reopened_after_an_unplug(settings) -> None:
    camera = FakeCamera()
    source = open_source("device:0", settings, opener=camera.opener)
    source.start()
    try:
        camera.frames.put(image(1))
        assert source.next_frame(WAIT_S) is not None
        camera.plugged = False
        while source.connected:
            source.next_frame(0.02)
        camera.plugged = True
        camera.frames.put(image(2))
        frame = source.next_frame(WAIT_S)
        while frame is not None and int(frame.image[0, 0, 0]) != 2:
            frame = source.next_frame(WAIT_S)
        assert frame is not None
        assert source.connected and source.reconnects >= 1 and camera.opens >= 2
    finally:
        source.stop()


def test_the_reported_frame_rate_is_the_delivered_one(settings) -> None:
    class Steady(FakeCapture):
        def read(self) -> tuple[bool, np.ndarray]:
            return True, image(0)

    ticks = itertools.count()
    source = DeviceSource("device:0", 0, settings, opener=lambda device: Steady(FakeCamera(), True),
                          clock=lambda: next(ticks) / 25.0)
    source.start()
    try:
        for _ in range(100):
            source.next_frame(WAIT_S)
        assert source.fps == pytest.approx(25.0, rel=0.01)
        assert not source.ended
    finally:
        source.stop()


@pytest.mark.parametrize(("pixel_format", "fourcc"), [("YUYV", "YUYV"), ("MJPG", "MJPG"), ("auto", None)])
def test_the_device_is_asked_for_the_configured_pixel_format_before_its_size(
        settings, monkeypatch: pytest.MonkeyPatch, pixel_format: str, fourcc: str | None) -> None:
    import camera.sources as sources

    calls: list[tuple[int, float]] = []

    class RecordingCapture:
        def __init__(self, device, backend) -> None:  # noqa: ANN001
            assert backend == cv2.CAP_V4L2

        def set(self, prop: int, value: float) -> bool:
            calls.append((prop, value))
            return True

    monkeypatch.setattr(sources.cv2, "VideoCapture", RecordingCapture)
    source = DeviceSource("device:0", 0, settings.model_copy(update={"pixel_format": pixel_format}))
    source._open_v4l2(0)
    props = [prop for prop, _ in calls]
    if fourcc is None:
        assert cv2.CAP_PROP_FOURCC not in props
    else:
        assert calls[0] == (cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*fourcc))
        assert props.index(cv2.CAP_PROP_FOURCC) < props.index(cv2.CAP_PROP_FRAME_WIDTH)
    assert (cv2.CAP_PROP_FRAME_WIDTH, settings.width_px) in calls
