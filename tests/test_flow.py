"""The certification flow as lists of events: success, every failure path, retry, timeouts, wipes."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.flow import (
    SESSION_STATES, ActionCompleted, ActionPrompted, Audit, CardPlaced, CardRead, CardRejected, CardRemoved,
    ConsentGiven, ConsentRefused, DeviceFailed, DevicesReady, FacePositioned, Finished, Flow, HelpRequested,
    LivenessFailed, LivenessPassed, LookUpPensioner, MaintenanceRequired, ManualReviewRequested, Matched,
    Mismatched, PensionerFound, PensionerNotFound, QualityHinted, ReferenceMissing, RepeatRequested,
    RetryRequested, RunMatch, Speak, StartLiveness, StartRequested, State, StopCamera, StoreRecord,
    TechnicianEntered, TechnicianLeft, UserActive, Wipe, transition_table,
)
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


def to_actions(flow: Flow, last_certified: date | None = date(2025, 6, 1)) -> list:
    return run(flow, CardPlaced(), CardRead("110101199003070011", "张*"), PensionerFound(last_certified),
               StartRequested(), ConsentGiven(), QualityHinted("too_dark"), QualityHinted(None),
               FacePositioned(), ActionPrompted("blink"))


def test_happy_path(flow: Flow, clock: FakeClock) -> None:
    effects = to_actions(flow)
    assert flow.state is State.ACTIONS
    assert flow.view.session_id == "session-0"
    assert flow.view.person.display_name == "张*"
    assert flow.id_number == "110101199003070011"
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
    assert spoken(effects)[-1] == "result_certified"
    effects = run(flow, Finished())
    assert flow.state is State.IDLE and Wipe() in effects
    assert flow.id_number is None and flow.view.person is None and flow.view.session_id is None


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
    assert flow.view.staff_called and "staff_called" in spoken(effects)


def test_maintenance_and_technician(flow: Flow) -> None:
    run(flow, MaintenanceRequired("camera_unavailable"))
    assert flow.state is State.MAINTENANCE and flow.view.maintenance_code == "camera_unavailable"
    assert run(flow, CardPlaced()) == []  # no session while devices are missing
    run(flow, DevicesReady(), TechnicianEntered())
    assert flow.state is State.TECHNICIAN
    assert run(flow, CardPlaced()) == []
    run(flow, TechnicianLeft())
    assert flow.state is State.IDLE


def test_every_state_is_reachable_from_the_table() -> None:
    table = transition_table()
    sources = {state for state, _event in table}
    assert sources == set(State)


def test_a_flickering_hint_is_not_repeated_at_once(flow: Flow, clock: FakeClock) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    effects = run(flow, QualityHinted("turned_away"), QualityHinted(None), QualityHinted("turned_away"),
                  QualityHinted(None), QualityHinted("too_dark"))
    assert spoken(effects) == ["hint_turned_away", "hint_too_dark"]
    clock.advance(7)
    assert spoken(run(flow, QualityHinted("turned_away"))) == ["hint_turned_away"]


def test_a_card_laid_on_the_result_screen_starts_a_fresh_session(flow: Flow) -> None:
    """The next person must not inherit the attempts, the number or the person of the one before."""
    to_actions(flow)
    run(flow, LivenessFailed("spoof_detected"), RetryRequested(), LivenessFailed("spoof_detected"))
    assert flow.state is State.RESULT and flow.view.attempt == 2
    effects = run(flow, CardPlaced())
    assert flow.state is State.READING and Wipe() in effects
    assert flow.view.session_id == "session-1" and flow.id_number is None and flow.view.person is None
    assert flow.view.outcome is None and not flow.view.can_retry
    run(flow, CardRead("110101199003070011", "张*"), PensionerFound(None), StartRequested(), ConsentGiven())
    assert flow.state is State.POSITIONING and flow.view.attempt == 1
