"""One liveness session: frames in, guidance out, a verdict and the best frames at the end.

:class:`LivenessSession` is what the kiosk runs and what ``kiosk liveness`` replays: per frame it
finds the landmarks, checks quality, steps the challenge (:mod:`camera.challenge`), feeds the passive
attack checks (:mod:`camera.antispoof`) and keeps the best frames for matching
(:mod:`camera.bestframes`). The kiosk feeds the session from its own camera loop
(:meth:`LivenessSession.feed_observation`); :func:`run_clip` drives one from a
:class:`~camera.sources.FrameSource` and :func:`replay` from a file or folder (``kiosk liveness``,
:mod:`camera.pad`). The session is what they share, so a replay gives the verdict the terminal would give.

Time comes only from frame timestamps, so a replayed file gives the same result every run.
Thread rules: a session and its FaceMesh graph belong to one thread (a worker, never the GUI thread);
updates are frozen values that may be handed to other threads.
Privacy: the verdict carries scores for the local audit record only (GB/T 38671: the person is told
pass or fail, never a score); best frames hold the face and must be dropped after matching.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camera.antispoof import AttackAssessor
from camera.bestframes import BestFrames
from camera.challenge import ActionOutcome, ChallengeEngine, ChallengeState, Phase
from camera.errors import CameraReason
from camera.events import Event
from camera.landmarks import FaceObservation, LandmarkDetector
from camera.quality import QualityReport, check, is_frontal
from camera.settings import Action, AntispoofSettings, CameraSettings, LivenessSettings, QualitySettings
from camera.sources import Frame, FrameSource, open_source, url_for_path

log = logging.getLogger(__name__)

# While an action runs, the gates that only matter for positioning (size, place, light, focus) are
# relaxed, and so are the ones the action itself trips (closed eyes in a blink, a turned head), so
# the person is not interrupted mid-action by advice they cannot act on.
_ACTION_IGNORES = frozenset({CameraReason.FACE_TOO_SMALL, CameraReason.FACE_TOO_CLOSE, CameraReason.OFF_CENTRE,
                             CameraReason.TOO_DARK, CameraReason.TOO_BRIGHT, CameraReason.BACKLIT,
                             CameraReason.BLURRED, CameraReason.EYES_NOT_VISIBLE})
_TURN_IGNORES = _ACTION_IGNORES | {CameraReason.TURNED_AWAY}


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``passed``, a ``reason`` code (``liveness_passed`` when passed), the share of
    actions done (``liveness_score`` 0..1), the combined passive ``attack_score`` 0..1 and each
    check's score. Scores are for the audit record, never for the person."""

    passed: bool
    reason: CameraReason
    liveness_score: float
    attack_score: float
    check_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LivenessUpdate:
    """What the UI needs after each frame. ``hint`` is a quality reason code or None; ``action`` the
    action being asked for; ``action_started_s``/``action_deadline_s`` its window (frame time);
    ``completed`` the actions done so far; ``verdict`` once ``phase == "done"``, and then
    ``best_frames`` (BGR arrays, best first) only when the verdict passed: liveness comes before
    matching (GB/T 38671), so a failed session hands no face to the matcher."""

    phase: Phase
    hint: CameraReason | None
    action: Action | None
    action_started_s: float | None
    action_deadline_s: float | None
    completed: tuple[Action, ...]
    verdict: Verdict | None = None
    best_frames: tuple[np.ndarray, ...] = ()
    t_s: float = 0.0


class LivenessSession:
    """A liveness check from first frame to verdict (see the module docstring).

    ``rng`` draws the actions (pass ``random.Random(seed)`` in tests, ``random.SystemRandom()`` at
    the kiosk so the order cannot be predicted). ``prompts`` fixes (action, media seconds) prompts
    for replays; an empty list only records events. Raises
    :class:`~camera.errors.CameraError` ``landmark_model_unavailable`` when FaceMesh cannot load.
    """

    def __init__(self, quality: QualitySettings, liveness: LivenessSettings, antispoof: AntispoofSettings,
                 rng: random.Random, prompts: list[tuple[Action, float]] | None = None,
                 *, detector: LandmarkDetector | None = None, prompt_wait_s: float | None = None) -> None:
        self._quality = quality
        self._liveness = liveness
        self._engine = ChallengeEngine(liveness, rng, hold_s=quality.hold_s, prompts=prompts,
                                       prompt_wait_s=prompt_wait_s)
        self._assessor = AttackAssessor(antispoof)
        self._best = BestFrames(liveness.best_frames)
        self._own_detector = detector is None
        self._detector = detector or LandmarkDetector()
        self._last: LivenessUpdate | None = None
        self._last_t: float | None = None
        self.frames = 0

    @property
    def plan(self) -> list[Action]:
        """The actions this session asks for, in order."""
        return list(self._engine.plan)

    @property
    def events(self) -> list[Event]:
        """Every event seen so far."""
        return list(self._engine.events)

    @property
    def outcomes(self) -> tuple[ActionOutcome, ...]:
        """How each prompted action went so far."""
        return self._engine.state().outcomes

    def feed(self, frame: Frame) -> LivenessUpdate:
        """Runs one frame through landmarks, gates, challenge and passive checks."""
        image = np.asarray(frame.image)
        obs = self._detector.detect(image)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return self.feed_observation(frame.t_s, obs, image, gray)

    def feed_observation(self, t_s: float, obs: FaceObservation | None, image: np.ndarray,
                         gray: np.ndarray | None = None) -> LivenessUpdate:
        """Same as :meth:`feed` with the landmarks already found (tests, recorded sequences)."""
        if self._last is not None and self._last.phase == "done":
            return self._last
        self.frames += 1
        self._last_t = t_s
        if gray is None:
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        state = self._engine.state()
        report = self._gate(image, gray, obs, state.phase, state.action)
        state = self._engine.step(t_s, obs, report, frontal=is_frontal(obs, self._quality))
        self._assessor.observe(image, gray, obs, t_s)
        if state.phase in ("baseline", "action") and obs is not None and report.ok:
            baseline = self._engine.detector.baseline
            self._best.offer(image, obs, t_s, report.sharpness or None,
                             open_eye=(baseline.eye_left + baseline.eye_right) / 2 if baseline else None)
        return self._update(t_s, state, state.phase == "done")

    def prompt_heard(self, t_s: float, action: str) -> None:
        """The voice finished asking for ``action`` at frame time ``t_s`` (see
        :meth:`camera.challenge.ChallengeEngine.prompt_heard`)."""
        self._engine.prompt_heard(t_s, action)

    def finish(self) -> LivenessUpdate:
        """The frames ran out (end of a clip): judges what is pending and returns the final update."""
        if self._last is not None and self._last.phase == "done":
            return self._last
        state = self._engine.finish(self._last_t if self._last_t is not None else 0.0)
        return self._update(self._last_t or 0.0, state, True)

    def close(self) -> None:
        """Frees FaceMesh when the session created it."""
        if self._own_detector:
            self._detector.close()

    def _gate(self, image: np.ndarray, gray: np.ndarray, obs: FaceObservation | None, phase: Phase,
              action: Action | None) -> QualityReport:
        ignore: frozenset[CameraReason] = frozenset()
        if phase == "action":
            ignore = _TURN_IGNORES if action in ("turn_left", "turn_right") else _ACTION_IGNORES
        return check(image, obs, self._quality, ignore=ignore, gray=gray)

    def _update(self, t_s: float, state: ChallengeState, done: bool) -> LivenessUpdate:
        verdict = self._verdict(state) if done else None
        update = LivenessUpdate(
            phase="done" if done else state.phase,
            hint=state.hint,
            action=None if done else state.action,
            action_started_s=None if done else state.action_started_s,
            action_deadline_s=None if done else state.action_deadline_s,
            completed=state.completed,
            verdict=verdict,
            best_frames=self._best.images() if done and verdict is not None and verdict.passed else (),
            t_s=t_s,
        )
        self._last = update
        if done and verdict is not None:
            log.info("liveness done: %s (attack %.2f)", verdict.reason, verdict.attack_score)
        return update

    def _verdict(self, state: ChallengeState) -> Verdict:
        assessment = self._assessor.assess()
        planned = max(1, len(self._engine.plan))
        liveness_score = round(sum(1 for o in state.outcomes if o.passed) / planned, 4)
        failure = state.failure
        # A changed face is the strongest finding; then an attack; then a missed action.
        if failure == CameraReason.FACE_CHANGED:
            reason = failure
        elif assessment.is_attack:
            reason = CameraReason.SPOOF_DETECTED
        elif failure is not None:
            reason = failure
        elif not self._engine.plan:
            reason = CameraReason.CLIP_ENDED  # events-only replay: nothing was asked, nothing passes
        else:
            reason = CameraReason.LIVENESS_PASSED
        return Verdict(reason == CameraReason.LIVENESS_PASSED, reason, liveness_score,
                       assessment.score, assessment.check_scores)


@dataclass(frozen=True, eq=False)
class LivenessReport:
    """Everything a run produced: the final update, each action, every event, the frame count and
    the per-frame processing time in milliseconds (landmarks + gates + challenge + passive checks)."""

    final: LivenessUpdate
    actions: tuple[ActionOutcome, ...]
    events: tuple[Event, ...]
    frames: int
    processing_ms: tuple[float, ...]

    @property
    def verdict(self) -> Verdict:
        """The verdict (a run always ends with one)."""
        assert self.final.verdict is not None
        return self.final.verdict

    def processing_percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the per-frame processing time, in ms (0 with no frames)."""
        return float(np.percentile(self.processing_ms, q)) if self.processing_ms else 0.0

    def to_json(self, *, events_only: bool = False) -> dict[str, Any]:
        """The ``kiosk liveness --json`` document (exactly the keys issue 4 names)."""
        events = [{"kind": e.kind, "t_s": round(e.start_s, 3), "peak_s": round(e.peak_s, 3),
                   "end_s": round(e.end_s, 3)} for e in self.events]
        timing = {"frames": self.frames,
                  "processing_ms_p50": round(self.processing_percentile_ms(50), 2),
                  "processing_ms_p95": round(self.processing_percentile_ms(95), 2)}
        if events_only:
            return {"events": events, **timing}
        return {
            "verdict": "pass" if self.verdict.passed else "fail",
            "reason": str(self.verdict.reason),
            "actions": [{"action": a.action, "prompt_s": round(a.prompt_s, 3),
                         "done_s": None if a.done_s is None else round(a.done_s, 3), "passed": a.passed}
                        for a in self.actions],
            "events": events,
            **timing,
        }


def run_clip(source: FrameSource, session: LivenessSession, *, frame_timeout_s: float = 2.0,
             max_frames: int | None = None) -> LivenessReport:
    """Feeds ``source`` (already started) to ``session`` until the verdict or the end of the source.

    The end is a file's or folder's last frame, ``max_frames``, or (for a device) no frame for
    ``frame_timeout_s``; the session then judges what it has (``finish``). The caller owns the
    source and the session (stop / close them). Processing time per frame excludes waiting for the
    frame and includes everything :meth:`LivenessSession.feed` does.
    """
    timings: list[float] = []
    update: LivenessUpdate | None = None
    while max_frames is None or len(timings) < max_frames:
        frame = source.next_frame(frame_timeout_s)
        if frame is None:
            break
        started = time.perf_counter()
        update = session.feed(frame)
        timings.append((time.perf_counter() - started) * 1000.0)
        if update.phase == "done":
            break
    if update is None or update.phase != "done":
        update = session.finish()
    return LivenessReport(update, session.outcomes, tuple(session.events), session.frames, tuple(timings))


def replay(path: Path, camera: CameraSettings, quality: QualitySettings, liveness: LivenessSettings,
           antispoof: AntispoofSettings, rng: random.Random, prompts: list[tuple[Action, float]] | None
           ) -> LivenessReport:
    """Runs a fresh session over a video file, an image or a folder of images (see :func:`run_clip`).

    ``rng`` and ``prompts`` are as for :class:`LivenessSession`. Opens, starts, stops and closes
    the source and the session itself. Raises :class:`~camera.errors.CameraError` when the file
    cannot be opened.
    """
    source = open_source(url_for_path(path), camera)
    source.start()
    try:
        session = LivenessSession(quality, liveness, antispoof, rng, prompts=prompts)
        try:
            return run_clip(source, session)
        finally:
            session.close()
    finally:
        source.stop()
