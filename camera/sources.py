"""Frame sources addressed by URL: a camera device, a video file or a folder of images.

``open_source(url, settings)`` returns a :class:`FrameSource`:

* ``device:0`` / ``device:/dev/video0`` / ``/dev/video0``: a V4L2 camera asked for the configured
  size and frame rate. A capture thread keeps only the newest frame (a slow consumer gets fresh
  frames, never a queue of stale ones), counts the frames it overwrote, measures the real frame rate
  and reopens the camera with exponential backoff when it is unplugged (no frame for
  ``frame_timeout_s``). ``Frame.t_s`` is ``time.monotonic()`` at capture.
* ``file:clip.mp4``: every frame of the file in order, decoded on demand by the consumer (no thread,
  nothing dropped), ``Frame.t_s`` is the frame's media time, so an offline run is deterministic.
* ``images:folder/`` (or ``images:photo.jpg``): the images in name order, ``t_s = index / fps``.

Thread rules: ``start``/``stop`` from the owning thread; ``latest``/``next_frame`` from one consumer
thread. Frames are immutable (their arrays are read-only) and may be handed to other threads.
Privacy: frames hold a person's face; never log or persist them here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from camera.errors import CameraError, CameraReason
from camera.settings import CameraSettings

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm"})


@dataclass(frozen=True, eq=False)
class Frame:
    """One picture: ``image`` BGR uint8 (H, W, 3) read-only; ``t_s`` seconds (media time for files and
    image folders, ``time.monotonic()`` for devices); ``index`` counts frames from 0 in source order
    (for devices, gaps mean frames the consumer never took)."""

    image: np.ndarray
    t_s: float
    index: int


class FrameSource(Protocol):
    """What the kiosk and the offline tools read frames from."""

    url: str

    def start(self) -> None:
        """Opens the source; raises :class:`CameraError` (``camera_unavailable`` ...) when it cannot."""

    def latest(self) -> Frame | None:
        """The newest frame not yet returned, or None when there is none right now (never blocks)."""

    def next_frame(self, timeout_s: float) -> Frame | None:
        """Like :meth:`latest` but waits up to ``timeout_s`` seconds for a new frame."""

    @property
    def fps(self) -> float:
        """Measured frames per second (files: the file's nominal rate)."""

    @property
    def ended(self) -> bool:
        """True once a file or folder has delivered its last frame (devices never end)."""

    def stop(self) -> None:
        """Releases the device or file (idempotent)."""


def url_for_path(path: str | Path) -> str:
    """The source URL for a path given on a command line: a folder or image -> ``images:``, else ``file:``."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES:
        return f"images:{p}"
    return f"file:{p}"


def open_source(url: str, settings: CameraSettings, *, opener: Callable[[int | str], Any] | None = None,
                clock: Callable[[], float] = time.monotonic) -> FrameSource:
    """Builds the source named by ``url`` (not yet started; call ``start()``).

    ``opener`` replaces ``cv2.VideoCapture`` for devices and ``clock`` the capture timestamps (tests
    pass a fake camera and a fake clock). Raises
    :class:`CameraError` ``camera_url_invalid`` for an unknown scheme or a malformed device number.
    """
    scheme, sep, rest = url.partition(":")
    if url.startswith("/dev/"):
        return DeviceSource(url, url, settings, opener=opener, clock=clock)
    if not sep or not rest:
        raise CameraError(CameraReason.CAMERA_URL_INVALID, f"camera URL {url!r} has no scheme (device:, file:, images:)")
    if scheme == "device":
        if rest.isdigit():
            return DeviceSource(url, int(rest), settings, opener=opener, clock=clock)
        if rest.startswith("/"):
            return DeviceSource(url, rest, settings, opener=opener, clock=clock)
        raise CameraError(CameraReason.CAMERA_URL_INVALID, f"camera URL {url!r}: expected device:N or device:/dev/videoN")
    if scheme == "file":
        return FileSource(url, Path(rest))
    if scheme == "images":
        return ImageFolderSource(url, Path(rest), settings.fps)
    raise CameraError(CameraReason.CAMERA_URL_INVALID, f"camera URL {url!r}: unknown scheme {scheme!r}")


def _readonly(image: np.ndarray) -> np.ndarray:
    image.setflags(write=False)
    return image


class _OnDemandSource:
    """A source decoded on the consumer's thread when asked: nothing is dropped, nothing waits."""

    _fps: float

    def latest(self) -> Frame | None:
        raise NotImplementedError

    def next_frame(self, timeout_s: float) -> Frame | None:
        """Same as :meth:`latest` (decoding is synchronous; ``timeout_s`` is not needed)."""
        return self.latest()

    @property
    def fps(self) -> float:
        """The nominal frame rate (the file's own, or the configured one for image folders)."""
        return self._fps


class FileSource(_OnDemandSource):
    """Every frame of a video file, in order, with its media timestamp (see the module docstring)."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self._path = path
        self._capture: Any = None
        self._index = 0
        self._ended = False
        self._fps = 0.0

    def start(self) -> None:
        """Opens the file; raises ``camera_unavailable`` when it is missing or not a decodable video."""
        if not self._path.is_file():
            raise CameraError(CameraReason.CAMERA_UNAVAILABLE, f"video file not found: {self._path}")
        capture = cv2.VideoCapture(str(self._path))
        if not capture.isOpened():
            raise CameraError(CameraReason.CAMERA_UNAVAILABLE, f"not a video OpenCV can decode: {self._path}")
        self._capture, self._index, self._ended = capture, 0, False
        self._fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def latest(self) -> Frame | None:
        """The next frame of the file (files are never dropped: offline runs see every frame)."""
        if self._capture is None or self._ended:
            return None
        ok, image = self._capture.read()
        if not ok or image is None:
            self._ended = True
            if self._index == 0:
                raise CameraError(CameraReason.CAMERA_SOURCE_EMPTY, f"no decodable frame in {self._path}")
            return None
        msec = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        # Some containers report 0 for every frame; fall back to the nominal rate.
        t_s = msec / 1000.0 if (msec > 0 or self._index == 0) else self._index / (self._fps or 30.0)
        frame = Frame(_readonly(image), t_s, self._index)
        self._index += 1
        return frame

    @property
    def ended(self) -> bool:
        """True after the last frame was returned."""
        return self._ended

    def stop(self) -> None:
        """Closes the file."""
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()


class ImageFolderSource(_OnDemandSource):
    """The images of a folder in name order (or one image file), ``t_s = index / fps``."""

    def __init__(self, url: str, path: Path, fps: float) -> None:
        self.url = url
        self._path = path
        self._fps = fps
        self._files: list[Path] = []
        self._next = 0
        self._index = 0

    def start(self) -> None:
        """Lists the images; raises ``camera_unavailable`` (missing) or ``camera_source_empty`` (no images)."""
        if self._path.is_file():
            files = [self._path]
        elif self._path.is_dir():
            files = sorted(p for p in self._path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise CameraError(CameraReason.CAMERA_UNAVAILABLE, f"image folder not found: {self._path}")
        if not files:
            raise CameraError(CameraReason.CAMERA_SOURCE_EMPTY, f"no images in {self._path}")
        self._files, self._next, self._index = files, 0, 0

    def latest(self) -> Frame | None:
        """The next readable image; an unreadable or oversized file (a decompression bomb is refused
        from its header, before decoding) is skipped with a warning (by position only)."""
        from camera.matching.errors import MatchError
        from camera.matching.templates import read_image  # the one guarded image reader

        while self._next < len(self._files):
            position = self._next
            self._next += 1
            try:
                image = read_image(self._files[position])
            except MatchError as exc:
                log.warning("image %d of the source skipped (%s)", position, exc.code)
                continue
            frame = Frame(_readonly(image), self._index / self._fps, self._index)
            self._index += 1
            return frame
        return None

    @property
    def ended(self) -> bool:
        """True once every image was returned."""
        return bool(self._files) and self._next >= len(self._files)

    def stop(self) -> None:
        """Nothing to release."""
        self._files = []
        self._next = 0


class DeviceSource:
    """A camera read by a capture thread that keeps only the newest frame (see the module docstring)."""

    def __init__(self, url: str, device: int | str, settings: CameraSettings,
                 *, opener: Callable[[int | str], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._clock = clock
        self._device = device
        self._settings = settings
        self._opener = opener or self._open_v4l2
        self._lock = threading.Condition()
        self._frame: Frame | None = None
        self._taken_index = -1
        self._index = 0
        self._dropped = 0
        self._reconnects = 0
        self._connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture: Any = None
        self._stamps: list[float] = []

    def _open_v4l2(self, device: int | str) -> Any:
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if self._settings.pixel_format != "auto":
            # The format goes first: V4L2 picks the frame sizes and rates the format offers.
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self._settings.pixel_format))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._settings.width_px)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._settings.height_px)
        capture.set(cv2.CAP_PROP_FPS, self._settings.fps)
        # One buffered frame: the driver must not hold a queue of stale pictures either.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def _try_open(self) -> bool:
        try:
            capture = self._opener(self._device)
        except Exception as exc:  # noqa: BLE001 - any driver failure means "not there now"
            log.debug("camera open raised %s", type(exc).__name__)
            return False
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            return False
        self._capture = capture
        return True

    def start(self) -> None:
        """Opens the camera and starts the capture thread; raises ``camera_unavailable`` when the first
        open fails (later failures are retried in the background, see :attr:`connected`)."""
        if self._thread is not None:
            return
        if not self._try_open():
            raise CameraError(CameraReason.CAMERA_UNAVAILABLE, f"camera {self.url} could not be opened")
        self._connected = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"capture {self.url}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff_s = 0.1
        last_frame_at = self._clock()
        while not self._stop.is_set():
            if self._capture is None:
                if self._try_open():
                    self._reconnects += 1
                    self._set_connected(True)
                    log.info("camera %s reopened", self.url)
                    backoff_s, last_frame_at = 0.1, self._clock()
                else:
                    self._stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2.0, self._settings.reconnect_max_backoff_s)
                continue
            ok, image = self._capture.read()
            now = self._clock()
            if ok and image is not None:
                last_frame_at = now
                self._publish(image, now)
            elif now - last_frame_at > self._settings.frame_timeout_s or not self._capture.isOpened():
                log.warning("camera %s stopped delivering frames; reopening", self.url)
                self._capture.release()
                self._capture = None
                self._set_connected(False)
            else:
                self._stop.wait(0.005)  # a failed read returns at once: don't spin
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _set_connected(self, value: bool) -> None:
        with self._lock:
            self._connected = value
            if not value:
                self._stamps.clear()  # the measured rate restarts with the camera
            self._lock.notify_all()

    def _publish(self, image: np.ndarray, now: float) -> None:
        frame = Frame(_readonly(image), now, self._index)
        with self._lock:
            if self._frame is not None and self._frame.index > self._taken_index:
                self._dropped += 1  # overwritten before anyone took it: stale, not queued
            self._frame = frame
            self._index += 1
            self._stamps.append(now)
            if len(self._stamps) > 60:
                del self._stamps[:-60]
            self._lock.notify_all()

    def _take(self) -> Frame | None:
        frame = self._frame
        if frame is None or frame.index <= self._taken_index:
            return None
        self._taken_index = frame.index
        return frame

    def latest(self) -> Frame | None:
        """The newest captured frame if it is newer than the last one returned, else None."""
        with self._lock:
            return self._take()

    def next_frame(self, timeout_s: float) -> Frame | None:
        """Waits up to ``timeout_s`` seconds for a frame newer than the last one returned."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                frame = self._take()
                remaining = deadline - time.monotonic()
                if frame is not None or remaining <= 0 or self._stop.is_set():
                    return frame
                self._lock.wait(remaining)

    @property
    def fps(self) -> float:
        """Frames per second actually delivered over the last (up to) 60 frames; 0 before two frames."""
        with self._lock:
            stamps = list(self._stamps)
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return 0.0
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])

    @property
    def ended(self) -> bool:
        """A camera never ends."""
        return False

    @property
    def connected(self) -> bool:
        """False while the camera is unplugged and being reopened."""
        with self._lock:
            return self._connected

    @property
    def dropped(self) -> int:
        """Frames captured but overwritten before the consumer took them."""
        with self._lock:
            return self._dropped

    @property
    def reconnects(self) -> int:
        """How many times the camera was reopened after a loss."""
        return self._reconnects

    def stop(self) -> None:
        """Stops the capture thread and releases the camera (idempotent)."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
