"""The certification flow at the terminal: an explicit state machine in plain Python.

Pure and single-threaded: :meth:`Flow.handle` takes a past-tense event and returns the effects the
session controller must carry out (speak a prompt, start the camera, run the match, store a
record, wipe the session). Time comes from an injected :class:`~kiosk.clock.Clock`; :meth:`Flow.tick`
turns passed deadlines into ``timed_out`` events and gives a spoken reminder before each one.
Nothing here touches a device, Qt or the database, so the whole journey is tested as a list of
events with a fake clock.

Thread rule: a Flow belongs to one thread (the controller's); it is not thread-safe.
Privacy: the view holds only a masked display name and dates; the ID number lives in
``Flow.id_number`` for the controller and is dropped on every wipe.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from camera.errors import CameraReason
from kiosk.clock import Clock, today
from kiosk.config import RulesSettings, SessionSettings
from kiosk.flow_events import (  # noqa: F401 - re-exported: the events and effects are the flow's API
    Effect, Event, CardPlaced, CardRead, CardRejected, CardRemoved, PensionerFound, ReferenceMissing, PensionerNotFound,
    PersonApproached, IdleTouched, StartRequested, ConsentGiven, ConsentRefused, QualityHinted, FacePositioned,
    ActionPrompted, ActionCompleted, LivenessPassed, LivenessFailed, Matched, Mismatched, RetryRequested,
    ManualReviewRequested, Finished, UserActive, RepeatRequested, HelpRequested, DeviceFailed, RecordFailed,
    MaintenanceRequired, DevicesReady, TechnicianEntered, TechnicianLeft, TimedOut, Speak, LookUpPensioner,
    StartLiveness, StopCamera, RunMatch, StoreRecord, Audit, CallStaff, Wipe,
)
from kiosk.policy import CycleStatus, cycle_status
from kiosk.reasons import NextStep, Outcome
from reader.errors import ReaderReason


class State(StrEnum):
    """Every screen-level state of the terminal (the UI has one screen per state)."""

    IDLE = "idle"
    READING = "reading"
    LOOKING_UP = "looking_up"
    STATUS = "status"
    CONSENT = "consent"
    POSITIONING = "positioning"
    ACTIONS = "actions"
    MATCHING = "matching"
    RESULT = "result"
    MAINTENANCE = "maintenance"
    TECHNICIAN = "technician"


SESSION_STATES = frozenset(
    {State.READING, State.LOOKING_UP, State.STATUS, State.CONSENT, State.POSITIONING, State.ACTIONS, State.MATCHING}
)
"""States in which a person's session is under way (a pulled card or a device error ends it)."""


# --- the view the UI renders ---------------------------------------------------------------------


@dataclass(frozen=True)
class PersonView:
    """What the screen may show of the person: a masked name and their certification dates."""

    display_name: str
    never_certified: bool
    status: CycleStatus | None


@dataclass(frozen=True)
class FlowView:
    """An immutable snapshot of the flow for the screen. No ID number, no score."""

    state: State
    session_id: str | None = None
    person: PersonView | None = None
    attempt: int = 0
    attempts_max: int = 3
    hint: str | None = None
    action: str | None = None
    actions_done: tuple[str, ...] = ()
    outcome: str | None = None
    next_step: NextStep | None = None
    valid_until: date | None = None
    can_retry: bool = False
    manual_review_offered: bool = False
    staff_called: bool = False
    maintenance_code: str | None = None
    last_prompt: Speak | None = None


# The next step for outcomes that do not use up a face attempt (those say retry / manual review).
_NEXT_STEP_BY_OUTCOME: dict[str, NextStep] = {
    Outcome.CERTIFIED: NextStep.NONE,
    Outcome.CARD_REMOVED: NextStep.PLACE_CARD_AGAIN,
    Outcome.CARD_EXPIRED: NextStep.RENEW_CARD,
    Outcome.NOT_IN_ROSTER: NextStep.COUNTER,
    Outcome.NO_REFERENCE: NextStep.STAFF_ENROLMENT,
    Outcome.CONSENT_REFUSED: NextStep.COUNTER,
    Outcome.MATCHER_TIMEOUT: NextStep.ASK_STAFF,
    Outcome.DEVICE_ERROR: NextStep.ASK_STAFF,
    Outcome.MANUAL_REVIEW_REQUESTED: NextStep.NONE,
}


Handler = Callable[["Flow", Event], State | None]


class Flow:
    """The certification state machine. See the module docstring for the rules it keeps.

    ``rules`` and ``timeouts`` come from configuration; ``new_session_id`` is injectable so tests
    get stable ids.
    """

    def __init__(
        self,
        rules: RulesSettings,
        timeouts: SessionSettings,
        clock: Clock,
        new_session_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._rules = rules
        self._timeouts = timeouts
        self._clock = clock
        self._new_session_id = new_session_id
        self.view = FlowView(State.IDLE, attempts_max=rules.attempts_per_session)
        self.id_number: str | None = None
        self._effects: list[Effect] = []
        self._deadline: float | None = None
        self._reminded = False
        self._attempts_used = 0
        self._last_hint: tuple[str | None, float] = (None, float("-inf"))
        self._invited_at = float("-inf")

    @property
    def state(self) -> State:
        """The current state."""
        return self.view.state

    # --- the two entry points ---

    def handle(self, event: Event) -> list[Effect]:
        """Applies ``event`` and returns the effects to carry out, in order.

        An event that the current state does not expect is ignored (returns []), so late answers
        from devices (a match finishing after the card was pulled) cannot disturb a new session.
        """
        handler = _TRANSITIONS.get((self.state, event.name)) or _ANY_STATE.get(event.name)
        if handler is None:
            return []
        self._effects = []
        target = handler(self, event)
        if target is not None:
            self._enter(target)
        effects, self._effects = self._effects, []
        return effects

    def tick(self) -> list[Effect]:
        """Checks the current deadline against the clock; call a few times a second."""
        if self._deadline is None:
            return []
        now = self._clock.monotonic()
        if now >= self._deadline:
            return self.handle(TimedOut())
        reminder = self._timeouts.reminder_before_timeout_s
        if reminder > 0 and not self._reminded and now >= self._deadline - reminder and self.state in _REMINDED:
            self._reminded = True
            return [self._speak("reminder_still_there")]
        return []

    def seconds_left(self) -> float | None:
        """Seconds until the current state's deadline, or None when it has none."""
        return None if self._deadline is None else max(0.0, self._deadline - self._clock.monotonic())

    # --- helpers used by the handlers ---

    def _emit(self, *effects: Effect) -> None:
        self._effects.extend(effects)

    def _speak(self, prompt: str, **params: object) -> Speak:
        speak = Speak(prompt, tuple(sorted(params.items())))
        self.view = replace(self.view, last_prompt=speak)
        self._effects.append(speak)
        return speak

    def _enter(self, target: State) -> None:
        self.view = replace(self.view, state=target)
        self._reminded = False
        self._deadline = self._deadline_for(target)
        self._emit(Audit("enter", str(target)))
        _ON_ENTER.get(target, lambda _flow: None)(self)

    def _deadline_for(self, target: State) -> float | None:
        t = self._timeouts
        seconds = {
            State.READING: t.card_read_timeout_s,
            State.LOOKING_UP: t.card_read_timeout_s,
            State.STATUS: t.inactivity_timeout_s,
            State.CONSENT: t.consent_timeout_s,
            State.POSITIONING: t.positioning_timeout_s,
            State.ACTIONS: t.inactivity_timeout_s,
            State.MATCHING: t.matching_timeout_s,
            State.RESULT: t.result_display_s,
        }.get(target)
        return None if seconds is None else self._clock.monotonic() + seconds

    def _extend_deadline(self) -> None:
        if self.state in _EXTENDED_BY_TOUCH:
            self._deadline = self._deadline_for(self.state)
            self._reminded = False

    def _forget_person(self, session_id: str | None = None) -> None:
        """Drops the ID number, the attempts and the view's person: a fresh view for ``session_id``."""
        self._attempts_used = 0
        self.id_number = None
        self.view = FlowView(State.IDLE, session_id=session_id, attempts_max=self._rules.attempts_per_session)

    def _finish(self, outcome: str, *, counts_as_attempt: bool = False, record: bool = False,
                next_step: NextStep | None = None) -> State:
        """Moves to the result screen with ``outcome``; counts and records the attempt as asked."""
        can_retry = False
        manual_review = False
        next_step = next_step or _NEXT_STEP_BY_OUTCOME.get(outcome, NextStep.COUNTER)
        if counts_as_attempt:
            self._attempts_used += 1
            can_retry = self._attempts_used < self._rules.attempts_per_session
            manual_review = not can_retry
            next_step = NextStep.RETRY if can_retry else NextStep.MANUAL_REVIEW
        valid_until = None
        if outcome == Outcome.CERTIFIED:
            day = today(self._clock)
            valid_until = cycle_status(day, day, cycle_days=self._rules.cycle_days, grace_days=self._rules.grace_days).due_date
        if record:
            self._emit(StoreRecord(outcome, self.view.attempt, valid_until))
        self._emit(Audit("outcome", outcome))
        self.view = replace(
            self.view, outcome=outcome, next_step=next_step, valid_until=valid_until, can_retry=can_retry,
            manual_review_offered=manual_review, hint=None, action=None,
        )
        return State.RESULT

    def _person(self, last_certified: date | None) -> PersonView:
        display_name = self.view.person.display_name if self.view.person else ""
        status = None
        if last_certified is not None:
            day = today(self._clock)
            status = cycle_status(min(last_certified, day), day, cycle_days=self._rules.cycle_days,
                                  grace_days=self._rules.grace_days)
        return PersonView(display_name=display_name, never_certified=last_certified is None, status=status)


# --- entry actions ----------------------------------------------------------------------------


def _enter_idle(flow: Flow) -> None:
    flow._emit(StopCamera(), Wipe())
    flow._forget_person()


def _enter_status(flow: Flow) -> None:
    person = flow.view.person
    status = person.status if person else None
    if status is None:
        flow._speak("status_never_certified")
    elif status.payment_suspended:
        flow._speak("status_suspended", suspended_from=status.suspended_from, back_pay_months=status.back_pay_months)
    else:
        flow._speak(f"status_{status.state}", due_date=status.due_date, grace_until=status.grace_until)


def _enter_positioning(flow: Flow) -> None:
    attempt = flow._attempts_used + 1
    flow.view = replace(flow.view, attempt=attempt, hint=None, action=None, actions_done=(), outcome=None,
                        next_step=None, can_retry=False)
    flow._emit(StartLiveness(attempt))
    flow._speak("positioning_start" if attempt == 1 else "positioning_again")


def _enter_result(flow: Flow) -> None:
    view = flow.view
    flow._emit(StopCamera())
    outcome = view.outcome or Outcome.DEVICE_ERROR
    if outcome == Outcome.CERTIFIED:
        flow._speak("result_certified", valid_until=view.valid_until)
    else:
        flow._speak(f"result_{outcome}", next_step=str(view.next_step), attempts_left=view.attempts_max - flow._attempts_used)


_ON_ENTER: dict[State, Callable[[Flow], None]] = {
    State.IDLE: _enter_idle,
    State.READING: lambda flow: flow._speak("card_reading"),
    State.LOOKING_UP: lambda flow: flow._emit(LookUpPensioner()),
    State.STATUS: _enter_status,
    State.CONSENT: lambda flow: flow._speak("consent_question"),
    State.POSITIONING: _enter_positioning,
    State.ACTIONS: lambda flow: None,  # each action is prompted by action_prompted
    State.MATCHING: lambda flow: (flow._emit(RunMatch()), flow._speak("matching")),
    State.RESULT: _enter_result,
    State.MAINTENANCE: lambda flow: (flow._emit(StopCamera(), Wipe()), flow._speak("maintenance")),
    State.TECHNICIAN: lambda flow: flow._emit(StopCamera(), Wipe()),
}

# States whose deadline a touch pushes back, and those that get a spoken reminder before timing out.
_EXTENDED_BY_TOUCH = frozenset({State.STATUS, State.CONSENT, State.RESULT})
_REMINDED = frozenset({State.STATUS, State.CONSENT, State.POSITIONING})


# --- handlers ------------------------------------------------------------------------------------


def _card_placed(flow: Flow, _event: Event) -> State:
    flow._emit(Wipe())
    flow._forget_person(flow._new_session_id())
    return State.READING


def _card_read(flow: Flow, event: Event) -> State:
    assert isinstance(event, CardRead)
    flow.id_number = event.id_number
    flow.view = replace(flow.view, person=PersonView(event.display_name, True, None))
    return State.LOOKING_UP


def _card_rejected(flow: Flow, event: Event) -> State:
    assert isinstance(event, CardRejected)
    return flow._finish(event.code)


def _pensioner_found(flow: Flow, event: Event) -> State:
    assert isinstance(event, PensionerFound)
    flow.view = replace(flow.view, person=flow._person(event.last_certified))
    return State.STATUS


def _reference_missing(flow: Flow, event: Event) -> State:
    assert isinstance(event, ReferenceMissing)
    flow.view = replace(flow.view, person=flow._person(event.last_certified))
    return flow._finish(event.code)


INVITATION_REPEAT_S = 60.0
"""The spoken invitation of the idle screen is not repeated sooner than this (seconds) for people
walking up: people queueing in front of the terminal must not hear it over and over."""

TOUCH_INVITATION_REPEAT_S = 15.0
"""After a touch on the idle screen the invitation is spoken unless it was spoken (for a touch or an
approach) less than this long ago (seconds): a touch asks for it, a double tap must not say it twice."""


def _invite_unless_said_within(repeat_s: float) -> Handler:
    def invite(flow: Flow, _event: Event) -> None:
        now = flow._clock.monotonic()
        if now - flow._invited_at >= repeat_s:
            flow._invited_at = now
            flow._speak("idle_welcome")

    return invite


_person_approached = _invite_unless_said_within(INVITATION_REPEAT_S)
_idle_touched = _invite_unless_said_within(TOUCH_INVITATION_REPEAT_S)


HINT_REPEAT_S = 6.0
"""The same spoken hint is not repeated sooner than this (seconds): a face flickering in and out of
a gate must not make the voice chatter at an elderly person."""


def _quality_hinted(flow: Flow, event: Event) -> None:
    assert isinstance(event, QualityHinted)
    if event.code == flow.view.hint:
        return
    flow.view = replace(flow.view, hint=event.code)
    if event.code is None:
        return
    now = flow._clock.monotonic()
    last_code, last_at = flow._last_hint
    if event.code != last_code or now - last_at >= HINT_REPEAT_S:
        flow._last_hint = (event.code, now)
        flow._speak(f"hint_{event.code}")


def _action_prompted(flow: Flow, event: Event) -> State:
    assert isinstance(event, ActionPrompted)
    flow.view = replace(flow.view, action=event.action, hint=None)
    flow._speak(f"action_{event.action}")
    return State.ACTIONS


def _action_completed(flow: Flow, event: Event) -> None:
    assert isinstance(event, ActionCompleted)
    flow.view = replace(flow.view, actions_done=flow.view.actions_done + (event.action,), action=None)
    flow._speak("action_done")


def _retry(flow: Flow, _event: Event) -> State | None:
    return State.POSITIONING if flow.view.can_retry else None


def _manual_review(flow: Flow, _event: Event) -> State | None:
    if not flow.view.manual_review_offered:
        return None
    flow._emit(StoreRecord(Outcome.MANUAL_REVIEW_REQUESTED, flow.view.attempt))
    flow.view = replace(flow.view, manual_review_offered=False, can_retry=False)
    return flow._finish(Outcome.MANUAL_REVIEW_REQUESTED)


def _user_active(flow: Flow, _event: Event) -> None:
    flow._extend_deadline()


def _repeat(flow: Flow, _event: Event) -> None:
    flow._extend_deadline()
    if flow.view.last_prompt is not None:
        flow._emit(flow.view.last_prompt)


def _help(flow: Flow, _event: Event) -> None:
    flow._extend_deadline()
    flow.view = replace(flow.view, staff_called=True)
    flow._emit(CallStaff(), Audit("help", "staff_called"))
    flow._speak("staff_called")


def _card_removed(flow: Flow, _event: Event) -> State:
    return flow._finish(Outcome.CARD_REMOVED)


def _device_failed(flow: Flow, event: Event) -> State:
    assert isinstance(event, (DeviceFailed, RecordFailed))
    return flow._finish(event.code, next_step=NextStep.ASK_STAFF)


def _maintenance(flow: Flow, event: Event) -> State:
    assert isinstance(event, MaintenanceRequired)
    flow.view = replace(flow.view, maintenance_code=event.code)
    return State.MAINTENANCE


def _maintenance_changed(flow: Flow, event: Event) -> None:
    """Another (or a further) problem while the maintenance screen shows: name the latest."""
    assert isinstance(event, MaintenanceRequired)
    flow.view = replace(flow.view, maintenance_code=event.code)


def _timeout(flow: Flow, _event: Event) -> State:
    state = flow.state
    if state in (State.READING, State.LOOKING_UP):
        return flow._finish(ReaderReason.CARD_READ_FAILED if state is State.READING else Outcome.DEVICE_ERROR)
    if state is State.POSITIONING:
        return flow._finish(flow.view.hint or Outcome.POSITIONING_TIMEOUT, counts_as_attempt=True, record=True)
    if state is State.ACTIONS:
        return flow._finish(CameraReason.ACTION_TIMEOUT, counts_as_attempt=True, record=True)
    if state is State.MATCHING:
        return flow._finish(Outcome.MATCHER_TIMEOUT)
    if state in (State.STATUS, State.CONSENT):
        flow._emit(Audit("outcome", Outcome.SESSION_TIMEOUT))
    return State.IDLE


def _to(target: State) -> Handler:
    return lambda _flow, _event: target


def _finish_with(outcome: str, **kwargs: bool) -> Handler:
    return lambda flow, _event: flow._finish(outcome, **kwargs)


def _failed_attempt(flow: Flow, event: Event) -> State:
    code = getattr(event, "code", Outcome.LIVENESS_FAILED)
    return flow._finish(code, counts_as_attempt=True, record=True)


# The literal transition table: (state, event name) -> handler returning the next state (or None to
# stay). Events not listed for a state are ignored.
_TRANSITIONS: dict[tuple[State, str], Handler] = {
    (State.IDLE, "card_placed"): _card_placed,
    (State.IDLE, "maintenance_required"): _maintenance,
    (State.IDLE, "technician_entered"): _to(State.TECHNICIAN),
    (State.IDLE, "person_approached"): _person_approached,
    (State.IDLE, "idle_touched"): _idle_touched,
    (State.READING, "card_read"): _card_read,
    (State.READING, "card_rejected"): _card_rejected,
    (State.LOOKING_UP, "pensioner_found"): _pensioner_found,
    (State.LOOKING_UP, "reference_missing"): _reference_missing,
    (State.LOOKING_UP, "pensioner_not_found"): _finish_with(Outcome.NOT_IN_ROSTER),
    (State.STATUS, "start_requested"): _to(State.CONSENT),
    (State.CONSENT, "consent_given"): lambda flow, _e: (flow._emit(Audit("consent", "given")), State.POSITIONING)[1],
    (State.CONSENT, "consent_refused"): _finish_with(Outcome.CONSENT_REFUSED, record=True),
    (State.POSITIONING, "quality_hinted"): _quality_hinted,
    (State.POSITIONING, "face_positioned"): lambda flow, _e: (flow._speak("face_ok"), None)[1],
    (State.POSITIONING, "action_prompted"): _action_prompted,
    (State.POSITIONING, "liveness_failed"): _failed_attempt,
    (State.ACTIONS, "action_prompted"): _action_prompted,
    (State.ACTIONS, "action_completed"): _action_completed,
    (State.ACTIONS, "quality_hinted"): _quality_hinted,
    (State.ACTIONS, "liveness_passed"): _to(State.MATCHING),
    (State.ACTIONS, "liveness_failed"): _failed_attempt,
    (State.MATCHING, "matched"): _finish_with(Outcome.CERTIFIED, record=True),
    (State.MATCHING, "mismatched"): _failed_attempt,
    (State.RESULT, "retry_requested"): _retry,
    (State.RESULT, "manual_review_requested"): _manual_review,
    (State.RESULT, "finished"): _to(State.IDLE),
    (State.RESULT, "card_placed"): _card_placed,
    (State.RESULT, "record_failed"): _device_failed,
    (State.MAINTENANCE, "devices_ready"): _to(State.IDLE),
    (State.MAINTENANCE, "maintenance_required"): _maintenance_changed,
    (State.MAINTENANCE, "technician_entered"): _to(State.TECHNICIAN),
    (State.TECHNICIAN, "technician_left"): _to(State.IDLE),
    **{(state, "card_removed"): _card_removed for state in SESSION_STATES},
    **{(state, "device_failed"): _device_failed for state in SESSION_STATES},
    **{(state, "timed_out"): _timeout for state in (*SESSION_STATES, State.RESULT)},
}

# Events every state accepts, unless the table above says otherwise for that state.
_ANY_STATE: dict[str, Handler] = {
    "user_active": _user_active,
    "repeat_requested": _repeat,
    "help_requested": _help,
}


def transition_table() -> dict[tuple[State, str], Handler]:
    """The transition table (read-only use: diagrams, completeness tests)."""
    return dict(_TRANSITIONS)


def prompt_ids(actions: tuple[str, ...] = ("blink", "mouth_open", "turn_left", "turn_right"),
               hint_codes: tuple[str, ...] = (), outcome_codes: tuple[str, ...] = ()) -> set[str]:
    """Every prompt id the flow can speak, given the actions, quality hints and outcome codes in use."""
    ids = {
        "idle_welcome", "card_reading", "status_never_certified", "status_suspended", "status_valid", "status_grace",
        "status_overdue", "consent_question", "positioning_start", "positioning_again", "face_ok",
        "action_done", "matching", "result_certified", "maintenance", "reminder_still_there", "staff_called",
    }
    ids |= {f"action_{action}" for action in actions}
    ids |= {f"hint_{code}" for code in hint_codes}
    ids |= {f"result_{code}" for code in outcome_codes if code != Outcome.CERTIFIED}
    return ids
