"""The certification flow as lists of events: success, every failure path, retry, timeouts, wipes."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Mapping
from datetime import date
from typing import TypeVar

import pytest

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig, SessionSettings, load_config
from kiosk.flow_rules import HINT_MIN_DWELL_S, REMOVE_CARD_REPEAT_S, REMOVE_CARD_SPOKEN_MAX
from kiosk.flow import (
    FacesCounted, HelperRequested,
    SESSION_STATES, ActionCompleted, ActionPrompted, Audit, CardPlaced, CardRead, CardRejected, CardRemoved,
    ConsentGiven, ConsentRefused, DeviceFailed, DevicesReady, Event, FacePositioned, Finished, Flow, HelpRequested,
    IdleTouched, LivenessFailed, LivenessPassed, LookUpPensioner, MaintenanceRequired, ManualReviewRequested,
    Matched, Mismatched, PensionerFound, PensionerNotFound, PersonApproached, QualityHinted, RecordFailed,
    RecordStored, ReferenceMissing, RepeatRequested, RetryRequested, RunMatch, Speak, StartLiveness, StartRequested,
    Rule, State, StopCamera, StoreRecord, TechnicianEntered, TechnicianLeft, TimedOut, UndeclaredTarget, UserActive,
    Wipe, CallStaff, StaffCallAcknowledged, StaffCallDelivered, StaffCallUndelivered, StaffSignedIn, StaffVerified,
    PromptFinished, PersonLeft, ActionHeard, declared_targets, reachable_from, transition_table,
)
from kiosk.flow_model import deadline_s
from kiosk.flow_rules import BACK_TO_IDLE
from kiosk.reasons import NextStep, Outcome


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def flow(config: KioskConfig, clock: FakeClock) -> Flow:
    ids = iter(f"session-{n}" for n in range(100))
    return Flow(config.rules, config.session, clock, new_session_id=lambda: next(ids))


def run(flow: Flow, *events) -> list:
    effects: list = []
    for event in events:
        effects += flow.handle(event)
    return effects


def spoken(effects: list) -> list[str]:
    return [effect.prompt for effect in effects if isinstance(effect, Speak)]


def holds(flow: Flow, text: str) -> bool:
    """True when ``text`` is anywhere in what the flow keeps (its view, memory and pending effects)."""
    return text in repr(vars(flow))


def to_actions(flow: Flow, last_certified: date | None = date(2025, 6, 1)) -> list:
    return run(flow, CardPlaced(), CardRead("110101199003070011", "张*"), PensionerFound(last_certified),
               StartRequested(), ConsentGiven(), QualityHinted("too_dark"), QualityHinted(None),
               FacePositioned(), ActionPrompted("blink"))


def test_happy_path(flow: Flow, clock: FakeClock) -> None:
    effects = to_actions(flow)
    assert flow.state is State.ACTIONS
    assert flow.view.session_id == "session-0"
    assert flow.view.person.display_name == "张*"
    assert not holds(flow, "110101199003070011")  # the number is the controller's, never the flow's
    assert any(isinstance(e, LookUpPensioner) for e in effects)
    assert StartLiveness(1) in effects
    assert spoken(effects) == ["card_reading", "status_valid", "consent_question", "positioning_start",
                               "hint_too_dark", "face_ok", "action_blink"]
    effects = run(flow, ActionCompleted("blink"), ActionPrompted("mouth_open"), ActionCompleted("mouth_open"),
                  LivenessPassed())
    assert flow.state is State.MATCHING and RunMatch() in effects
    effects = run(flow, Matched())
    assert flow.state is State.RESULT
    assert flow.view.outcome == Outcome.CERTIFIED and flow.view.next_step is NextStep.NONE
    # certified on 2026-05-20 with a 365-day cycle: valid until 2027-05-20
    assert flow.view.valid_until == date(2027, 5, 20)
    assert StoreRecord(Outcome.CERTIFIED, 1, date(2027, 5, 20)) in effects
    assert StopCamera() in effects
    assert "result_certified" not in spoken(effects)  # announced only once the record is stored
    assert spoken(run(flow, RecordStored())) == ["result_certified"]
    effects = run(flow, Finished())
    assert flow.state is State.IDLE and Wipe() in effects
    assert flow.view.person is None and flow.view.session_id is None


def test_status_prompt_follows_the_rules(flow: Flow) -> None:
    effects = run(flow, CardPlaced(), CardRead("110101199003070011", "张*"), PensionerFound(date(2025, 1, 10)))
    # 2026-05-20 is long past due + grace: suspended since 2026-02-01, 3 months of back pay
    speak = [e for e in effects if isinstance(e, Speak)][-1]
    assert speak.prompt == "status_suspended"
    assert dict(speak.params) == {"suspended_from": date(2026, 2, 1), "back_pay_months": 3}
    assert flow.view.person.status.payment_suspended


@pytest.mark.parametrize(
    ("events", "outcome", "next_step"),
    [
        ([CardRejected("card_expired")], "card_expired", NextStep.RENEW_CARD),
        ([CardRejected("card_read_failed")], "card_read_failed", NextStep.COUNTER),
        ([CardRead("x", "王*"), PensionerNotFound()], Outcome.NOT_IN_ROSTER, NextStep.COUNTER),
        ([CardRead("x", "王*"), ReferenceMissing(None)], Outcome.NO_REFERENCE, NextStep.STAFF_ENROLMENT),
        ([CardRead("x", "王*"), PensionerFound(None), StartRequested(), ConsentRefused()], Outcome.CONSENT_REFUSED, NextStep.COUNTER),
        ([CardRead("x", "王*"), PensionerFound(None), StartRequested(), ConsentGiven(), DeviceFailed("camera_unavailable")],
         "camera_unavailable", NextStep.ASK_STAFF),
        ([CardRead("x", "王*"), CardRemoved()], Outcome.CARD_REMOVED, NextStep.PLACE_CARD_AGAIN),
    ],
)
def test_failures_end_on_a_result_with_a_next_step(flow: Flow, events: list, outcome: str, next_step: NextStep) -> None:
    run(flow, CardPlaced(), *events)
    assert flow.state is State.RESULT
    assert flow.view.outcome == outcome
    assert flow.view.next_step is next_step
    assert not flow.view.can_retry


def test_three_failed_attempts_offer_manual_review(flow: Flow) -> None:
    to_actions(flow)
    effects = run(flow, LivenessFailed("spoof_detected"))
    assert flow.view.outcome == "spoof_detected" and flow.view.can_retry and flow.view.next_step is NextStep.RETRY
    assert StoreRecord("spoof_detected", 1) in effects
    run(flow, RetryRequested())
    assert flow.state is State.POSITIONING and flow.view.attempt == 2 and flow.view.outcome is None
    run(flow, FacePositioned(), ActionPrompted("blink"), LivenessPassed(), Mismatched())
    assert flow.view.can_retry and flow.view.attempt == 2
    run(flow, RetryRequested(), ActionPrompted("mouth_open"), LivenessPassed(), Mismatched("no_usable_face"))
    assert flow.state is State.RESULT
    assert not flow.view.can_retry and flow.view.manual_review_offered
    assert flow.view.next_step is NextStep.MANUAL_REVIEW
    assert run(flow, RetryRequested()) == []  # no fourth attempt
    effects = run(flow, ManualReviewRequested())
    assert StoreRecord(Outcome.MANUAL_REVIEW_REQUESTED, 3) in effects
    assert flow.view.outcome == Outcome.MANUAL_REVIEW_REQUESTED


def test_timeouts_with_reminder(flow: Flow, clock: FakeClock, config: KioskConfig) -> None:
    run(flow, CardPlaced(), CardRead("x", "李*"), PensionerFound(None), StartRequested())
    assert flow.state is State.CONSENT
    clock.advance(config.session.consent_timeout_s - config.session.reminder_before_timeout_s - 1)
    assert flow.tick() == []
    clock.advance(2)
    assert spoken(flow.tick()) == ["reminder_still_there"]
    assert flow.tick() == []  # the reminder is given once
    run(flow, UserActive())  # a touch gives the full time again
    clock.advance(config.session.consent_timeout_s - 1)
    assert flow.state is State.CONSENT
    clock.advance(2)
    effects = flow.tick()
    assert flow.state is State.IDLE and Wipe() in effects
    assert Audit("outcome", Outcome.SESSION_TIMEOUT) in effects


def test_positioning_timeout_counts_as_attempt_with_the_last_hint(flow: Flow, clock: FakeClock, config: KioskConfig) -> None:
    run(flow, CardPlaced(), CardRead("x", "李*"), PensionerFound(None), StartRequested(), ConsentGiven(),
        QualityHinted("too_dark"))
    clock.advance(config.session.positioning_timeout_s + 0.1)
    effects = flow.tick()
    assert flow.state is State.RESULT and flow.view.outcome == "too_dark" and flow.view.can_retry
    assert StoreRecord("too_dark", 1) in effects


def test_result_returns_to_idle_and_wipes(flow: Flow, clock: FakeClock, config: KioskConfig) -> None:
    run(flow, CardPlaced(), CardRejected("card_read_failed"))
    clock.advance(config.session.result_display_s + 0.1)
    effects = flow.tick()
    assert flow.state is State.IDLE and Wipe() in effects and flow.view.outcome is None


def test_card_removed_in_every_session_state(config: KioskConfig, clock: FakeClock) -> None:
    prefixes = {
        State.READING: [CardPlaced()],
        State.LOOKING_UP: [CardPlaced(), CardRead("x", "a*")],
        State.STATUS: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None)],
        State.CONSENT: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested()],
        State.HELPER_ASIDE: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None), HelperRequested(),
                             StartRequested(), ConsentGiven()],
        State.POSITIONING: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven()],
        State.ACTIONS: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven(),
                        ActionPrompted("blink")],
        State.MATCHING: [CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven(),
                         ActionPrompted("blink"), LivenessPassed()],
    }
    assert set(prefixes) == SESSION_STATES
    for state, events in prefixes.items():
        flow = Flow(config.rules, config.session, clock)
        run(flow, *events)
        assert flow.state is state
        effects = flow.handle(CardRemoved())
        assert flow.state is State.RESULT and flow.view.outcome == Outcome.CARD_REMOVED, state
        assert StopCamera() in effects


def test_late_device_answers_are_ignored(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven(),
        ActionPrompted("blink"), LivenessPassed(), CardRemoved())
    assert run(flow, Matched()) == []  # the match of a pulled card must not certify anybody
    assert flow.view.outcome == Outcome.CARD_REMOVED


def test_repeat_and_help(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested())
    assert spoken(run(flow, RepeatRequested())) == ["consent_question"]
    effects = run(flow, HelpRequested())
    # Staff are said to be told only once the centre answered (issue 17): "calling" until then.
    assert not flow.view.staff_called and spoken(effects) == ["staff_calling"]
    call = next(effect for effect in effects if isinstance(effect, CallStaff))
    assert (call.reason, call.screen) == ("help_pressed", "consent")
    assert spoken(run(flow, StaffCallDelivered(call.call_id))) == ["staff_called"]
    assert flow.view.staff_called


def test_maintenance_and_technician(flow: Flow) -> None:
    run(flow, MaintenanceRequired("camera_unavailable"))
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "camera_unavailable"
    assert run(flow, CardPlaced()) == []  # no session while devices are missing
    run(flow, DevicesReady(), TechnicianEntered())
    assert flow.state is State.TECHNICIAN
    assert run(flow, CardPlaced()) == []
    run(flow, TechnicianLeft())
    assert flow.state is State.IDLE


# --- reachability, computed from what the flow does ----------------------------------------------

S = TypeVar("S", bound=Hashable)


def _bfs(start: S, successors: Mapping[S, set[S]]) -> set[S]:
    seen = {start}
    queue = deque([start])
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def reachable(start: S, table: Mapping[tuple[S, object], Iterable[S]]) -> set[S]:
    """Every state some sequence of events leads to from ``start`` (itself included), over a table
    from (state, event) to the states that event can lead to (a handler may have more than one)."""
    successors: dict[S, set[S]] = defaultdict(set)
    for (state, _event), targets in table.items():
        successors[state].update(targets)
    return _bfs(start, successors)


def reaching(goal: S, table: Mapping[tuple[S, object], Iterable[S]]) -> set[S]:
    """Every state from which some sequence of events leads to ``goal`` (itself included)."""
    predecessors: dict[S, set[S]] = defaultdict(set)
    for (state, _event), targets in table.items():
        for target in targets:
            predecessors[target].add(state)
    return _bfs(goal, predecessors)


# One event of each kind the flow knows; explore_flow() tries each of them in every situation reached.
SAMPLE_EVENTS: tuple[Event, ...] = (
    CardPlaced(), CardRead("110101199003070011", "张*"), CardRejected("card_read_failed"), CardRemoved(),
    PensionerFound(date(2025, 6, 1)), ReferenceMissing(None), PensionerNotFound(), PersonApproached(),
    IdleTouched(), StartRequested(), ConsentGiven(), ConsentRefused(), QualityHinted("too_dark"),
    FacePositioned(), ActionPrompted("blink"), ActionCompleted("blink"), LivenessPassed(),
    LivenessFailed("spoof_detected"), Matched(), Mismatched(), RetryRequested(), ManualReviewRequested(),
    Finished(), UserActive(), RepeatRequested(), HelpRequested(), DeviceFailed("camera_unavailable"),
    RecordFailed("storage_full"), RecordStored(), MaintenanceRequired("camera_unavailable"), DevicesReady(),
    MaintenanceRequired("reader_unavailable", device="reader"), DevicesReady(device="reader"), TechnicianEntered(),
    TechnicianLeft(), TimedOut(), StaffCallDelivered("c"), StaffCallUndelivered("c", "center_unreachable"),
    StaffCallAcknowledged("c", "S1"), StaffSignedIn("S1"), StaffVerified("S1", "no_reference"),
    HelperRequested(), FacesCounted(1), FacesCounted(2), PromptFinished("action_blink"), PersonLeft(),
)


def _situation(flow: Flow) -> tuple:
    """What decides where the flow can go next: the state, whether a retry or a review is open, and
    which devices are missing (a session then ends on the maintenance screen)."""
    view = flow.view
    return view.state, view.attempt, view.can_retry, view.manual_review_offered, view.assisted, flow.missing_devices


def _apply(flow: Flow, clock: FakeClock, event: Event, session: SessionSettings) -> None:
    if isinstance(event, TimedOut):
        # Time passes instead: a timeout happens only where the state has a deadline. The clock
        # stands still between events here, so the whole deadline is left.
        seconds = deadline_s(session, flow.state)
        if seconds is not None:
            clock.advance(seconds + 0.1)
            flow.tick()
    else:
        flow.handle(event)


Key = tuple[State, type[Event]]


def explore_flow(config: KioskConfig) -> tuple[dict[Key, set[State]], set[Key]]:
    """Drives real :class:`Flow` objects (fake clock) from idle with every sample event in every
    situation reached, breadth first: returns (state, event class) -> the states it led to, and the
    (state, event class) pairs tried. Each situation is rebuilt by replaying the events that led to
    it, so nothing is assumed about how the flow keeps its state."""

    def replay(path: tuple[Event, ...]) -> tuple[Flow, FakeClock]:
        clock = FakeClock()
        flow = Flow(config.rules, config.session, clock)
        for event in path:
            _apply(flow, clock, event, config.session)
        return flow, clock

    observed: dict[Key, set[State]] = defaultdict(set)
    tried: set[Key] = set()
    start, _ = replay(())
    paths = {_situation(start): ()}
    queue = deque([()])
    while queue:
        path = queue.popleft()
        for event in SAMPLE_EVENTS:
            flow, clock = replay(path)
            before = flow.state
            _apply(flow, clock, event, config.session)
            tried.add((before, type(event)))
            observed[(before, type(event))].add(flow.state)
            situation = _situation(flow)
            if situation not in paths:
                paths[situation] = path + (event,)
                queue.append(path + (event,))
    return dict(observed), tried


def test_reachability_finds_states_cut_off_in_either_direction() -> None:
    """The helpers below must catch what the flow test relies on them to catch."""
    table = {("a", "go"): {"b"}, ("b", "back"): {"a", "b"}, ("c", "leave"): {"a"}}
    assert reachable("a", table) == {"a", "b"}  # c has a way out but no way in
    assert reaching("a", table) == {"a", "b", "c"}
    trapped = {**table, ("b", "fall"): {"d"}}
    assert "d" in reachable("a", trapped) and "d" not in reaching("a", trapped)  # d has no way back
    assert set("abcd") - reachable("a", trapped) == {"c"}
    assert set("abcd") - reaching("a", trapped) == {"d"}


@pytest.fixture(scope="module")
def explored() -> tuple[dict[Key, set[State]], set[Key]]:
    """One exploration of the flow's behaviour (it replays every path from idle), shared by the tests
    that read it. The shipped configuration: its timeouts and rules are what the flow runs with."""
    return explore_flow(load_config(None, env={}))


def test_every_state_is_reachable_from_idle_and_leads_back_to_it(explored) -> None:
    """Computed from behaviour: the targets are what the real handlers did, not what the table says."""
    observed, tried = explored
    untried = {event for _state, event in transition_table()} - {type(event) for event in SAMPLE_EVENTS}
    assert not untried, f"add a sample event for {sorted(e.__name__ for e in untried)} to SAMPLE_EVENTS"
    assert set(State) - reachable(State.IDLE, observed) == set(), "states no journey from idle reaches"
    assert set(State) - reaching(State.IDLE, observed) == set(), "states with no way back to idle"
    assert set(transition_table()) <= tried  # every row of the table was exercised


def test_the_declared_targets_reach_every_state_from_idle_and_lead_back() -> None:
    """Computed from the table alone: breadth first over the targets each rule declares."""
    assert reachable_from(State.IDLE) == set(State)
    declared = declared_targets()
    assert set(State) - reachable(State.IDLE, declared) == set(), "states no rule leads to from idle"
    assert set(State) - reaching(State.IDLE, declared) == set(), "states no rule leads back to idle from"


def test_the_declared_targets_are_what_the_flow_does(explored) -> None:
    """Table and behaviour agree: each rule was seen leading to every target it declares and to
    nothing else (STAY counts as its own state), and an event without a rule changed no state."""
    observed, tried = explored
    declared = declared_targets()
    expected = {key: declared.get(key, {key[0]}) for key in tried}
    disagree = {(str(state), event.__name__): (sorted(observed[(state, event)]), sorted(targets))
                for (state, event), targets in expected.items() if observed[(state, event)] != targets}
    assert disagree == {}, "(state, event): (observed, declared)"


def test_an_action_cannot_pick_a_target_its_rule_does_not_declare() -> None:
    chosen = Rule(State.RESULT, Finished, BACK_TO_IDLE, lambda _ctx, _event: State.POSITIONING)
    with pytest.raises(UndeclaredTarget):
        chosen.resolve(State.POSITIONING)
    with pytest.raises(UndeclaredTarget):
        chosen.resolve(None)
    assert chosen.resolve(State.MAINTENANCE) is State.MAINTENANCE
    fixed = Rule(State.IDLE, CardPlaced, State.READING, lambda _ctx, _event: None)
    assert fixed.resolve(None) is State.READING
    with pytest.raises(UndeclaredTarget):
        fixed.resolve(State.RESULT)


def test_a_record_is_announced_only_once_stored(flow: Flow) -> None:
    to_actions(flow)
    effects = run(flow, LivenessPassed(), Matched())
    assert StoreRecord(Outcome.CERTIFIED, 1, date(2027, 5, 20)) in effects
    assert "result_certified" not in spoken(effects)
    effects = run(flow, RecordFailed("storage_full"))  # the disk was full: no "certified" at all
    assert flow.state is State.RESULT and flow.view.outcome == "storage_full"
    assert flow.view.next_step is NextStep.ASK_STAFF and flow.view.valid_until is None
    assert spoken(effects) == ["result_storage_full"]
    assert run(flow, RecordStored()) == []  # nothing is held back any more


def test_a_session_ending_while_a_device_is_missing_goes_to_maintenance(flow: Flow) -> None:
    run(flow, CardPlaced(), MaintenanceRequired("reader_unavailable", device="reader"),
        CardRejected("card_read_failed"))
    assert flow.state is State.RESULT and flow.missing_devices == {"reader"}  # the session was not disturbed
    effects = run(flow, Finished())
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "reader_unavailable"
    assert Wipe() in effects and StopCamera() in effects and spoken(effects) == ["maintenance"]
    assert flow.view.session_id is None and flow.view.person is None and flow.view.outcome is None


def test_maintenance_ends_only_when_every_device_is_back(flow: Flow) -> None:
    run(flow, MaintenanceRequired("reader_unavailable", device="reader"),
        MaintenanceRequired("camera_unavailable", device="camera"))
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "camera_unavailable"
    assert run(flow, DevicesReady(device="camera")) == []  # the reader is still missing: no new screen
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "reader_unavailable"
    run(flow, TechnicianEntered(), TechnicianLeft())
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "reader_unavailable"
    run(flow, DevicesReady(device="reader"))
    assert flow.state is State.IDLE and flow.missing_devices == frozenset()


def test_a_flickering_hint_is_not_repeated_at_once(flow: Flow, clock: FakeClock) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    effects = run(flow, QualityHinted("turned_away"), QualityHinted(None), QualityHinted("turned_away"),
                  QualityHinted(None), QualityHinted("too_dark"))
    # Within the minimum dwell the screen and the voice keep the first hint; the latest one waits.
    assert spoken(effects) == ["hint_turned_away"] and flow.view.hint == "turned_away"
    clock.advance(HINT_MIN_DWELL_S)
    assert spoken(flow.tick()) == ["hint_too_dark"] and flow.view.hint == "too_dark"
    clock.advance(7)
    assert spoken(run(flow, QualityHinted("turned_away"))) == ["hint_turned_away"]


def test_a_hint_changes_the_screen_at_most_once_per_dwell(flow: Flow, clock: FakeClock) -> None:
    """Seen live: the positioning hint changed 9 times in 4.7 s. Now a change needs the dwell."""
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    shown: list[tuple[float, str | None]] = []
    codes = ["face_too_small", None, "off_centre", "face_too_small", None, "turned_away", None, "off_centre", None]
    for step in range(48):  # 4.7 s of camera updates every 0.1 s, the hint flickering
        run(flow, QualityHinted(codes[step % len(codes)]))
        flow.tick()
        if not shown or shown[-1][1] != flow.view.hint:
            shown.append((clock.monotonic(), flow.view.hint))
        clock.advance(0.1)
    gaps = [later[0] - earlier[0] for earlier, later in zip(shown, shown[1:])]
    assert len(shown) <= 3 and all(gap >= HINT_MIN_DWELL_S - 1e-9 for gap in gaps), shown


def test_the_action_window_starts_when_its_prompt_was_heard(flow: Flow) -> None:
    to_actions(flow)
    action = flow.view.action
    assert run(flow, PromptFinished("face_ok")) == []  # not the action's prompt
    assert run(flow, PromptFinished(f"action_{action}")) == [ActionHeard(action)]


def test_a_card_laid_on_the_result_screen_starts_a_fresh_session(flow: Flow) -> None:
    """The next person must not inherit the attempts, the number or the person of the one before."""
    to_actions(flow)
    run(flow, LivenessFailed("spoof_detected"), RetryRequested(), LivenessFailed("spoof_detected"))
    assert flow.state is State.RESULT and flow.view.attempt == 2
    effects = run(flow, CardPlaced())
    assert flow.state is State.READING and Wipe() in effects
    assert flow.view.session_id == "session-1" and flow.view.person is None
    assert not holds(flow, "110101199003070011")
    assert flow.view.outcome is None and not flow.view.can_retry
    run(flow, CardRead("110101199003070011", "张*"), PensionerFound(None), StartRequested(), ConsentGiven())
    assert flow.state is State.POSITIONING and flow.view.attempt == 1


def test_the_card_left_on_the_reader_is_asked_for_until_it_is_lifted(flow: Flow, clock: FakeClock) -> None:
    """Seen live: the card stayed on the reader and the idle screen invited the next card."""
    to_actions(flow)
    run(flow, ActionCompleted("blink"), LivenessPassed(), Matched(), RecordStored())
    effects = run(flow, Finished())
    assert flow.state is State.IDLE and flow.view.take_card and flow.view.person is None
    assert spoken(effects) == ["remove_card"]
    assert spoken(run(flow, IdleTouched(), PersonApproached())) == []  # said just now: no invitation
    clock.advance(REMOVE_CARD_REPEAT_S)
    assert spoken(flow.tick()) == ["remove_card"]
    clock.advance(REMOVE_CARD_REPEAT_S)
    assert spoken(run(flow, IdleTouched())) == ["remove_card"]  # a touch asks again, not for a new card
    run(flow, CardRemoved())
    assert not flow.view.take_card
    clock.advance(REMOVE_CARD_REPEAT_S)
    assert spoken(flow.tick()) == [] and spoken(run(flow, IdleTouched())) == ["idle_welcome"]


def test_the_card_reminder_stops_talking_but_the_screen_keeps_asking(flow: Flow, clock: FakeClock) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None))
    clock.advance(1000)
    flow.tick()  # the status screen timed out with the card still there
    assert flow.state is State.IDLE and flow.view.take_card
    said = 1
    for _ in range(30):
        clock.advance(REMOVE_CARD_REPEAT_S)
        said += len(spoken(flow.tick()))
    assert said == REMOVE_CARD_SPOKEN_MAX and flow.view.take_card


def test_a_card_lifted_on_the_result_screen_is_not_asked_for(flow: Flow) -> None:
    to_actions(flow)
    run(flow, ActionCompleted("blink"), LivenessPassed(), Matched(), RecordStored(), CardRemoved())
    effects = run(flow, Finished())
    assert flow.state is State.IDLE and not flow.view.take_card and "remove_card" not in spoken(effects)


def test_walking_away_from_the_status_screen_blanks_it(flow: Flow, config: KioskConfig) -> None:
    run(flow, CardPlaced(), CardRead("x", "李*英"), PensionerFound(None))
    assert flow.state is State.STATUS and config.session.status_timeout_s < config.session.inactivity_timeout_s
    run(flow, PersonLeft())
    assert flow.state is State.IDLE and flow.view.person is None


def test_the_positioning_reminder_asks_for_the_face_not_a_touch(flow: Flow, clock: FakeClock, config: KioskConfig) -> None:
    """A touch does not extend the face check, so its reminder must not ask for one."""
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    clock.advance(config.session.positioning_timeout_s - config.session.reminder_before_timeout_s)
    assert spoken(flow.tick()) == ["reminder_positioning"]


def test_an_overdue_person_hears_the_day_payment_stops(flow: Flow, clock: FakeClock) -> None:
    from datetime import timedelta

    from kiosk.clock import today

    last = today(clock) - timedelta(days=365 + 20)
    effects = run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(last))
    said = [e for e in effects if isinstance(e, Speak)][-1]
    assert said.prompt == "status_overdue" and dict(said.params)["suspended_from"] == flow.view.person.status.suspended_from


def test_a_card_lifted_during_maintenance_is_not_asked_for_afterwards(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), MaintenanceRequired("reader_unavailable", device="reader"),
        DeviceFailed("camera_unavailable"), Finished())
    assert flow.state is State.MAINTENANCE
    run(flow, CardRemoved(), DevicesReady(device="reader"))
    assert flow.state is State.IDLE and not flow.view.take_card
