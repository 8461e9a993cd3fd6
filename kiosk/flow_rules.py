"""The certification flow's table: every rule as (state, event class) -> target plus an action, and
what each state does on entry.

Read :data:`RULES` top to bottom to know the whole journey; the README's diagram is generated from
it (:mod:`kiosk.flow_diagram`). Events not listed for a state are ignored, so a late answer from a
device (a match finishing after the card was pulled) cannot disturb another session.

Rules kept here rather than in the controller, so that they are tested as lists of events:
* the maintenance bookkeeping: every state notes which device is missing; the terminal leaves the
  maintenance screen only when every device is back, and a session that ends while one is still
  missing goes to the maintenance screen instead of idle (:data:`BACK_TO_IDLE`);
* "store the record, then announce it": a result that asked for a record is announced only on
  :class:`~kiosk.flow_events.RecordStored`; on :class:`~kiosk.flow_events.RecordFailed` the
  announcement is dropped and the person hears the device error instead.

Thread rule: actions run on the flow's thread (the controller's), through a
:class:`~kiosk.flow_model.FlowContext` only.
"""

from __future__ import annotations

from collections.abc import Callable

from camera.errors import CameraReason
from kiosk.flow_events import (
    ActionCompleted, ActionPrompted, Audit, CallStaff, CardPlaced, CardRead, CardRejected, CardRemoved, ConsentGiven,
    ConsentRefused, DeviceFailed, DevicesReady, Effect, Event, FacePositioned, Finished, HelpRequested, IdleTouched,
    LivenessFailed, LivenessPassed, LookUpPensioner, MaintenanceRequired, ManualReviewRequested, Matched, Mismatched,
    PensionerFound, PensionerNotFound, PersonApproached, PersonLeft, PromptFinished, ActionHeard, QualityHinted,
    RecordFailed, RecordStored, ReferenceMissing,
    RepeatRequested, RetryRequested, RunMatch, StartLiveness, StartRequested, StopCamera, StoreRecord,
    TechnicianEntered, TechnicianLeft, TimedOut, UserActive, Wipe,
)
from kiosk.flow_model import SESSION_STATES, STAY, Choice, FlowContext, PersonView, Rule, State, Target, prompt
from kiosk.reasons import NextStep, Outcome
from reader.errors import ReaderReason

INVITATION_REPEAT_S = 60.0
"""The spoken invitation of the idle screen is not repeated sooner than this (seconds) for people
walking up: people queueing in front of the terminal must not hear it over and over."""

TOUCH_INVITATION_REPEAT_S = 15.0
"""After a touch on the idle screen the invitation is spoken unless it was spoken (for a touch or an
approach) less than this long ago (seconds): a touch asks for it, a double tap must not say it twice."""

HINT_REPEAT_S = 6.0
"""The same spoken hint is not repeated sooner than this (seconds): a face flickering in and out of
a gate must not make the voice chatter at an elderly person."""

HINT_MIN_DWELL_S = 2.5
"""A hint stays on screen at least this long (seconds), about the time the voice takes to say one:
the screen must not change faster than an elderly person can read it or the voice can speak it.
A newer hint waits (:func:`settle_hint`, on the flow's tick) and shows if it still holds."""

REMOVE_CARD_REPEAT_S = 8.0
"""The card-removal reminder is repeated this often (seconds) while the card stays on the reader."""

REMOVE_CARD_SPOKEN_MAX = 8
"""After this many spoken reminders the voice stops (the screen keeps asking): a card forgotten on
an unattended terminal must not make it talk for hours."""

REMINDED = frozenset({State.STATUS, State.CONSENT, State.POSITIONING})
"""States that get a spoken reminder shortly before they time out."""


# --- the named choices ---------------------------------------------------------------------------

BACK_TO_IDLE = Choice("back_to_idle", {State.IDLE: "", State.MAINTENANCE: "a device missing"})
RETRY = Choice("retry", {State.POSITIONING: "attempts left", STAY: "none left"})
MANUAL_REVIEW = Choice("manual_review", {State.RESULT: "after the last attempt", STAY: "not offered"})
MAINTENANCE_OVER = Choice("maintenance_over", {State.IDLE: "every device back", STAY: "another still missing"})


def back_to_idle(ctx: FlowContext) -> State:
    """Idle, or the maintenance screen while a device is missing (noted during the session)."""
    return State.MAINTENANCE if ctx.problems else State.IDLE


# --- actions -------------------------------------------------------------------------------------


def nothing(_ctx: FlowContext, _event: Event) -> None:
    """The target says it all."""


def start_session(ctx: FlowContext, _event: CardPlaced) -> None:
    ctx.card_on_reader = True
    ctx.emit(Wipe())
    ctx.forget_person(ctx.new_session_id())


def card_lifted(ctx: FlowContext, _event: CardRemoved) -> None:
    """The card left the reader after its session: stop asking for it, invite the next person."""
    ctx.card_on_reader = False
    if ctx.view.take_card:
        ctx.update(take_card=False)


def card_read(ctx: FlowContext, event: CardRead) -> None:
    # Only the masked name: the ID number is the controller's (kiosk.session), never the flow's.
    ctx.update(person=PersonView(event.display_name, True, None))


def card_rejected(ctx: FlowContext, event: CardRejected) -> None:
    ctx.finish(event.code)


def pensioner_found(ctx: FlowContext, event: PensionerFound) -> None:
    ctx.update(person=ctx.person(event.last_certified))


def reference_missing(ctx: FlowContext, event: ReferenceMissing) -> None:
    ctx.update(person=ctx.person(event.last_certified))
    ctx.finish(event.code)


def finish_with(outcome: str, *, record: bool = False) -> Callable[[FlowContext, Event], None]:
    """An action that ends on the result screen with ``outcome``."""
    def finish(ctx: FlowContext, _event: Event) -> None:
        ctx.finish(outcome, record=record)

    return finish


def invite_unless_said_within(repeat_s: float) -> Callable[[FlowContext, Event], None]:
    """Speaks the idle invitation unless it was spoken less than ``repeat_s`` seconds ago."""
    def invite(ctx: FlowContext, _event: Event) -> None:
        now = ctx.now()
        if ctx.view.take_card:  # the last person's card is still there: ask for it, invite nobody
            if now - ctx.card_reminded_at >= min(repeat_s, REMOVE_CARD_REPEAT_S) / 2:
                remind_to_take_card(ctx)
            return
        if now - ctx.invited_at >= repeat_s:
            ctx.invited_at = now
            ctx.speak("idle_welcome")

    return invite


def consent_given(ctx: FlowContext, _event: ConsentGiven) -> None:
    ctx.emit(Audit("consent", "given"))


def remind_to_take_card(ctx: FlowContext) -> None:
    """Says "请取走您的身份证" (the screen shows it as long as ``take_card`` holds)."""
    ctx.card_reminded_at = ctx.now()
    ctx.card_reminders += 1
    ctx.speak("remove_card")


def quality_hinted(ctx: FlowContext, event: QualityHinted) -> None:
    if ctx.now() - ctx.hint_shown_at < HINT_MIN_DWELL_S:
        ctx.pending_hint = (event.code,)  # shown by settle_hint once the current one has stood long enough
        return
    ctx.pending_hint = None
    show_hint(ctx, event.code)


def settle_hint(ctx: FlowContext) -> None:
    """On the flow's tick: shows a hint that waited for the minimum dwell of the one before it."""
    if ctx.pending_hint is not None and ctx.now() - ctx.hint_shown_at >= HINT_MIN_DWELL_S:
        (code,), ctx.pending_hint = ctx.pending_hint, None
        show_hint(ctx, code)


def show_hint(ctx: FlowContext, code: str | None) -> None:
    if code == ctx.view.hint:
        return
    ctx.update(hint=code)
    ctx.hint_shown_at = ctx.now()
    if code is None:
        return
    now = ctx.now()
    last_code, last_at = ctx.last_hint
    if code != last_code or now - last_at >= HINT_REPEAT_S:
        ctx.last_hint = (code, now)
        ctx.speak(f"hint_{code}")


def face_positioned(ctx: FlowContext, _event: FacePositioned) -> None:
    ctx.speak("face_ok")


def action_prompted(ctx: FlowContext, event: ActionPrompted) -> None:
    ctx.pending_hint = None
    ctx.update(action=event.action, hint=None)
    ctx.speak(f"action_{event.action}")


def prompt_finished(ctx: FlowContext, event: PromptFinished) -> None:
    # The action's time window starts when the person has heard the whole instruction.
    if ctx.view.action is not None and event.prompt == f"action_{ctx.view.action}":
        ctx.emit(ActionHeard(ctx.view.action))


def person_left(ctx: FlowContext, _event: PersonLeft) -> State:
    # The person walked away from their status screen: nothing of them may stay up for passers-by.
    ctx.emit(Audit("outcome", Outcome.SESSION_TIMEOUT))
    return back_to_idle(ctx)


def action_completed(ctx: FlowContext, event: ActionCompleted) -> None:
    ctx.update(actions_done=ctx.view.actions_done + (event.action,), action=None)
    ctx.speak("action_done")


def failed_attempt(ctx: FlowContext, event: LivenessFailed | Mismatched) -> None:
    ctx.finish(event.code, counts_as_attempt=True, record=True)


def retry(ctx: FlowContext, _event: RetryRequested) -> Target:
    return State.POSITIONING if ctx.view.can_retry else STAY


def manual_review(ctx: FlowContext, _event: ManualReviewRequested) -> Target:
    if not ctx.view.manual_review_offered:
        return STAY
    ctx.emit(StoreRecord(Outcome.MANUAL_REVIEW_REQUESTED, ctx.view.attempt))
    ctx.update(manual_review_offered=False, can_retry=False)
    ctx.finish(Outcome.MANUAL_REVIEW_REQUESTED)
    return State.RESULT


def record_stored(ctx: FlowContext, _event: RecordStored) -> None:
    held, ctx.held_announcement = ctx.held_announcement, None
    if held is not None:
        ctx.say(held)


def record_failed(ctx: FlowContext, event: RecordFailed) -> None:
    ctx.held_announcement = None  # never announce a result that was not stored
    ctx.finish(event.code, next_step=NextStep.ASK_STAFF)


def device_failed(ctx: FlowContext, event: DeviceFailed) -> None:
    ctx.finish(event.code, next_step=NextStep.ASK_STAFF)


def card_removed(ctx: FlowContext, _event: CardRemoved) -> None:
    ctx.finish(Outcome.CARD_REMOVED)


def user_active(ctx: FlowContext, _event: UserActive) -> None:
    ctx.extend_deadline()


def repeat(ctx: FlowContext, _event: RepeatRequested) -> None:
    ctx.extend_deadline()
    if ctx.view.last_prompt is not None:
        ctx.emit(ctx.view.last_prompt)


def help_requested(ctx: FlowContext, _event: HelpRequested) -> None:
    ctx.extend_deadline()
    ctx.update(staff_called=True)
    ctx.emit(CallStaff(), Audit("help", "staff_called"))
    ctx.speak("staff_called")


def session_timed_out(ctx: FlowContext, _event: TimedOut) -> State:
    ctx.emit(Audit("outcome", Outcome.SESSION_TIMEOUT))
    return back_to_idle(ctx)


def leave_to_idle(ctx: FlowContext, _event: Event) -> State:
    return back_to_idle(ctx)


def positioning_timed_out(ctx: FlowContext, _event: TimedOut) -> None:
    # The last hint says why the face never got in place (too dark, too far): that is the outcome.
    ctx.finish(ctx.view.hint or Outcome.POSITIONING_TIMEOUT, counts_as_attempt=True, record=True)


def actions_timed_out(ctx: FlowContext, _event: TimedOut) -> None:
    ctx.finish(CameraReason.ACTION_TIMEOUT, counts_as_attempt=True, record=True)


def device_missing(ctx: FlowContext, event: MaintenanceRequired) -> None:
    # Re-reporting a device keeps its place: the latest problem is the latest device to go missing.
    ctx.problems[event.device] = event.code


def maintenance_changed(ctx: FlowContext, event: MaintenanceRequired) -> None:
    """Another (or a further) problem while the maintenance screen shows: name the latest."""
    device_missing(ctx, event)
    ctx.update(maintenance_code=event.code)


def device_back(ctx: FlowContext, event: DevicesReady) -> None:
    if event.device:
        ctx.problems.pop(event.device, None)
    else:
        ctx.problems.clear()


def device_back_in_maintenance(ctx: FlowContext, event: DevicesReady) -> Target:
    device_back(ctx, event)
    if ctx.problems:
        ctx.update(maintenance_code=ctx.latest_problem())
        return STAY
    return State.IDLE


# --- entry actions -------------------------------------------------------------------------------


def saying(prompt: str) -> Callable[[FlowContext], None]:
    """An entry action that speaks ``prompt``."""
    def say(ctx: FlowContext) -> None:
        ctx.speak(prompt)

    return say


def emitting(*effects: Effect) -> Callable[[FlowContext], None]:
    """An entry action that asks the controller for ``effects``."""
    def emit(ctx: FlowContext) -> None:
        ctx.emit(*effects)

    return emit


def enter_idle(ctx: FlowContext) -> None:
    ctx.emit(StopCamera(), Wipe())
    ctx.forget_person()
    ctx.pending_hint = None
    ctx.card_reminders = 0
    if ctx.card_on_reader:  # the session ended with the card still on the reader
        ctx.update(take_card=True)
        remind_to_take_card(ctx)


def on_tick(ctx: FlowContext) -> None:
    """What the flow does on each tick besides deadlines: a waiting hint, the card reminder."""
    settle_hint(ctx)
    if (ctx.view.state is State.IDLE and ctx.view.take_card and ctx.card_reminders < REMOVE_CARD_SPOKEN_MAX
            and ctx.now() - ctx.card_reminded_at >= REMOVE_CARD_REPEAT_S):
        remind_to_take_card(ctx)


def enter_status(ctx: FlowContext) -> None:
    person = ctx.view.person
    status = person.status if person else None
    if status is None:
        ctx.speak("status_never_certified")
    elif status.payment_suspended:
        ctx.speak("status_suspended", suspended_from=status.suspended_from, back_pay_months=status.back_pay_months)
    elif status.state == "overdue":  # the known date payment stops is said, not "soon"
        ctx.speak("status_overdue", suspended_from=status.suspended_from)
    else:
        ctx.speak(f"status_{status.state}", due_date=status.due_date, grace_until=status.grace_until)


def enter_positioning(ctx: FlowContext) -> None:
    attempt = ctx.attempts_used + 1
    ctx.update(attempt=attempt, hint=None, action=None, actions_done=(), outcome=None, next_step=None, can_retry=False)
    ctx.emit(StartLiveness(attempt))
    ctx.speak("positioning_start" if attempt == 1 else "positioning_again")


def enter_matching(ctx: FlowContext) -> None:
    ctx.emit(RunMatch())
    ctx.speak("matching")


def enter_result(ctx: FlowContext) -> None:
    view = ctx.view
    ctx.emit(StopCamera())
    outcome = view.outcome or Outcome.DEVICE_ERROR
    if outcome == Outcome.CERTIFIED:
        announcement = prompt("result_certified", valid_until=view.valid_until)
    else:
        announcement = prompt(f"result_{outcome}", next_step=str(view.next_step),
                              attempts_left=view.attempts_max - ctx.attempts_used)
    if ctx.records_in_this_step():
        ctx.held_announcement = announcement  # said on RecordStored, dropped on RecordFailed
    else:
        ctx.say(announcement)


def enter_maintenance(ctx: FlowContext) -> None:
    ctx.emit(StopCamera(), Wipe())
    if ctx.view.session_id is not None:  # straight from a session: forget the person as idle would
        ctx.forget_person()
    ctx.update(maintenance_code=ctx.latest_problem() or ctx.view.maintenance_code)
    ctx.speak("maintenance")


ON_ENTER: dict[State, Callable[[FlowContext], None]] = {
    State.IDLE: enter_idle,
    State.READING: saying("card_reading"),
    State.LOOKING_UP: emitting(LookUpPensioner()),
    State.STATUS: enter_status,
    State.CONSENT: saying("consent_question"),
    State.POSITIONING: enter_positioning,
    State.ACTIONS: emitting(),  # each action is prompted by action_prompted
    State.MATCHING: enter_matching,
    State.RESULT: enter_result,
    State.MAINTENANCE: enter_maintenance,
    State.TECHNICIAN: emitting(StopCamera(), Wipe()),
}
"""What entering each state does (after its ``enter`` audit entry and its deadline are set)."""


# --- the table -----------------------------------------------------------------------------------

_ALL = tuple(State)

RULES: tuple[Rule, ...] = (
    Rule(State.IDLE, CardPlaced, State.READING, start_session),
    Rule(State.IDLE, MaintenanceRequired, State.MAINTENANCE, device_missing),
    Rule(State.IDLE, TechnicianEntered, State.TECHNICIAN, nothing),
    Rule(State.IDLE, PersonApproached, STAY, invite_unless_said_within(INVITATION_REPEAT_S)),
    Rule(State.IDLE, IdleTouched, STAY, invite_unless_said_within(TOUCH_INVITATION_REPEAT_S)),
    Rule(State.READING, CardRead, State.LOOKING_UP, card_read),
    Rule(State.READING, CardRejected, State.RESULT, card_rejected),
    Rule(State.READING, TimedOut, State.RESULT, finish_with(ReaderReason.CARD_READ_FAILED)),
    Rule(State.LOOKING_UP, PensionerFound, State.STATUS, pensioner_found),
    Rule(State.LOOKING_UP, ReferenceMissing, State.RESULT, reference_missing),
    Rule(State.LOOKING_UP, PensionerNotFound, State.RESULT, finish_with(Outcome.NOT_IN_ROSTER)),
    Rule(State.LOOKING_UP, TimedOut, State.RESULT, finish_with(Outcome.DEVICE_ERROR)),
    Rule(State.STATUS, StartRequested, State.CONSENT, nothing),
    Rule(State.STATUS, TimedOut, BACK_TO_IDLE, session_timed_out),
    Rule(State.STATUS, PersonLeft, BACK_TO_IDLE, person_left),
    Rule(State.CONSENT, ConsentGiven, State.POSITIONING, consent_given),
    Rule(State.CONSENT, ConsentRefused, State.RESULT, finish_with(Outcome.CONSENT_REFUSED, record=True)),
    Rule(State.CONSENT, TimedOut, BACK_TO_IDLE, session_timed_out),
    Rule(State.POSITIONING, QualityHinted, STAY, quality_hinted),
    Rule(State.POSITIONING, FacePositioned, STAY, face_positioned),
    Rule(State.POSITIONING, ActionPrompted, State.ACTIONS, action_prompted),
    Rule(State.POSITIONING, LivenessFailed, State.RESULT, failed_attempt),
    Rule(State.POSITIONING, TimedOut, State.RESULT, positioning_timed_out),
    Rule(State.ACTIONS, ActionPrompted, State.ACTIONS, action_prompted),
    Rule(State.ACTIONS, ActionCompleted, STAY, action_completed),
    Rule(State.ACTIONS, PromptFinished, STAY, prompt_finished),
    Rule(State.ACTIONS, QualityHinted, STAY, quality_hinted),
    Rule(State.ACTIONS, LivenessPassed, State.MATCHING, nothing),
    Rule(State.ACTIONS, LivenessFailed, State.RESULT, failed_attempt),
    Rule(State.ACTIONS, TimedOut, State.RESULT, actions_timed_out),
    Rule(State.MATCHING, Matched, State.RESULT, finish_with(Outcome.CERTIFIED, record=True)),
    Rule(State.MATCHING, Mismatched, State.RESULT, failed_attempt),
    Rule(State.MATCHING, TimedOut, State.RESULT, finish_with(Outcome.MATCHER_TIMEOUT)),
    Rule(State.RESULT, RecordStored, STAY, record_stored),
    Rule(State.RESULT, RecordFailed, State.RESULT, record_failed),
    Rule(State.RESULT, RetryRequested, RETRY, retry),
    Rule(State.RESULT, ManualReviewRequested, MANUAL_REVIEW, manual_review),
    Rule(State.RESULT, Finished, BACK_TO_IDLE, leave_to_idle),
    Rule(State.RESULT, TimedOut, BACK_TO_IDLE, leave_to_idle),
    Rule(State.RESULT, CardPlaced, State.READING, start_session),
    Rule(State.RESULT, CardRemoved, STAY, card_lifted),
    Rule(State.IDLE, CardRemoved, STAY, card_lifted),
    # A card lifted while the terminal is out of service or being looked after is not asked for later.
    Rule(State.MAINTENANCE, CardRemoved, STAY, card_lifted),
    Rule(State.TECHNICIAN, CardRemoved, STAY, card_lifted),
    Rule(State.MAINTENANCE, DevicesReady, MAINTENANCE_OVER, device_back_in_maintenance),
    Rule(State.MAINTENANCE, MaintenanceRequired, STAY, maintenance_changed),
    Rule(State.MAINTENANCE, TechnicianEntered, State.TECHNICIAN, nothing),
    Rule(State.TECHNICIAN, TechnicianLeft, BACK_TO_IDLE, leave_to_idle),
    # In every session state a pulled card or a device failure ends the session on the result screen.
    *(Rule(state, CardRemoved, State.RESULT, card_removed) for state in _ALL if state in SESSION_STATES),
    *(Rule(state, DeviceFailed, State.RESULT, device_failed) for state in _ALL if state in SESSION_STATES),
    # A device reported missing (or back) anywhere else is noted for when the session ends.
    *(Rule(state, MaintenanceRequired, STAY, device_missing) for state in _ALL
      if state not in (State.IDLE, State.MAINTENANCE)),
    *(Rule(state, DevicesReady, STAY, device_back) for state in _ALL if state is not State.MAINTENANCE),
    # Everywhere: a touch gives more time, "listen again" repeats the prompt, "help" calls staff.
    *(Rule(state, UserActive, STAY, user_active) for state in _ALL),
    *(Rule(state, RepeatRequested, STAY, repeat) for state in _ALL),
    *(Rule(state, HelpRequested, STAY, help_requested) for state in _ALL),
)
"""The literal table. At most one rule per (state, event class); events without one are ignored."""
