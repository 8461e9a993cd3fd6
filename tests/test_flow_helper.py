"""The helper mode (issue 19) as lists of events: a family member operates, the face is the card holder's.

The helper's face must leave the camera's view before the pensioner's actions start (the flow waits
for exactly one face), the record says ``assisted_by = family``, the attempt limit is the same, and
the mode is offered by voice on a second face or on repeated hesitation.
"""

from __future__ import annotations

from datetime import date

import pytest

from camera.errors import CameraReason
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.flow import (
    ActionPrompted, Audit, CardPlaced, CardRead, ConsentGiven, FacePositioned, FacesCounted, Flow, HelperRequested,
    LivenessFailed, LivenessPassed, Matched, PensionerFound, QualityHinted, RepeatRequested, RetryRequested, Speak,
    StartLiveness, StartRequested, State, StoreRecord, TimedOut,
)
from kiosk.reasons import Outcome


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


def to_status(flow: Flow) -> list:
    return run(flow, CardPlaced(), CardRead("110101199003070011", "张*"), PensionerFound(date(2025, 6, 1)))


def test_helped_certification_waits_for_one_face_and_records_family(flow: Flow) -> None:
    to_status(flow)
    effects = run(flow, HelperRequested())
    assert flow.state is State.STATUS and flow.view.assisted
    assert spoken(effects) == ["helper_on"] and Audit("helper", "family") in effects
    effects = run(flow, StartRequested(), ConsentGiven())
    assert flow.state is State.HELPER_ASIDE
    assert StartLiveness(1) in effects and spoken(effects)[-1] == "helper_step_aside"
    effects = run(flow, FacesCounted(2), QualityHinted(CameraReason.MULTIPLE_FACES))
    assert flow.state is State.HELPER_ASIDE and not spoken(effects)  # asked a moment ago: not again at once
    effects = run(flow, FacesCounted(1))
    assert flow.state is State.POSITIONING
    assert spoken(effects) == ["helper_look_at_screen"]
    assert not any(isinstance(e, StartLiveness) for e in effects)  # the attempt's camera keeps running
    effects = run(flow, FacePositioned(), ActionPrompted("blink"), LivenessPassed(), Matched())
    assert flow.state is State.RESULT and flow.view.outcome == Outcome.CERTIFIED
    record = next(e for e in effects if isinstance(e, StoreRecord))
    assert record.assisted_by == "family" and record.attempt == 1


def test_an_unhelped_record_says_nothing_of_help(flow: Flow) -> None:
    to_status(flow)
    effects = run(flow, StartRequested(), ConsentGiven(), FacesCounted(2), FacePositioned(), ActionPrompted("blink"),
                  LivenessPassed(), Matched())
    assert next(e for e in effects if isinstance(e, StoreRecord)).assisted_by is None


def test_the_helper_staying_in_view_is_refused_as_multiple_faces(flow: Flow, clock: FakeClock,
                                                                  config: KioskConfig) -> None:
    to_status(flow)
    run(flow, HelperRequested(), StartRequested(), ConsentGiven(), FacesCounted(2))
    clock.advance(7.0)
    assert spoken(run(flow, FacesCounted(3), FacesCounted(2))) == ["helper_step_aside"]  # asked again, once
    effects = []
    for _ in range(int(config.session.positioning_timeout_s) + 2):
        clock.advance(1.0)
        effects += flow.tick()
    assert flow.state is State.RESULT
    assert flow.view.outcome == CameraReason.MULTIPLE_FACES
    record = next(e for e in effects if isinstance(e, StoreRecord))
    assert record.outcome == CameraReason.MULTIPLE_FACES and record.assisted_by == "family"


def test_a_second_face_during_the_actions_times_out_as_multiple_faces(flow: Flow, clock: FakeClock,
                                                                      config: KioskConfig) -> None:
    to_status(flow)
    run(flow, HelperRequested(), StartRequested(), ConsentGiven(), FacesCounted(1), FacePositioned(),
        ActionPrompted("blink"), QualityHinted(CameraReason.MULTIPLE_FACES))
    clock.advance(config.session.inactivity_timeout_s + 1)
    flow.tick()
    assert flow.state is State.RESULT and flow.view.outcome == CameraReason.MULTIPLE_FACES


def test_the_attempt_limit_is_the_same_and_a_retry_asks_the_helper_aside_again(flow: Flow, config: KioskConfig) -> None:
    to_status(flow)
    run(flow, HelperRequested(), StartRequested(), ConsentGiven())
    for attempt in range(1, config.rules.attempts_per_session + 1):
        assert flow.state is State.HELPER_ASIDE and flow.view.attempt == attempt
        run(flow, FacesCounted(1), LivenessFailed(CameraReason.SPOOF_DETECTED))
        assert flow.state is State.RESULT
        run(flow, RetryRequested())
    assert flow.state is State.RESULT and flow.view.manual_review_offered and not flow.view.can_retry


def test_a_second_face_while_positioning_offers_the_helper_mode_once(flow: Flow) -> None:
    to_status(flow)
    run(flow, StartRequested(), ConsentGiven())
    effects = run(flow, QualityHinted(CameraReason.MULTIPLE_FACES))
    assert spoken(effects) == ["hint_multiple_faces", "helper_offer"] and flow.view.helper_offered
    effects = run(flow, QualityHinted(None), QualityHinted(CameraReason.MULTIPLE_FACES))
    assert "helper_offer" not in spoken(effects)
    effects = run(flow, HelperRequested())
    assert flow.state is State.HELPER_ASIDE and flow.view.assisted and StartLiveness(1) in effects


def test_repeated_hesitation_offers_the_helper_mode(flow: Flow, clock: FakeClock, config: KioskConfig) -> None:
    to_status(flow)
    assert "helper_offer" not in spoken(run(flow, RepeatRequested()))
    assert "helper_offer" in spoken(run(flow, RepeatRequested()))
    flow2 = Flow(config.rules, config.session, clock)
    to_status(flow2)
    clock.advance(config.session.status_timeout_s - config.session.reminder_before_timeout_s + 0.1)
    assert spoken(flow2.tick()) == ["reminder_still_there"]
    run(flow2, StartRequested())
    clock.advance(config.session.consent_timeout_s - config.session.reminder_before_timeout_s + 0.1)
    assert spoken(flow2.tick()) == ["reminder_still_there", "helper_offer"]


def test_a_new_session_forgets_the_helper_mode(flow: Flow) -> None:
    to_status(flow)
    run(flow, HelperRequested(), TimedOut())
    assert flow.state is State.IDLE and not flow.view.assisted
    to_status(flow)
    assert not flow.view.assisted and not flow.view.helper_offered
