"""Someone in front of the idle terminal: the camera looks twice a second and says when a face
arrives, so the terminal can invite the person by voice (many pensioners do not read the screen).

It is also the idle terminal's camera check: a camera that cannot be opened puts the terminal on
the maintenance screen (``maintenance_required``, device ``camera``) instead of letting a pensioner
get as far as the face check, and its return clears it (``devices_ready``).

Runs only while the terminal is idle (or in maintenance for the camera); the liveness check opens
the camera for itself later. Nothing is kept: each frame is looked at and dropped.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from camera.errors import CameraError
from camera.landmarks import LandmarkDetector
from camera.settings import CameraSettings
from camera.sources import open_source
from kiosk.flow import DevicesReady, MaintenanceRequired, PersonApproached, PersonLeft
from kiosk.ports import Post

log = logging.getLogger(__name__)

LOOK_EVERY_S = 0.5
"""Time between two looks (seconds): enough to greet someone walking up, cheap for the CPU."""

MIN_FACE_WIDTH_RATIO = 0.12
"""A face narrower than this share of the frame is someone passing by at a distance."""

ABSENT_BEFORE_NEW_S = 5.0
"""A face must have been gone this long before a face counts as a new arrival (seconds)."""

LEFT_AFTER_S = 6.0
"""A near face gone for this long counts as the person having walked away (seconds): long enough
for someone who bends down to their bag, short enough that their status does not stay on screen."""

REOPEN_EVERY_S = 5.0
"""Time between attempts to open a camera that is missing (seconds)."""


class PresenceWatcher:
    """Posts :class:`~kiosk.flow.PersonApproached` when a near face appears after none,
    :class:`~kiosk.flow.PersonLeft` when a near face seen since the start has been gone for
    :data:`LEFT_AFTER_S`, and
    ``maintenance_required`` / ``devices_ready`` (device ``camera``) when the camera cannot be
    opened / opens again.

    Thread rules: :meth:`start` and :meth:`stop` from one thread (the controller's); ``post`` is
    called from the watcher's own thread.
    """

    def __init__(self, camera_url: str, settings: CameraSettings) -> None:
        self._url = camera_url
        self._settings = settings
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        """True while the watcher's thread runs."""
        return self._thread is not None

    def start(self, post: Post) -> None:
        if self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop, post), name="presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops looking and releases the camera before returning (idempotent)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=5.0)

    def _run(self, stop: threading.Event, post: Post) -> None:
        reported = False
        while True:
            try:
                source = open_source(self._url, self._settings)
                source.start()
                break
            except CameraError as exc:
                if not reported:
                    log.warning("camera cannot be opened: %s", exc.code)
                    post(MaintenanceRequired(str(exc.code), device="camera"))
                    reported = True
                if stop.wait(REOPEN_EVERY_S):
                    return
        if reported:
            post(DevicesReady(device="camera"))
        detector = LandmarkDetector()
        try:
            watch(stop, lambda: _frame(source), detector.detect, post)
        finally:
            source.stop()
            detector.close()


def watch(stop: threading.Event, next_image, detect, post: Post, *,  # noqa: ANN001 - callables
          look_every_s: float = LOOK_EVERY_S) -> None:
    """The watcher's loop, with the camera and the detector passed in (tests pass fakes).

    ``next_image()`` returns a BGR image or None (no frame yet / end of a clip: keep waiting);
    ``detect(image)`` returns an observation with ``box`` (x0, y0, x1, y1) and ``image_size``, or None.
    """
    absent_for = ABSENT_BEFORE_NEW_S  # a face already there at start counts as arriving
    seen = False
    while not stop.wait(look_every_s):
        image = next_image()
        observation = detect(image) if image is not None else None
        near = observation is not None and _width_ratio(observation) >= MIN_FACE_WIDTH_RATIO
        if near:
            if absent_for >= ABSENT_BEFORE_NEW_S:
                post(PersonApproached())
            absent_for = 0.0
            seen = True
        else:
            absent_for += look_every_s
            if seen and absent_for >= LEFT_AFTER_S:
                post(PersonLeft())
                seen = False


def _frame(source) -> np.ndarray | None:  # noqa: ANN001 - a camera FrameSource
    frame = source.latest()
    return None if frame is None else np.asarray(frame.image)


def _width_ratio(observation) -> float:  # noqa: ANN001 - camera.landmarks.FaceObservation
    x0, _y0, x1, _y1 = observation.box
    return (x1 - x0) / max(1, observation.image_size[0])
