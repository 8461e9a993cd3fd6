"""The pieces the certification flow is built from: its states, the view the screen renders, the
shape of a rule, and the context a rule's action works on.

* :class:`State` and :class:`FlowView` are what the UI sees (one screen per state).
* :class:`Rule` is one row of the flow's table: in ``state``, an event of class ``event`` leads to
  ``target`` (a :class:`State`, :data:`STAY`, or a named :class:`Choice` of targets) after
  ``action`` ran. An action returns None for a fixed target; for a Choice it returns the target it
  picked, and the engine (:class:`kiosk.flow.Flow`) refuses one the Choice does not declare.
* :class:`FlowContext` is everything an action may read or change: the view, what the flow
  remembers between events (attempts, missing devices, the last hint) and the effects of the
  current step. Actions use nothing else, so the table in :mod:`kiosk.flow_rules` reads as data.

Thread rule: like the flow itself, a context belongs to one thread (the controller's).
Privacy: nothing here holds an ID number; the view holds a masked name and dates only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import Enum, StrEnum
from typing import Generic, TypeVar

from kiosk.clock import Clock, today
from kiosk.config import RulesSettings, SessionSettings
from kiosk.flow_events import Audit, Effect, Event, Speak, StoreRecord
from kiosk.policy import CycleStatus, cycle_status
from kiosk.reasons import CERTIFYING_OUTCOMES, NextStep, Outcome


class State(StrEnum):
    """Every screen-level state of the terminal (the UI has one screen per state)."""

    IDLE = "idle"
    READING = "reading"
    LOOKING_UP = "looking_up"
    STATUS = "status"
    CONSENT = "consent"
    HELPER_ASIDE = "helper_aside"
    POSITIONING = "positioning"
    ACTIONS = "actions"
    MATCHING = "matching"
    RESULT = "result"
    MAINTENANCE = "maintenance"
    TECHNICIAN = "technician"


class StaffCallShown(StrEnum):
    """What the screen says of a staff call (the footer's help button and the voice).

    Only ``notified`` and ``acknowledged`` say that staff were told: the centre answered."""

    CALLING = "calling"  # sent, no answer yet
    NOTIFIED = "notified"  # the centre has it: "已通知工作人员"
    LOCAL = "local"  # could not reach the centre: the terminal signals and says where to go instead
    ACKNOWLEDGED = "acknowledged"  # a staff member acknowledged it: "工作人员马上就到"


SESSION_STATES = frozenset(
    {State.READING, State.LOOKING_UP, State.STATUS, State.CONSENT, State.HELPER_ASIDE, State.POSITIONING,
     State.ACTIONS, State.MATCHING}
)
"""States in which a person's session is under way (a pulled card or a device error ends it)."""


@dataclass(frozen=True)
class PersonView:
    """What the screen may show of the person: a masked name, their certification dates and a
    recent decision on their manual-review request."""

    display_name: str
    never_certified: bool
    status: CycleStatus | None
    review: str | None = None  # a recent review decision at the centre: approved / rejected


@dataclass(frozen=True)
class FlowView:
    """An immutable snapshot of the flow for the screen. No ID number, no score.

    ``assisted``: a family member operates the screen (helper mode); ``helper_offered``: the
    "家人帮忙操作" button was offered by voice (a second face, or hesitation) and shows beyond the
    status screen too.
    """

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
    staff_call: StaffCallShown | None = None
    maintenance_code: str | None = None
    last_prompt: Speak | None = None
    assisted: bool = False
    helper_offered: bool = False
    take_card: bool = False


ASSISTED_BY_FAMILY = "family"
"""The record's ``assisted_by`` when a family member operated the screen (issue 19)."""


# --- the shape of the table ----------------------------------------------------------------------


class Stay(Enum):
    """The target of a rule that changes the view but not the state (no entry actions run)."""

    STAY = "stay"


STAY = Stay.STAY
Target = State | Stay

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Choice:
    """A small, named choice of targets; ``when`` says for each target when the action picks it."""

    name: str
    when: Mapping[Target, str]

    @property
    def targets(self) -> frozenset[Target]:
        """The targets the action may return."""
        return frozenset(self.when)


class UndeclaredTarget(RuntimeError):
    """An action returned a target its rule does not declare: a bug in the table, never data."""


@dataclass(frozen=True)
class Rule(Generic[E]):
    """One row of the table: in ``state``, an ``event`` leads to ``target`` after ``action``."""

    state: State
    event: type[E]
    target: Target | Choice
    action: Callable[[FlowContext, E], Target | None]

    @property
    def targets(self) -> frozenset[Target]:
        """Every target this rule may lead to."""
        return self.target.targets if isinstance(self.target, Choice) else frozenset({self.target})

    def resolve(self, chosen: Target | None) -> Target:
        """The target of one application: the fixed one, or the one the action chose.

        Raises :class:`UndeclaredTarget` when the action's answer is not declared by the rule."""
        if isinstance(self.target, Choice):
            if chosen is None or chosen not in self.target.when:
                raise UndeclaredTarget(f"{self.state} + {self.event.__name__}: {chosen!r} is not one of "
                                       f"{self.target.name} {sorted(map(str, self.target.when))}")
            return chosen
        if chosen is not None and chosen is not self.target:
            raise UndeclaredTarget(f"{self.state} + {self.event.__name__}: {chosen!r}, declared {self.target!r}")
        return self.target


def prompt(prompt_id: str, **params: object) -> Speak:
    """The prompt ``prompt_id`` with ``params`` in a stable order (prompts are compared in tests)."""
    return Speak(prompt_id, tuple(sorted(params.items())))


# --- what an action works on ---------------------------------------------------------------------

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
    Outcome.STAFF_VERIFIED: NextStep.NONE,
}

# States whose deadline a touch pushes back (the person is reading or deciding).
EXTENDED_BY_TOUCH = frozenset({State.STATUS, State.CONSENT, State.RESULT})


def deadline_s(timeouts: SessionSettings, state: State) -> float | None:
    """How long ``state`` may last (seconds), or None when it waits without limit."""
    return {
        State.READING: timeouts.card_read_timeout_s,
        State.LOOKING_UP: timeouts.card_read_timeout_s,
        State.STATUS: timeouts.status_timeout_s,
        State.CONSENT: timeouts.consent_timeout_s,
        State.HELPER_ASIDE: timeouts.positioning_timeout_s,
        State.POSITIONING: timeouts.positioning_timeout_s,
        State.ACTIONS: timeouts.inactivity_timeout_s,
        State.MATCHING: timeouts.matching_timeout_s,
        State.RESULT: timeouts.result_display_s,
    }.get(state)


@dataclass
class FlowContext:
    """The view, what the flow remembers between events, and the effects of the current step.

    ``problems`` maps a device (``reader``, ``camera``, ``storage``, or ``""`` when unnamed) to the
    reason code that keeps the terminal in maintenance, oldest report first.
    ``held_announcement`` is the result prompt waiting for :class:`~kiosk.flow_events.RecordStored`.
    ``hesitations`` counts reminders and "listen again" touches before the face check (the helper
    mode is offered at the second); ``faces_in_view`` is the latest face count while the helper
    steps aside; ``camera_attempt`` the attempt whose liveness session runs (0: none), so that the
    positioning screen after the helper stepped aside does not restart it.
    """

    rules: RulesSettings
    timeouts: SessionSettings
    clock: Clock
    new_session_id: Callable[[], str]
    view: FlowView = field(init=False)
    attempts_used: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    last_hint: tuple[str | None, float] = (None, float("-inf"))
    invited_at: float = float("-inf")
    held_announcement: Speak | None = None
    deadline: float | None = None
    reminded: bool = False
    hesitations: int = 0
    faces_in_view: int = 0
    camera_attempt: int = 0
    hint_shown_at: float = float("-inf")
    pending_hint: tuple[str | None] | None = None
    card_on_reader: bool = False
    card_reminded_at: float = float("-inf")
    card_reminders: int = 0
    effects: list[Effect] = field(default_factory=list)
    staff_call_id: str | None = None  # the call the screen speaks of; answers for others are ignored
    staff_alert_at: float | None = None  # next spoken alert while the call could not reach the centre
    staff_notice_until: float | None = None  # on the idle screen, the call's text goes at this time

    def __post_init__(self) -> None:
        self.view = FlowView(State.IDLE, attempts_max=self.rules.attempts_per_session)

    # --- reading ---

    def now(self) -> float:
        """The clock's monotonic seconds."""
        return self.clock.monotonic()

    def latest_problem(self) -> str | None:
        """The reason code of the device reported missing most recently (first report counts)."""
        return next(reversed(self.problems.values()), None)

    def person(self, last_certified: date | None) -> PersonView:
        """The person of the view with their cycle status on today's date."""
        display_name = self.view.person.display_name if self.view.person else ""
        status = None
        if last_certified is not None:
            day = today(self.clock)
            status = cycle_status(min(last_certified, day), day, cycle_days=self.rules.cycle_days,
                                  grace_days=self.rules.grace_days)
        return PersonView(display_name=display_name, never_certified=last_certified is None, status=status)

    # --- changing ---

    def update(self, **changes: object) -> None:
        """Replaces fields of the view (it stays immutable for whoever holds the old one)."""
        self.view = replace(self.view, **changes)  # type: ignore[arg-type]

    def emit(self, *effects: Effect) -> None:
        """Adds effects for the controller, in order."""
        self.effects.extend(effects)

    def speak(self, prompt_id: str, **params: object) -> Speak:
        """Speaks ``prompt_id`` now and remembers it for "listen again"."""
        speak = prompt(prompt_id, **params)
        self.say(speak)
        return speak

    def say(self, speak: Speak) -> None:
        """Speaks an already built prompt (a held announcement) and remembers it."""
        self.update(last_prompt=speak)
        self.effects.append(speak)

    def assisted_by(self) -> str | None:
        """What the record says of help: ``family`` in helper mode (nothing about the helper), else None."""
        return ASSISTED_BY_FAMILY if self.view.assisted else None

    def records_in_this_step(self) -> bool:
        """True when this step asked for a record to be stored (its result waits for RecordStored)."""
        return any(isinstance(effect, StoreRecord) for effect in self.effects)

    def forget_person(self, session_id: str | None = None) -> None:
        """Drops the attempts, the held announcement and the view's person: a fresh view (same
        state) for ``session_id``."""
        self.attempts_used = 0
        self.held_announcement = None
        self.hesitations = 0
        self.faces_in_view = 0
        self.forget_staff_call()
        self.view = FlowView(self.view.state, session_id=session_id, attempts_max=self.rules.attempts_per_session)

    def forget_staff_call(self) -> None:
        """The screen stops speaking of the staff call (the call itself goes on at the desk)."""
        self.staff_call_id = self.staff_alert_at = self.staff_notice_until = None
        if self.view.staff_call is not None or self.view.staff_called:
            self.update(staff_call=None, staff_called=False)

    def extend_deadline(self) -> None:
        """A touch: the full time again where the person is reading or deciding."""
        if self.view.state in EXTENDED_BY_TOUCH:
            self.restart_deadline()

    def restart_deadline(self) -> None:
        """Starts the current state's deadline from now (and its reminder with it)."""
        seconds = deadline_s(self.timeouts, self.view.state)
        self.deadline = None if seconds is None else self.now() + seconds
        self.reminded = False

    def finish(self, outcome: str, *, counts_as_attempt: bool = False, record: bool = False,
               next_step: NextStep | None = None, staff: tuple[str, str] | None = None) -> None:
        """Sets the result of the session or attempt (the rule's target is the result screen);
        counts and records the attempt as asked. ``staff``: (staff number, reason) of a
        face-to-face certification."""
        can_retry = False
        manual_review = False
        next_step = next_step or _NEXT_STEP_BY_OUTCOME.get(outcome, NextStep.COUNTER)
        if counts_as_attempt:
            self.attempts_used += 1
            can_retry = self.attempts_used < self.rules.attempts_per_session
            manual_review = not can_retry
            next_step = NextStep.RETRY if can_retry else NextStep.MANUAL_REVIEW
        valid_until = None
        if outcome in CERTIFYING_OUTCOMES:
            day = today(self.clock)
            valid_until = cycle_status(day, day, cycle_days=self.rules.cycle_days,
                                       grace_days=self.rules.grace_days).due_date
        if record:
            staff_number, staff_reason = staff or (None, None)
            self.emit(StoreRecord(outcome, self.view.attempt, valid_until, staff_number, staff_reason,
                                  self.assisted_by()))
        self.emit(Audit("outcome", outcome))
        self.update(outcome=outcome, next_step=next_step, valid_until=valid_until, can_retry=can_retry,
                    manual_review_offered=manual_review, hint=None, action=None)
