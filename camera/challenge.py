"""The action challenge: a pure state machine over observations, quality reports and time.

Live mode (no fixed prompts): ``positioning`` (every quality gate holds for ``hold_s``) ->
``baseline`` (``baseline_s`` of the person's resting face) -> one ``action`` after another, each
prompted when the previous one is done and given ``action_timeout_s`` -> ``done``. The actions are
drawn with the injected ``random.Random``: how many between ``min_actions_per_session`` and
``actions_per_session``, which ones and in which order, never the same action twice in a row.

Replay mode (``prompts`` given, for offline evaluation): action *i* is prompted at its fixed media
time and its window closes at ``prompt + action_timeout_s`` or at the next prompt, whichever is
first; every action is judged and the run is done after the last window.

Rules in both modes: an action counts only when its event *starts* after its prompt (a blink the
person was already doing does not count); the face must stay the same face: a jump of the face
centre between consecutive frames, a changed face shape after the face was lost, fail with
``face_changed``. Losing the face (or a second face appearing) for more than ``face_lost_grace_s``
pauses the action; when one face is back the action is prompted again with a fresh window, up to
``max_reprompts`` times (then ``face_lost``).

Waiting for the voice (live mode with ``prompt_wait_s``): an action's window starts when the
person has heard its prompt (:meth:`ChallengeEngine.prompt_heard`, told by the kiosk when the clip
ended), not when it was asked for; if that never comes, it starts ``prompt_wait_s`` after the ask
(a silent or broken voice must not hold the check up). The action still counts from the ask: a
person who blinks while hearing "请眨眨眼" did what was asked.

Time comes only from the ``t_s`` fed in; the engine never reads a clock. One thread.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from camera.errors import CameraReason
from camera.events import Event, EventDetector
from camera.landmarks import FaceObservation
from camera.quality import QualityReport
from camera.settings import Action, LivenessSettings

Phase = Literal["positioning", "baseline", "action", "done"]
# Rigid landmark pairs (eye corners, nose bridge and tip, cheek sides, forehead): their distances
# over the outer eye-corner span describe a face's shape and barely move with speech or blinks.
_SHAPE_PAIRS = ((33, 133), (362, 263), (133, 362), (168, 1), (234, 454), (10, 168), (1, 234), (1, 454))
_CONSECUTIVE_S = 0.25  # frames closer than this are "consecutive" for the jump test


_SHAPE_A, _SHAPE_B = (np.array(side) for side in zip(*_SHAPE_PAIRS, strict=True))


def shape_signature(obs: FaceObservation) -> np.ndarray:
    """Scale-free shape descriptor of a face (see ``_SHAPE_PAIRS``)."""
    p = obs.points[:, :2].astype(np.float64)
    span = max(float(np.hypot(*(p[263] - p[33]))), 1e-6)
    return np.hypot(*(p[_SHAPE_A] - p[_SHAPE_B]).T) / span


@dataclass(frozen=True)
class ActionOutcome:
    """How one prompted action went (times in media/monotonic seconds)."""

    action: Action
    prompt_s: float
    done_s: float | None
    passed: bool


@dataclass(frozen=True)
class ChallengeState:
    """The engine's state after a step (immutable)."""

    phase: Phase
    hint: CameraReason | None
    action: Action | None
    action_started_s: float | None
    action_deadline_s: float | None
    completed: tuple[Action, ...]
    outcomes: tuple[ActionOutcome, ...]
    failure: CameraReason | None


ACTIONS: tuple[str, ...] = get_args(Action)
MAX_PROMPT_S = 3600.0


def parse_prompt(text: str) -> tuple[Action, float]:
    """``ACTION@SECONDS`` (``blink@2.5``: prompt a blink at 2.5 s of a recorded clip) -> (action,
    seconds). Raises ValueError naming the form and the allowed actions."""
    action, sep, seconds = text.strip().partition("@")
    if not sep:
        raise ValueError(f"{text!r} is not ACTION@SECONDS (for example blink@2.5)")
    if action not in ACTIONS:
        raise ValueError(f"{text!r}: unknown action {action!r}; use one of {', '.join(ACTIONS)} (ACTION@SECONDS)")
    try:
        value = float(seconds)
    except ValueError:
        raise ValueError(f"{text!r}: SECONDS must be a number (ACTION@SECONDS)") from None
    if not 0.0 <= value < MAX_PROMPT_S:
        raise ValueError(f"{text!r}: SECONDS must be within 0-{MAX_PROMPT_S:.0f} (ACTION@SECONDS)")
    return action, value  # type: ignore[return-value]


def draw_plan(settings: LivenessSettings, rng: random.Random) -> list[Action]:
    """A random sequence of distinct actions, its length between the configured bounds."""
    distinct = list(dict.fromkeys(settings.actions))
    count = rng.randint(settings.min_actions_per_session, min(settings.actions_per_session, len(distinct)))
    rng.shuffle(distinct)
    return distinct[:count]


_CROWDING_MASKS = frozenset({CameraReason.ACTION_TIMEOUT, CameraReason.FACE_LOST, CameraReason.CLIP_ENDED})
"""Failures a second face in view explains better (its frames count as no face for the challenge)."""


class ChallengeEngine:
    """See the module docstring. ``prompts``: list of (action, media seconds) for replay mode; an
    empty list only collects events (``kiosk liveness --events``)."""

    def __init__(self, settings: LivenessSettings, rng: random.Random, *, hold_s: float,
                 prompts: list[tuple[Action, float]] | None = None, prompt_wait_s: float | None = None) -> None:
        self._s = settings
        self._prompt_wait_s = prompt_wait_s if prompts is None else None
        self._awaiting_heard = False
        self._hold_s = hold_s
        self.detector = EventDetector(settings)
        self.events: list[Event] = []
        self._replay = prompts is not None
        if prompts is not None:
            self._prompts = sorted(prompts, key=lambda item: item[1])
            self.plan: list[Action] = [action for action, _ in self._prompts]
        else:
            self._prompts = []
            self.plan = draw_plan(settings, rng)
        self._phase: Phase = "positioning"
        self._ok_since: float | None = None
        self._baseline_since: float | None = None
        self._current = 0
        self._prompt_s: float | None = None
        self._deadline_s: float | None = None
        self._outcomes: list[ActionOutcome] = []
        self._failure: CameraReason | None = None
        self._hint: CameraReason | None = None
        self._lost_since: float | None = None
        self._paused = False
        self._reprompts = 0
        self._previous: tuple[float, FaceObservation] | None = None
        self._reference: np.ndarray | None = None
        self._recent: deque[np.ndarray] = deque(maxlen=5)
        self._used: set[int] = set()  # ids of events already credited to a replay prompt
        self._crowded_in_action = False  # a second face was in view while an action was asked for

    # -- public -----------------------------------------------------------------------------------

    def step(self, t_s: float, obs: FaceObservation | None, quality: QualityReport, *, frontal: bool = True) -> ChallengeState:
        """Consumes one frame's observation and quality report; returns the new state.

        ``frontal`` (see :func:`camera.quality.is_frontal`) says whether eye and mouth ratios can be
        trusted in this frame; it is passed apart from ``quality`` so that events are found the
        same way in every phase.
        """
        if self._phase == "done":
            return self.state()
        one_face = obs is not None and obs.face_count == 1
        if self._phase == "action" and obs is not None and obs.face_count > 1:
            self._crowded_in_action = True
        frontal = one_face and frontal
        new_events = self.detector.feed(t_s, obs if one_face else None, frontal=frontal)
        self.events.extend(new_events)
        self._hint = quality.reason
        if one_face and obs is not None and self._identity_broken(t_s, obs):
            return self._fail(CameraReason.FACE_CHANGED)
        if self._replay:
            self._step_replay(t_s, quality)
        else:
            self._step_live(t_s, obs if one_face else None, quality, new_events)
        return self.state()

    def finish(self, t_s: float) -> ChallengeState:
        """The input ended at ``t_s`` (a clip ran out): judges what is pending and finishes."""
        if self._phase == "done":
            return self.state()
        new_events = self.detector.finish()
        self.events.extend(new_events)
        if self._replay:
            self._step_replay(t_s, QualityReport(None), final=True)
        else:
            self._credit(new_events)
            if self._phase != "done":
                self._fail(CameraReason.ACTION_TIMEOUT if self._phase == "action" else CameraReason.CLIP_ENDED)
        return self.state()

    def prompt_heard(self, t_s: float, action: str) -> None:
        """The prompt for ``action`` finished playing at ``t_s``: its window starts now (live mode
        with ``prompt_wait_s``; ignored otherwise, or when ``action`` is not the one asked for)."""
        state = self.state()
        if self._awaiting_heard and state.action == action:
            self._awaiting_heard = False
            self._deadline_s = t_s + self._s.action_timeout_s

    def state(self) -> ChallengeState:
        """The current state."""
        action = self.plan[self._current] if self._phase == "action" and self._current < len(self.plan) else None
        return ChallengeState(
            phase=self._phase,
            hint=self._hint,
            action=action,
            action_started_s=self._prompt_s if action else None,
            action_deadline_s=self._deadline_s if action else None,
            completed=tuple(o.action for o in self._outcomes if o.passed),
            outcomes=tuple(self._outcomes),
            failure=self._failure,
        )

    # -- identity ---------------------------------------------------------------------------------

    def _identity_broken(self, t_s: float, obs: FaceObservation) -> bool:
        previous, self._previous = self._previous, (t_s, obs)
        if self._phase == "positioning" and not self._replay:
            return False  # nobody is being checked yet: people may come and go
        if previous is not None and t_s - previous[0] <= _CONSECUTIVE_S:
            jump = float(np.hypot(obs.centre[0] - previous[1].centre[0], obs.centre[1] - previous[1].centre[1]))
            if jump > self._s.max_jump_face_widths * max(previous[1].width_px, 1.0):
                return True
        if abs(obs.yaw_deg) > 15.0 or abs(obs.pitch_deg) > 20.0:
            return False  # the shape signature is only comparable on near-frontal faces
        self._recent.append(shape_signature(obs))
        current = np.median(np.asarray(self._recent), axis=0)
        if self._reference is None:
            if len(self._recent) == self._recent.maxlen:
                self._reference = current
            return False
        change = float(np.mean(np.abs(current - self._reference) / self._reference))
        return change > self._s.max_shape_change_ratio

    # -- live mode --------------------------------------------------------------------------------

    def _step_live(self, t_s: float, obs: FaceObservation | None, quality: QualityReport, new_events: list[Event]) -> None:
        if self._phase == "positioning":
            if quality.ok:
                self._ok_since = t_s if self._ok_since is None else self._ok_since
                if t_s - self._ok_since >= self._hold_s:
                    self._phase, self._baseline_since = "baseline", t_s
            else:
                self._ok_since = None
            return
        if self._phase == "baseline":
            if obs is None:
                self._phase, self._ok_since = "positioning", None
            elif t_s - (self._baseline_since or t_s) >= self._s.baseline_s and self.detector.baseline is not None:
                self._prompt(t_s)
            return
        # action phase
        if obs is None:
            self._lost_since = t_s if self._lost_since is None else self._lost_since
            if t_s - self._lost_since > self._s.face_lost_grace_s:
                self._paused = True
            if not self._paused and self._deadline_s is not None and t_s > self._deadline_s:
                self._fail(CameraReason.ACTION_TIMEOUT)
            return
        self._lost_since = None
        if self._paused:
            self._paused = False
            self._reprompts += 1
            if self._reprompts > self._s.max_reprompts:
                self._fail(CameraReason.FACE_LOST)
                return
            self._prompt(t_s)  # the person missed the prompt while away: ask again, fresh window
            return
        self._credit(new_events)
        if self._phase == "action" and self._deadline_s is not None and t_s > self._deadline_s:
            self._fail(CameraReason.ACTION_TIMEOUT)

    def _prompt(self, t_s: float) -> None:
        self._phase = "action"
        wait = self._prompt_wait_s or 0.0
        self._awaiting_heard = self._prompt_wait_s is not None
        self._prompt_s, self._deadline_s = t_s, t_s + wait + self._s.action_timeout_s

    def _credit(self, new_events: list[Event]) -> None:
        if self._phase != "action" or self._prompt_s is None:
            return
        wanted = self.plan[self._current]
        for event in new_events:
            if event.kind == wanted and event.start_s >= self._prompt_s:
                self._outcomes.append(ActionOutcome(wanted, self._prompt_s, event.end_s, True))
                self._current += 1
                if self._current >= len(self.plan):
                    self._phase = "done"
                else:
                    self._prompt(event.end_s)
                return

    # -- replay mode ------------------------------------------------------------------------------

    def _step_replay(self, t_s: float, quality: QualityReport, *, final: bool = False) -> None:
        # Replay judges from every event seen so far (self.events), not just this frame's.
        while self._current < len(self._prompts):
            action, prompt_s = self._prompts[self._current]
            following = self._prompts[self._current + 1][1] if self._current + 1 < len(self._prompts) else float("inf")
            window_end = min(prompt_s + self._s.action_timeout_s, following)
            if t_s < prompt_s and not final:
                self._phase = "baseline" if quality.ok else "positioning"
                return
            self._phase, self._prompt_s, self._deadline_s = "action", prompt_s, window_end
            hit = next((e for e in self.events if e.kind == action and prompt_s <= e.start_s < window_end
                        and id(e) not in self._used), None)
            # An event that began inside the window may complete after it (a blink is seen whole
            # only when the eyes reopen): the window is judged once nothing is in progress.
            settled = self.detector.quiet() or t_s >= window_end + self._s.blink_max_s
            if hit is not None:
                self._used.add(id(hit))
                self._outcomes.append(ActionOutcome(action, prompt_s, hit.end_s, True))
            elif (t_s >= window_end and settled) or final:
                self._outcomes.append(ActionOutcome(action, prompt_s, None, False))
            else:
                return
            self._current += 1
        if self._prompts or final:
            self._phase = "done"
            if any(not o.passed for o in self._outcomes):
                self._failure = self._named(CameraReason.ACTION_TIMEOUT)

    def _fail(self, reason: CameraReason) -> ChallengeState:
        if self._phase == "action" and self._current < len(self.plan) and self._prompt_s is not None:
            self._outcomes.append(ActionOutcome(self.plan[self._current], self._prompt_s, None, False))
        if self._replay:
            for action, prompt_s in self._prompts[len(self._outcomes):]:
                self._outcomes.append(ActionOutcome(action, prompt_s, None, False))
        self._phase, self._failure = "done", self._named(reason)
        return self.state()

    def _named(self, reason: CameraReason) -> CameraReason:
        """The clearer reason for an attempt that ran out while a second face was in view during the
        actions: the multiple-faces rule held the actions back (a helper who stayed in the picture),
        so ``multiple_faces`` says what went wrong where ``action_timeout`` would not."""
        if self._crowded_in_action and reason in _CROWDING_MASKS:
            return CameraReason.MULTIPLE_FACES
        return reason
