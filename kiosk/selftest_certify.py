"""One headless certification for the self-test: the real controller, reader, store and models.

What is real: :class:`~kiosk.session.SessionController` and its flow, the simulated reader through
:class:`~kiosk.devices.card_reader.CardReaderAdapter` (``sim://``, the default sample card), a
:class:`~kiosk.store.Store` with its migrations in a temporary folder, FaceMesh landmarks, the
quality gates, the blink / mouth detectors and the dlib encoder. What is the self-test's own: the
frames (a synthetic clip or a file, fed as fast as they decode, not in real time), the "person"
(who presses start and consents when the screens ask), a voice that only records prompt ids, and
the decision rule of the matcher port here (mean live descriptor, nearest reference, threshold
``match.max_distance``). No passive anti-spoofing runs: this proves the pipeline works, not that
attacks fail (that is measured on ``../shared/media/spoof`` by the camera benchmarks).

Privacy: the sample card is an invented person; the reference is made from the same frames and is
deleted with the temporary folder. Nothing is logged but reason codes.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera import quality
from camera.errors import CameraReason
from camera.events import EventDetector
from camera.landmarks import FaceObservation, LandmarkDetector
from camera.matching.encoding import Encoder
from camera.matching.errors import MatchError
from camera.sources import Frame
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.devices.card_reader import CardReaderAdapter
from kiosk.flow import (
    ActionCompleted, ActionPrompted, ConsentGiven, FacePositioned, FlowView, LivenessFailed, LivenessPassed,
    QualityHinted, Speak, StartRequested, State,
)
from kiosk.ports import LivenessScores, MatchOutcome, Post, Preview
from kiosk.reasons import Outcome
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store
from reader.samples import sample_card_path

RESULT_TIMEOUT_S = 90.0
"""Longest wait for the result screen; the synthetic run takes about 5 s on two cores."""


class ClipLiveness:
    """A :class:`~kiosk.ports.LivenessPort` over a finite frame sequence, prompting ``actions`` in order.

    Positioning needs every quality gate to hold for ``quality.hold_s``; each prompted action must
    then be seen whole by :class:`~camera.events.EventDetector`. Running out of frames fails with
    ``clip_ended``. Thread rules: ``start``/``stop`` from the controller thread; the challenge runs
    on its own thread and posts events through ``post``.
    """

    def __init__(self, frames: Callable[[], Sequence[Frame]], config: KioskConfig, actions: Sequence[str]) -> None:
        self._frames = frames
        self._config = config
        self._actions = list(actions)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._best: list[tuple[float, np.ndarray]] = []
        self._passed = False

    def start(self, attempt: int, post: Post, on_preview: Callable[[Preview], None] | None) -> None:
        self.stop()
        self._stop.clear()
        self._best, self._passed = [], False
        self._thread = threading.Thread(target=self._challenge, args=(post,), name="selftest-liveness", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def best_frames(self) -> list[np.ndarray]:
        return [image for _sharpness, image in sorted(self._best, key=lambda item: -item[0])]

    def scores(self) -> LivenessScores:
        return LivenessScores(liveness_score=1.0 if self._passed else 0.0, detail={"source": "selftest"})

    def wipe(self) -> None:
        self._best = []

    def _challenge(self, post: Post) -> None:
        settings, gates = self._config.liveness, self._config.quality
        todo = list(self._actions)
        events = EventDetector(settings)
        since: float | None = None
        positioned = False
        last_hint: str | None = None
        with LandmarkDetector() as detector:
            for frame in self._frames():
                if self._stop.is_set():
                    return
                obs = detector.detect(frame.image)
                # A closing eye is what a blink is: do not let the eye gate abort it.
                ignore = frozenset({CameraReason.EYES_NOT_VISIBLE}) if positioned else frozenset()
                report = quality.check(frame.image, obs, gates, ignore=ignore)
                completed = events.feed(frame.t_s, obs, frontal=report.ok)
                if not positioned:
                    if not report.ok:
                        since = None
                        if report.reason != last_hint:
                            last_hint = str(report.reason)
                            post(QualityHinted(last_hint))
                        continue
                    since = frame.t_s if since is None else since
                    if frame.t_s - since >= gates.hold_s:
                        positioned = True
                        post(FacePositioned())
                        post(ActionPrompted(todo[0]))
                    continue
                if report.ok and obs is not None and events.quiet() and self._at_rest(obs, events):
                    self._keep(report.sharpness, frame.image)
                for event in completed:
                    if todo and event.kind == todo[0]:
                        post(ActionCompleted(todo.pop(0)))
                        if todo:
                            post(ActionPrompted(todo[0]))
                if not todo and self._best:
                    self._passed = True
                    post(LivenessPassed())
                    return
        post(LivenessFailed(str(CameraReason.CLIP_ENDED)))

    def _at_rest(self, obs: FaceObservation, events: EventDetector) -> bool:
        """Eyes open and mouth closed: the frames worth matching (a face mid-action matches worse)."""
        base = events.baseline
        if base is None:
            return False
        eyes_open = min(obs.ear_left / base.eye_left, obs.ear_right / base.eye_right) >= self._config.liveness.blink_open_fraction
        return eyes_open and obs.mouth_ratio < self._config.liveness.mouth_close_ratio

    def _keep(self, sharpness: float, image: np.ndarray) -> None:
        self._best.append((sharpness, np.array(image)))
        self._best.sort(key=lambda item: -item[0])
        del self._best[self._config.liveness.best_frames:]


class EncoderMatcher:
    """A :class:`~kiosk.ports.MatcherPort` on one worker thread: mean descriptor of the usable live
    frames, distance to the nearest reference, matched at ``match.max_distance`` or below."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selftest-matcher")

    def verify(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> Future[MatchOutcome]:
        return self._pool.submit(self._decide, list(live_frames), list(references))

    def _decide(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> MatchOutcome:
        settings = self._encoder.settings
        vectors = []
        for image in live_frames[: settings.max_live_frames]:
            try:
                vectors.append(self._encoder.encode(image).vector)
            except MatchError:
                continue
        if not vectors:
            return MatchOutcome(False, None, "no_usable_face")
        live = np.mean(vectors, axis=0)
        distance = min(float(np.linalg.norm(live - np.asarray(ref, dtype=np.float32))) for ref in references)
        return MatchOutcome(distance <= settings.max_distance, distance, None if distance <= settings.max_distance else "mismatch")

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _RecordingVoice:
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def speak(self, prompt: Speak) -> None:
        self.prompts.append(prompt.prompt)


@dataclass(frozen=True)
class CertificationRun:
    """How the run ended: final ``state`` and ``outcome``, the match ``distance``, the stored
    ``record_id``, the ``actions`` completed, the states passed through, and seconds taken."""

    state: str
    outcome: str | None
    distance: float | None
    record_id: str | None
    actions: tuple[str, ...]
    states: tuple[str, ...]
    elapsed_s: float

    @property
    def certified(self) -> bool:
        """True when the person was certified and the record was stored."""
        return self.outcome == Outcome.CERTIFIED and self.record_id is not None


def run_certification(config: KioskConfig, frames: Callable[[], Sequence[Frame]], reference: np.ndarray,
                      encoder: Encoder, actions: Sequence[str] = ("blink", "mouth_open")) -> CertificationRun:
    """Runs one session from card to result in a temporary data folder (deleted afterwards).

    ``frames`` returns the camera frames of one attempt; ``reference`` is the BGR image the
    sample pensioner's reference template is made from. Raises :class:`MatchError` when no face
    can be encoded in ``reference`` and :class:`~kiosk.errors.KioskError` when the store cannot
    be opened. Never waits longer than :data:`RESULT_TIMEOUT_S`.
    """
    started = time.monotonic()
    template = encoder.encode(reference, require_usable=False).vector
    id_number = json.loads(sample_card_path().read_text(encoding="utf-8"))["id_number"]
    with tempfile.TemporaryDirectory(prefix="kiosk-selftest-") as tmp:
        data_dir = Path(tmp) / "data"
        config = config.model_copy(update={"terminal": config.terminal.model_copy(update={"data_dir": data_dir})})
        clock = SystemClock()

        def open_store() -> Store:
            store = Store.open(data_dir, data_dir / "keys" / "device.key", clock)
            return store

        with open_store() as store:  # the roster entry and its reference, before the controller starts
            store.upsert_pensioner(Pensioner(id_number, "SELFTEST", config.terminal.region_code))
            store.add_reference(id_number, template, "staff_enrolment")
        states: list[str] = []
        done = threading.Event()
        records: list[str] = []
        matcher = EncoderMatcher(encoder)
        controller: SessionController

        def on_view(view: FlowView) -> None:  # the controller's thread: act like the person would
            if not states or states[-1] != view.state:
                states.append(str(view.state))
            if view.state is State.STATUS:
                controller.post(StartRequested())
            elif view.state is State.CONSENT:
                controller.post(ConsentGiven())
            elif view.state in (State.RESULT, State.MAINTENANCE):
                done.set()

        controller = SessionController(
            config, clock, store_factory=open_store,
            reader=CardReaderAdapter("sim://", config.reader, clock),
            liveness=ClipLiveness(frames, config, actions), matcher=matcher, voice=_RecordingVoice(),
            on_view=on_view, on_record=lambda record_id, _record: records.append(record_id),
        )
        controller.start()
        try:
            done.wait(RESULT_TIMEOUT_S)
            view = controller.view
        finally:
            controller.stop()
            matcher.close()
        distance = None
        if records:
            with open_store() as store:
                record = store.get_record(records[-1])
                distance = record.match_distance if record else None
    return CertificationRun(str(view.state), view.outcome, distance, records[-1] if records else None,
                            tuple(view.actions_done), tuple(states), time.monotonic() - started)
