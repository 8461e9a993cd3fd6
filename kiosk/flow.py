"""The certification flow at the terminal: an explicit state machine in plain Python.

Pure and single-threaded: :meth:`Flow.handle` takes a past-tense event and returns the effects the
session controller must carry out (speak a prompt, start the camera, run the match, store a
record, wipe the session). What happens is the table :data:`kiosk.flow_rules.RULES`: one rule per
(state, event class), each naming its target or a small named choice of targets. Time comes from
an injected :class:`~kiosk.clock.Clock`; :meth:`Flow.tick` turns passed deadlines into
``TimedOut`` events and gives a spoken reminder before each one. Nothing here touches a device, Qt
or the database, so the whole journey is tested as a list of events with a fake clock.

Thread rule: a Flow belongs to one thread (the controller's); it is not thread-safe.
Privacy: the flow never holds an ID number (the controller's session data does); the view holds
only a masked display name and dates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from kiosk.clock import Clock
from kiosk.config import RulesSettings, SessionSettings
from kiosk.flow_events import (  # noqa: F401 - re-exported: the events and effects are the flow's API
    Effect, Event, CardPlaced, CardRead, CardRejected, CardRemoved, PensionerFound, ReferenceMissing, PensionerNotFound,
    PersonApproached, IdleTouched, StartRequested, ConsentGiven, ConsentRefused, QualityHinted, FacePositioned,
    ActionPrompted, ActionCompleted, LivenessPassed, LivenessFailed, Matched, Mismatched, RetryRequested,
    ManualReviewRequested, Finished, HelperRequested, FacesCounted, UserActive, RepeatRequested, HelpRequested, DeviceFailed, RecordFailed,
    RecordStored, MaintenanceRequired, DevicesReady, TechnicianEntered, TechnicianLeft, TimedOut, Speak,
    LookUpPensioner, StartLiveness, StopCamera, RunMatch, StoreRecord, Audit, CallStaff, Wipe, event_name,
    StaffCallDelivered, StaffCallUndelivered, StaffCallAcknowledged, StaffSignedIn, StaffVerified,
    AcknowledgeStaffCalls,
    PromptFinished, PersonLeft, ActionHeard,
)
from kiosk.flow_model import (  # noqa: F401 - re-exported
    SESSION_STATES, STAY, Choice, FlowContext, FlowView, PersonView, Rule, StaffCallShown, State, Stay, Target,
    UndeclaredTarget,
)
from kiosk.flow_rules import (  # noqa: F401 - re-exported
    HINT_REPEAT_S, INVITATION_REPEAT_S, ON_ENTER, REMINDED, RULES, TOUCH_INVITATION_REPEAT_S, hesitated,
    on_tick,
)
from kiosk.reasons import Outcome

RuleKey = tuple[State, type[Event]]


def index_rules(rules: Iterable[Rule]) -> dict[RuleKey, Rule]:
    """The rules by (state, event class). Raises ValueError when two rules share a key."""
    index: dict[RuleKey, Rule] = {}
    for rule in rules:
        key = (rule.state, rule.event)
        if key in index:
            raise ValueError(f"two rules for {rule.state} + {rule.event.__name__}")
        index[key] = rule
    return index


_INDEX = index_rules(RULES)


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
        self._ctx = FlowContext(rules, timeouts, clock, new_session_id)

    @property
    def view(self) -> FlowView:
        """The current view (immutable; a new object after every change)."""
        return self._ctx.view

    @property
    def state(self) -> State:
        """The current state."""
        return self._ctx.view.state

    @property
    def missing_devices(self) -> frozenset[str]:
        """The devices reported missing and not back yet (``""`` for an unnamed one)."""
        return frozenset(self._ctx.problems)

    def is_missing(self, device: str) -> bool:
        """True when ``device`` is reported missing and not back yet (asked on every tick: no copy)."""
        return device in self._ctx.problems

    def accepts(self, event: Event) -> bool:
        """True when the current state has a rule for ``event`` (else :meth:`handle` ignores it)."""
        return (self.state, type(event)) in _INDEX

    # --- the two entry points ---

    def handle(self, event: Event) -> list[Effect]:
        """Applies ``event`` and returns the effects to carry out, in order.

        An event that the current state does not expect is ignored (returns []), so late answers
        from devices (a match finishing after the card was pulled) cannot disturb a new session.
        Raises :class:`UndeclaredTarget` when an action picks a target its rule does not declare.
        """
        rule = _INDEX.get((self.state, type(event)))
        if rule is None:
            return []
        ctx = self._ctx
        ctx.effects = []
        target = rule.resolve(rule.action(ctx, event))
        if isinstance(target, State):  # else STAY: the view changed, the state did not
            self._enter(target)
        effects, ctx.effects = ctx.effects, []
        return effects

    def tick(self) -> list[Effect]:
        """Checks the current deadline against the clock; call a few times a second."""
        ctx = self._ctx
        staff_effects = self._staff_call_tick()
        if staff_effects:
            return staff_effects
        ctx.effects = []
        on_tick(ctx)
        if ctx.effects:
            effects, ctx.effects = ctx.effects, []
            return effects
        if ctx.deadline is None:
            return []
        now = ctx.now()
        if now >= ctx.deadline:
            return self.handle(TimedOut())
        reminder = ctx.timeouts.reminder_before_timeout_s
        if reminder > 0 and not ctx.reminded and now >= ctx.deadline - reminder and self.state in REMINDED:
            ctx.reminded = True
            ctx.effects = []
            # A touch does nothing for the face check: there the reminder asks for the face, not a touch.
            ctx.speak("reminder_positioning" if self.state is State.POSITIONING else "reminder_still_there")
            hesitated(ctx)
            effects, ctx.effects = ctx.effects, []
            return effects
        return []

    def _staff_call_tick(self) -> list[Effect]:
        """The staff call's timers: the repeated spoken alert while it could not reach the centre,
        and the end of its text on the idle screen (it must not stay for the next person)."""
        ctx = self._ctx
        now = ctx.now()
        ctx.effects = []
        if ctx.staff_notice_until is not None and now >= ctx.staff_notice_until:
            ctx.forget_staff_call()
        elif ctx.staff_alert_at is not None and now >= ctx.staff_alert_at:
            ctx.staff_alert_at = now + ctx.timeouts.staff_alert_repeat_s
            ctx.speak("staff_call_local")
        effects, ctx.effects = ctx.effects, []
        return effects

    def _enter(self, target: State) -> None:
        ctx = self._ctx
        ctx.update(state=target)
        ctx.restart_deadline()
        ctx.emit(Audit("enter", str(target)))
        ON_ENTER[target](ctx)


def transition_table() -> dict[RuleKey, Rule]:
    """The table by (state, event class) (read-only use: diagrams, completeness tests)."""
    return dict(_INDEX)


def declared_targets(rules: Iterable[Rule] = RULES) -> dict[RuleKey, frozenset[State]]:
    """For each rule, the states it may lead to (:data:`STAY` counted as its own state)."""
    return {(rule.state, rule.event): frozenset(rule.state if target is STAY else target for target in rule.targets)
            for rule in rules}  # type: ignore[misc]


def reachable_from(start: State, rules: Iterable[Rule] = RULES) -> set[State]:
    """Every state some sequence of events leads to from ``start`` (itself included), breadth
    first over the targets the rules declare."""
    successors: dict[State, set[State]] = {}
    for (state, _event), targets in declared_targets(rules).items():
        successors.setdefault(state, set()).update(targets)
    seen = {start}
    frontier = [start]
    while frontier:
        frontier = [target for state in frontier for target in successors.get(state, ()) if target not in seen]
        seen.update(frontier)
    return seen


def prompt_ids(actions: tuple[str, ...] = ("blink", "mouth_open", "turn_left", "turn_right"),
               hint_codes: tuple[str, ...] = (), outcome_codes: tuple[str, ...] = ()) -> set[str]:
    """Every prompt id the flow can speak, given the actions, quality hints and outcome codes in use."""
    ids = {
        "idle_welcome", "card_reading", "status_never_certified", "status_suspended", "status_valid", "status_grace",
        "status_overdue", "consent_question", "positioning_start", "positioning_again", "face_ok",
        "action_done", "matching", "result_certified", "maintenance", "reminder_still_there", "staff_called",
        "helper_offer", "helper_on", "helper_step_aside", "helper_look_at_screen",
        "staff_calling", "staff_call_local", "staff_coming", "result_staff_verified", "review_approved",
        "review_rejected",
        "remove_card", "reminder_positioning",
    }
    ids |= {f"action_{action}" for action in actions}
    ids |= {f"hint_{code}" for code in hint_codes}
    ids |= {f"result_{code}" for code in outcome_codes if code != Outcome.CERTIFIED}
    return ids
