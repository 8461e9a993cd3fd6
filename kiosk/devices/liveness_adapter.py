"""The camera and the liveness challenge as the controller sees them.

Each attempt runs on its own worker thread, which owns the frame source and the FaceMesh graph
(mediapipe graphs belong to one thread). The thread feeds every frame through exactly the code
``kiosk liveness`` replays (:class:`camera.liveness.LivenessSession`) and turns the changes of its
updates into flow events: ``quality_hinted``, ``face_positioned``, ``action_prompted``,
``action_completed``, then ``liveness_passed`` or ``liveness_failed``; and ``faces_counted`` whenever
the number of faces in view changes (the helper mode waits for exactly one).

Privacy: the best frames and the scores are held only until :meth:`LivenessAdapter.wipe`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from camera.errors import CameraError, CameraReason
from camera.landmarks import FaceObservation, LandmarkDetector
from camera.liveness import LivenessSession, LivenessUpdate
from camera.settings import Action, AntispoofSettings, CameraSettings, LivenessSettings, QualitySettings
from camera.sources import Frame, FrameSource, open_source
from kiosk.flow import (
    ActionCompleted, ActionPrompted, DeviceFailed, Event, FacePositioned, FacesCounted, LivenessFailed,
    LivenessPassed, QualityHinted,
)
from kiosk.ports import LivenessScores, Post, Preview

log = logging.getLogger(__name__)

FRAME_TIMEOUT_S = 2.0
"""A device that delivers no frame for this long counts as lost (seconds)."""

PROMPT_HEARD_WAIT_S = 6.0
"""With ``wait_for_prompts``: an action's window starts at the latest this long after it was asked
for, when the voice never says its prompt ended (seconds; the longest action prompt is ~3 s)."""


@dataclass(frozen=True)
class CameraConfig:
    """The four configuration sections the challenge needs, plus the source URL."""

    url: str
    camera: CameraSettings
    quality: QualitySettings
    liveness: LivenessSettings
    antispoof: AntispoofSettings


def events_between(before: LivenessUpdate | None, after: LivenessUpdate) -> list[Event]:
    """The flow events that the change from ``before`` to ``after`` means (pure)."""
    events: list[Event] = []
    previous_hint = before.hint if before else None
    if after.hint != previous_hint and after.phase != "done":
        events.append(QualityHinted(str(after.hint) if after.hint else None))
    previous_phase = before.phase if before else "positioning"
    if previous_phase == "positioning" and after.phase in ("baseline", "action"):
        events.append(FacePositioned())
    done_before = len(before.completed) if before else 0
    events.extend(ActionCompleted(str(action)) for action in after.completed[done_before:])
    prompted_anew = before is None or before.phase != "action" or after.action != before.action \
        or after.action_started_s != before.action_started_s  # the same action asked again after a pause
    if after.phase == "action" and after.action is not None and prompted_anew:
        events.append(ActionPrompted(str(after.action)))
    if after.phase == "done" and after.verdict is not None:
        verdict = after.verdict
        events.append(LivenessPassed() if verdict.passed else LivenessFailed(str(verdict.reason)))
    return events


class LivenessAdapter:
    """:class:`~kiosk.ports.LivenessPort` over the camera package.

    ``prompts`` fixes (action, media seconds) prompts for a recorded clip (``--prompt``);
    ``realtime`` paces a file source at its own frame rate (the demo) instead of as fast as it
    decodes (headless runs); ``wait_for_prompts`` starts each action's window when
    :meth:`prompt_heard` says its prompt was heard (a voice that reports the ends of its clips).
    Thread rules: :meth:`start`, :meth:`stop`, :meth:`prompt_heard` and :meth:`wipe` may be called
    from any thread; ``post`` and ``on_preview`` are called from the attempt's thread.
    """

    def __init__(self, config: CameraConfig, *, rng: random.Random | None = None,
                 prompts: list[tuple[Action, float]] | None = None, realtime: bool = True,
                 source_factory: Callable[[str, CameraSettings], FrameSource] = open_source,
                 wait_for_prompts: bool = False) -> None:
        self._config = config
        self._wait_for_prompts = wait_for_prompts
        self._heard: list[str] = []  # actions whose prompt ended, taken by the attempt's thread
        self._rng = rng or random.SystemRandom()
        self._prompts = prompts
        self._realtime = realtime
        self._source_factory = source_factory
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._best: tuple[np.ndarray, ...] = ()
        self._scores = LivenessScores()

    def start(self, attempt: int, post: Post, on_preview: Callable[[Preview], None] | None) -> None:
        self.stop()
        with self._lock:
            self._stop = threading.Event()
            self._best, self._scores = (), LivenessScores()
            self._heard = []
            self._thread = threading.Thread(target=self._run, args=(self._stop, post, on_preview),
                                            name=f"liveness-attempt-{attempt}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def prompt_heard(self, action: str) -> None:
        with self._lock:
            self._heard.append(action)

    def best_frames(self) -> list[np.ndarray]:
        with self._lock:
            return list(self._best)

    def scores(self) -> LivenessScores:
        with self._lock:
            return self._scores

    def wipe(self) -> None:
        with self._lock:
            self._best, self._scores = (), LivenessScores()

    # --- the attempt's thread ---

    def _run(self, stop: threading.Event, post: Post, on_preview: Callable[[Preview], None] | None) -> None:
        config = self._config
        try:
            source = self._source_factory(config.url, config.camera)
            source.start()
        except CameraError as exc:
            post(DeviceFailed(str(exc.code)))
            return
        detector: LandmarkDetector | None = None
        try:
            detector = LandmarkDetector()
            session = LivenessSession(config.quality, config.liveness, config.antispoof, self._rng,
                                      prompts=self._prompts, detector=detector,
                                      prompt_wait_s=PROMPT_HEARD_WAIT_S if self._wait_for_prompts else None)
            self._loop(stop, source, detector, session, post, on_preview)
        except CameraError as exc:
            log.warning("liveness attempt failed: %s", exc.code)
            post(DeviceFailed(str(exc.code)))
        finally:
            source.stop()
            if detector is not None:
                detector.close()

    def _loop(self, stop: threading.Event, source: FrameSource, detector: LandmarkDetector,
              session: LivenessSession, post: Post, on_preview: Callable[[Preview], None] | None) -> None:
        last: LivenessUpdate | None = None
        faces: int | None = None
        pace = _Pacer() if self._realtime else None
        while not stop.is_set():
            frame = source.next_frame(FRAME_TIMEOUT_S)
            if frame is None:
                if source.ended:
                    update = session.finish()  # a clip ran out: judge what was seen
                    self._post_changes(last, update, post)
                else:
                    post(DeviceFailed(CameraReason.CAMERA_UNAVAILABLE))
                return
            if pace is not None:
                pace.wait_for(frame.t_s, stop)
            for action in self._take_heard():
                session.prompt_heard(frame.t_s, action)
            observation = detector.detect(np.asarray(frame.image))
            count = 0 if observation is None else observation.face_count
            if count != faces:  # before the frame's other events: the helper mode waits on it
                faces = count
                post(FacesCounted(count))
            update = session.feed_observation(frame.t_s, observation, np.asarray(frame.image))
            if on_preview is not None:
                on_preview(_preview(frame, observation, update))
            self._post_changes(last, update, post)
            last = update
            if update.phase == "done":
                return

    def _take_heard(self) -> list[str]:
        with self._lock:
            heard, self._heard = self._heard, []
        return heard

    def _post_changes(self, last: LivenessUpdate | None, update: LivenessUpdate, post: Post) -> None:
        if update.phase == "done" and update.verdict is not None:
            with self._lock:
                self._best = tuple(update.best_frames)
                self._scores = LivenessScores(update.verdict.liveness_score, update.verdict.attack_score,
                                              dict(update.verdict.check_scores))
        for event in events_between(last, update):
            post(event)


class _Pacer:
    """Holds frames of a file back to the file's own clock (for a demo that looks live)."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None

    def wait_for(self, media_t_s: float, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, media_t_s)
            return
        delay = (media_t_s - self._origin[1]) - (now - self._origin[0])
        if delay > 0:
            stop.wait(delay)


def _preview(frame: Frame, observation: FaceObservation | None, update: LivenessUpdate) -> Preview:
    if observation is None:
        return Preview(image=frame.image, hint=str(update.hint) if update.hint else None)
    x0, y0, x1, y1 = observation.box  # corners, in pixels
    return Preview(
        image=frame.image,
        face_box=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
        landmarks=observation.points,
        eye_ratio=(observation.ear_left + observation.ear_right) / 2,
        mouth_ratio=observation.mouth_ratio,
        hint=str(update.hint) if update.hint else None,
    )
