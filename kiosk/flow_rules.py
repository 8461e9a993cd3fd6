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
from dataclasses import replace

from camera.errors import CameraReason
from kiosk.flow_events import (
    ActionCompleted, ActionPrompted, Audit, CallStaff, CardPlaced, CardRead, CardRejected, CardRemoved, ConsentGiven,
    ConsentRefused, DeviceFailed, DevicesReady, Effect, Event, FacePositioned, FacesCounted, Finished, HelperRequested,
    HelpRequested, IdleTouched,
    LivenessFailed, LivenessPassed, LookUpPensioner, MaintenanceRequired, ManualReviewRequested, Matched, Mismatched,
    PensionerFound, PensionerNotFound, PersonApproached, PersonLeft, PromptFinished, ActionHeard, QualityHinted,
    RecordFailed, RecordStored, ReferenceMissing,
    RepeatRequested, RetryRequested, RunMatch, StartLiveness, StartRequested, StopCamera, StoreRecord,
    TechnicianEntered, TechnicianLeft, TimedOut, UserActive, Wipe,
)
from kiosk.flow_events import (
    AcknowledgeStaffCalls, StaffCallAcknowledged, StaffCallDelivered, StaffCallUndelivered, StaffSignedIn, StaffVerified,
)
from kiosk.flow_model import (
    ASSISTED_BY_FAMILY, SESSION_STATES, STAY, Choice, FlowContext, PersonView, Rule, StaffCallShown, State, Target,
    prompt,
)
from kiosk.reasons import CERTIFYING_OUTCOMES, NextStep, Outcome
from wire.staff import StaffCallReason
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

HESITANT = frozenset({State.STATUS, State.CONSENT, State.POSITIONING})
"""States in which a reminder or a "listen again" counts as hesitation (see :func:`hesitated`)."""

HELPER_OFFER_AFTER_HESITATIONS = 2
"""The helper mode is offered by voice at this many hesitations in one session: one reminder or
one "listen again" is ordinary for an elderly person, a second one means they need a hand."""


# --- the named choices ---------------------------------------------------------------------------

BACK_TO_IDLE = Choice("back_to_idle", {State.IDLE: "", State.MAINTENANCE: "a device missing"})
RETRY = Choice("retry", {State.POSITIONING: "attempts left", State.HELPER_ASIDE: "attempts left, family helps",
                         STAY: "none left"})
AFTER_CONSENT = Choice("after_consent", {State.POSITIONING: "alone", State.HELPER_ASIDE: "family helps"})
ONE_FACE = Choice("one_face", {State.POSITIONING: "exactly one face", STAY: "none, or more than one"})
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
    ctx.update(person=replace(ctx.person(event.last_certified), review=event.review))


def reference_missing(ctx: FlowContext, event: ReferenceMissing) -> None:
    ctx.update(person=ctx.person(event.last_certified))
    ctx.finish(event.code)
    call_staff(ctx, StaffCallReason.NO_REFERENCE, announce=False)  # only staff can help: enrol or certify


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


def consent_given(ctx: FlowContext, _event: ConsentGiven) -> State:
    ctx.emit(Audit("consent", "given"))
    return State.HELPER_ASIDE if ctx.view.assisted else State.POSITIONING


# --- the helper mode (issue 19): a family member operates, the face checked is the card holder's ---


def offer_helper(ctx: FlowContext) -> None:
    """Offers "家人帮忙操作" by voice, once a session, to someone not already helped."""
    if ctx.view.assisted or ctx.view.helper_offered:
        return
    ctx.update(helper_offered=True)
    ctx.speak("helper_offer")


def hesitated(ctx: FlowContext) -> None:
    """A reminder or a "listen again" before the face check: the second offers the helper mode.
    Called by :meth:`kiosk.flow.Flow.tick` for reminders too."""
    if ctx.view.state not in HESITANT:
        return
    ctx.hesitations += 1
    if ctx.hesitations >= HELPER_OFFER_AFTER_HESITATIONS:
        offer_helper(ctx)


def helper_requested(ctx: FlowContext, _event: HelperRequested) -> None:
    ctx.extend_deadline()
    if ctx.view.assisted:
        return
    ctx.update(assisted=True, helper_offered=False)
    ctx.emit(Audit("helper", ASSISTED_BY_FAMILY))  # the mode only: nothing about the helper
    ctx.speak("helper_on")


def faces_counted(ctx: FlowContext, event: FacesCounted) -> Target:
    """While the helper steps aside: on with exactly one face in view, else ask again (not too often)."""
    ctx.faces_in_view = event.count
    if event.count == 1:
        return State.POSITIONING
    if event.count > 1:
        now = ctx.now()
        last_id, last_at = ctx.last_hint
        if last_id != "helper_step_aside" or now - last_at >= HINT_REPEAT_S:
            ctx.last_hint = ("helper_step_aside", now)
            ctx.speak("helper_step_aside")
    return STAY


def aside_hinted(ctx: FlowContext, event: QualityHinted) -> None:
    """The screen shows the camera's hint; the voice keeps asking the helper to step aside."""
    ctx.update(hint=event.code)


def aside_timed_out(ctx: FlowContext, _event: TimedOut) -> None:
    # Still more than one face when the time ran out: the helper never left the camera's view.
    reason = CameraReason.MULTIPLE_FACES if ctx.faces_in_view > 1 else ctx.view.hint or Outcome.POSITIONING_TIMEOUT
    ctx.finish(reason, counts_as_attempt=True, record=True)


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


def positioning_hinted(ctx: FlowContext, event: QualityHinted) -> None:
    quality_hinted(ctx, event)
    if event.code == CameraReason.MULTIPLE_FACES:
        offer_helper(ctx)  # a second face: often a son or daughter leaning in to help


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
    call_staff_when_attempts_run_out(ctx)


def call_staff_when_attempts_run_out(ctx: FlowContext) -> None:
    """After the last failed attempt staff are called at once (the result screen says it)."""
    if ctx.view.manual_review_offered:
        call_staff(ctx, StaffCallReason.ATTEMPTS_EXHAUSTED, announce=False)


def retry(ctx: FlowContext, _event: RetryRequested) -> Target:
    if not ctx.view.can_retry:
        return STAY
    return State.HELPER_ASIDE if ctx.view.assisted else State.POSITIONING


def manual_review(ctx: FlowContext, _event: ManualReviewRequested) -> Target:
    if not ctx.view.manual_review_offered:
        return STAY
    ctx.emit(StoreRecord(Outcome.MANUAL_REVIEW_REQUESTED, ctx.view.attempt, assisted_by=ctx.assisted_by()))
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
    # The person is told to ask staff; for the reader and the camera the terminal asks at once too.
    reason = DEVICE_CALL_REASONS.get(event.code)
    if reason is not None and ctx.view.staff_call is None:
        call_staff(ctx, reason, announce=False)


DEVICE_CALL_REASONS: dict[str, str] = {
    **{str(code): StaffCallReason.READER_PROBLEM for code in ReaderReason},
    **{str(code): StaffCallReason.CAMERA_PROBLEM for code in CameraReason},
}
"""Device failures in a session that call staff by themselves, and with which reason."""


def card_removed(ctx: FlowContext, _event: CardRemoved) -> None:
    ctx.finish(Outcome.CARD_REMOVED)


def user_active(ctx: FlowContext, _event: UserActive) -> None:
    ctx.extend_deadline()


def repeat(ctx: FlowContext, _event: RepeatRequested) -> None:
    ctx.extend_deadline()
    if ctx.view.last_prompt is not None:
        ctx.emit(ctx.view.last_prompt)


def repeat_when_hesitant(ctx: FlowContext, event: RepeatRequested) -> None:
    repeat(ctx, event)
    hesitated(ctx)


def help_requested(ctx: FlowContext, _event: HelpRequested) -> None:
    ctx.extend_deadline()
    shown = ctx.view.staff_call
    if shown is not None:
        # A second touch says where the call stands and raises no second call: an undelivered one is
        # still queued and retried, and reaches the console (and this screen) when the centre does.
        ctx.speak(STAFF_CALL_PROMPTS[shown])
        return
    call_staff(ctx, StaffCallReason.HELP_PRESSED, announce=True)


STAFF_CALL_PROMPTS = {
    StaffCallShown.CALLING: "staff_calling",
    StaffCallShown.NOTIFIED: "staff_called",
    StaffCallShown.LOCAL: "staff_call_local",
    StaffCallShown.ACKNOWLEDGED: "staff_coming",
}
"""What the voice says for each state of the call; "staff were told" only once the centre answered."""


def call_staff(ctx: FlowContext, reason: str, *, announce: bool) -> None:
    """Raises a staff call; the screen says "calling" until the centre answers (a staff-call event).

    ``announce``: say "calling" now (the person touched help); automatic calls say nothing until
    the answer, so that the result announcement is heard whole. On the idle screen the call's text
    goes after ``session.staff_notice_idle_s``: it must not stay for the next person."""
    call_id = ctx.new_session_id()
    ctx.staff_call_id, ctx.staff_alert_at = call_id, None
    ctx.staff_notice_until = ctx.now() + ctx.timeouts.staff_notice_idle_s if ctx.view.state is State.IDLE else None
    ctx.update(staff_call=StaffCallShown.CALLING, staff_called=False)
    ctx.emit(CallStaff(reason, call_id, str(ctx.view.state)), Audit("help", "staff_called"))
    if announce:
        ctx.speak("staff_calling")


def staff_call_answered(shown: StaffCallShown) -> Callable[[FlowContext, Event], None]:
    """An action for an answer about the screen's call: show and say ``shown`` (answers about an
    earlier person's call are ignored)."""
    def answered(ctx: FlowContext, event: StaffCallDelivered | StaffCallUndelivered | StaffCallAcknowledged) -> None:
        if event.call_id != ctx.staff_call_id or ctx.view.staff_call is StaffCallShown.ACKNOWLEDGED:
            return
        told = shown in (StaffCallShown.NOTIFIED, StaffCallShown.ACKNOWLEDGED)
        ctx.update(staff_call=shown, staff_called=told)
        ctx.staff_alert_at = ctx.now() + ctx.timeouts.staff_alert_repeat_s if shown is StaffCallShown.LOCAL else None
        ctx.speak(STAFF_CALL_PROMPTS[shown])

    return answered


def staff_signed_in(ctx: FlowContext, event: StaffSignedIn) -> None:
    # The staff member is here: every open call is acknowledged by them, the screen stops calling.
    ctx.emit(AcknowledgeStaffCalls(event.staff_number), Audit("staff", "signed_in"))
    ctx.forget_staff_call()


def staff_verified(ctx: FlowContext, event: StaffVerified) -> None:
    # The controller lets this event through only when a person's card was read in this session.
    ctx.emit(Audit("staff", "verified"))
    ctx.forget_staff_call()
    ctx.finish(Outcome.STAFF_VERIFIED, record=True, staff=(event.staff_number, event.reason))


def session_timed_out(ctx: FlowContext, _event: TimedOut) -> State:
    ctx.emit(Audit("outcome", Outcome.SESSION_TIMEOUT))
    return back_to_idle(ctx)


def leave_to_idle(ctx: FlowContext, _event: Event) -> State:
    return back_to_idle(ctx)


def positioning_timed_out(ctx: FlowContext, _event: TimedOut) -> None:
    # The last hint says why the face never got in place (too dark, too far): that is the outcome.
    ctx.finish(ctx.view.hint or Outcome.POSITIONING_TIMEOUT, counts_as_attempt=True, record=True)


def actions_timed_out(ctx: FlowContext, _event: TimedOut) -> None:
    # A second face in view (the multiple-faces rule pauses the actions) is the clearer reason.
    crowded = ctx.view.hint == CameraReason.MULTIPLE_FACES
    ctx.finish(CameraReason.MULTIPLE_FACES if crowded else CameraReason.ACTION_TIMEOUT, counts_as_attempt=True,
               record=True)


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


def stopping_camera(*effects: Effect) -> Callable[[FlowContext], None]:
    """An entry action that stops the camera (and asks for ``effects`` after it)."""
    def stop(ctx: FlowContext) -> None:
        ctx.camera_attempt = 0
        ctx.emit(StopCamera(), *effects)

    return stop


def enter_idle(ctx: FlowContext) -> None:
    ctx.camera_attempt = 0
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
    if person is not None and person.review is not None:
        ctx.speak(f"review_{person.review}")  # after the status (a within-screen prompt waits for it)


def start_attempt(ctx: FlowContext) -> int:
    """Opens the camera for the next attempt (a fresh liveness session); returns its number."""
    attempt = ctx.attempts_used + 1
    ctx.update(attempt=attempt, hint=None, action=None, actions_done=(), outcome=None, next_step=None, can_retry=False)
    ctx.camera_attempt = attempt
    ctx.emit(StartLiveness(attempt))
    return attempt


def enter_helper_aside(ctx: FlowContext) -> None:
    # The camera opens here: it counts the faces, and the liveness session it starts cannot pass
    # positioning while two faces are in view. The positioning state that follows keeps it running.
    ctx.faces_in_view = 0
    start_attempt(ctx)
    ctx.last_hint = ("helper_step_aside", ctx.now())
    ctx.speak("helper_step_aside")


def enter_positioning(ctx: FlowContext) -> None:
    if ctx.camera_attempt == ctx.attempts_used + 1:  # the helper stepped aside: now the pensioner's turn
        ctx.update(hint=None)
        ctx.speak("helper_look_at_screen")
        return
    attempt = start_attempt(ctx)
    ctx.speak("positioning_start" if attempt == 1 else "positioning_again")


def enter_matching(ctx: FlowContext) -> None:
    ctx.emit(RunMatch())
    ctx.speak("matching")


def enter_result(ctx: FlowContext) -> None:
    view = ctx.view
    ctx.camera_attempt = 0
    ctx.emit(StopCamera())
    outcome = view.outcome or Outcome.DEVICE_ERROR
    if outcome in CERTIFYING_OUTCOMES:
        announcement = prompt(f"result_{outcome}", valid_until=view.valid_until)
    else:
        announcement = prompt(f"result_{outcome}", next_step=str(view.next_step),
                              attempts_left=view.attempts_max - ctx.attempts_used)
    if ctx.records_in_this_step():
        ctx.held_announcement = announcement  # said on RecordStored, dropped on RecordFailed
    else:
        ctx.say(announcement)


def enter_maintenance(ctx: FlowContext) -> None:
    ctx.camera_attempt = 0
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
    State.HELPER_ASIDE: enter_helper_aside,
    State.POSITIONING: enter_positioning,
    State.ACTIONS: emitting(),  # each action is prompted by action_prompted
    State.MATCHING: enter_matching,
    State.RESULT: enter_result,
    State.MAINTENANCE: enter_maintenance,
    State.TECHNICIAN: stopping_camera(Wipe()),
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
    Rule(State.STATUS, HelperRequested, STAY, helper_requested),
    Rule(State.STATUS, TimedOut, BACK_TO_IDLE, session_timed_out),
    Rule(State.STATUS, PersonLeft, BACK_TO_IDLE, person_left),
    Rule(State.CONSENT, ConsentGiven, AFTER_CONSENT, consent_given),
    Rule(State.CONSENT, HelperRequested, STAY, helper_requested),
    Rule(State.CONSENT, ConsentRefused, State.RESULT, finish_with(Outcome.CONSENT_REFUSED, record=True)),
    Rule(State.CONSENT, TimedOut, BACK_TO_IDLE, session_timed_out),
    Rule(State.HELPER_ASIDE, FacesCounted, ONE_FACE, faces_counted),
    Rule(State.HELPER_ASIDE, FacePositioned, State.POSITIONING, nothing),  # one face held still: counted already
    Rule(State.HELPER_ASIDE, QualityHinted, STAY, aside_hinted),
    Rule(State.HELPER_ASIDE, LivenessFailed, State.RESULT, failed_attempt),
    Rule(State.HELPER_ASIDE, TimedOut, State.RESULT, aside_timed_out),
    Rule(State.POSITIONING, QualityHinted, STAY, positioning_hinted),
    Rule(State.POSITIONING, HelperRequested, State.HELPER_ASIDE, helper_requested),
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
    *(Rule(state, RepeatRequested, STAY, repeat_when_hesitant if state in HESITANT else repeat) for state in _ALL),
    *(Rule(state, HelpRequested, STAY, help_requested) for state in _ALL),
    # The staff call's answers, and staff at the terminal (issue 17).
    *(Rule(state, StaffCallDelivered, STAY, staff_call_answered(StaffCallShown.NOTIFIED)) for state in _ALL),
    *(Rule(state, StaffCallUndelivered, STAY, staff_call_answered(StaffCallShown.LOCAL)) for state in _ALL),
    *(Rule(state, StaffCallAcknowledged, STAY, staff_call_answered(StaffCallShown.ACKNOWLEDGED)) for state in _ALL),
    *(Rule(state, StaffSignedIn, STAY, staff_signed_in) for state in _ALL),
    *(Rule(state, StaffVerified, State.RESULT, staff_verified) for state in (State.STATUS, State.CONSENT, State.RESULT)),
)
"""The literal table. At most one rule per (state, event class); events without one are ignored."""
