"""The session controller with fake devices and a real store file: effects, records, voice, wipes."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import date

import numpy as np
import pytest

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.errors import StorageFullError
from kiosk.flow import (
    ActionCompleted, ActionPrompted, CardPlaced, CardRead, CardRemoved, ConsentGiven, FacePositioned, Finished,
    FlowView, LivenessPassed, Speak, StartRequested, State,
)
from kiosk.ports import LivenessScores, MatchOutcome
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store

ID = "110101199003070011"


class FakeReader:
    def __init__(self) -> None:
        self.post = None
        self.stopped = False

    def start(self, post) -> None:
        self.post = post

    def stop(self) -> None:
        self.stopped = True


class FakeLiveness:
    """Plays a scripted challenge as soon as it is started."""

    def __init__(self, script: list) -> None:
        self.script = script
        self.frames = [np.full((48, 48, 3), 128, np.uint8)]
        self.started: list[int] = []
        self.wiped = 0

    def start(self, attempt, post, on_preview) -> None:
        self.started.append(attempt)
        for event in self.script:
            post(event)

    def stop(self) -> None:
        pass

    def best_frames(self):
        return list(self.frames)

    def scores(self) -> LivenessScores:
        return LivenessScores(0.93, 0.05)

    def wipe(self) -> None:
        self.wiped += 1
        self.frames = [np.full((48, 48, 3), 128, np.uint8)]


class FakeMatcher:
    """Answers ``outcome``, or ``outcome_for(references)`` when given (distances per reference)."""

    def __init__(self, outcome: MatchOutcome | None = None, hold: bool = False, outcome_for=None) -> None:
        self.outcome = outcome or MatchOutcome(True, 0.21)
        self.outcome_for = outcome_for
        self.hold = hold
        self.futures: list[Future] = []

    def encode(self, image) -> Future:
        future: Future = Future()
        future.set_result(type("Encoding", (), {"vector": np.full(128, 0.5, np.float32)})())
        return future

    def verify(self, live_frames, references) -> Future:
        assert references and live_frames
        future: Future = Future()
        self.futures.append(future)
        if not self.hold:
            future.set_result(self.outcome_for(references) if self.outcome_for else self.outcome)
        return future


class RecordingVoice:
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def speak(self, prompt: Speak) -> None:
        self.prompts.append(prompt.prompt)


class Harness:
    def __init__(self, config: KioskConfig, liveness: FakeLiveness, matcher: FakeMatcher, store_hook=None) -> None:
        self.views: list[FlowView] = []
        self.held_numbers: list[str | None] = []
        self.changed = threading.Condition()
        self.reader = FakeReader()
        self.voice = RecordingVoice()
        self.liveness = liveness
        self.clock = FakeClock()
        with Store.from_config(config, self.clock) as store:
            store.upsert_pensioner(Pensioner(ID, "张三", "110101", date(2025, 6, 1)))
            store.add_reference(ID, np.ones(128, np.float32), "roster_photo")

        def factory() -> Store:
            store = Store.from_config(config, self.clock)
            if store_hook:
                store_hook(store)
            return store

        self.controller = SessionController(
            config, self.clock, store_factory=factory, reader=self.reader, liveness=liveness, matcher=matcher,
            voice=self.voice, on_view=self._on_view,
        )
        self.config = config

    def _on_view(self, view: FlowView) -> None:
        # On the controller's thread: what it holds of the person when it shows this view.
        held = self.controller.session_data.id_number
        with self.changed:
            self.views.append(view)
            self.held_numbers.append(held)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout: float = 5.0) -> FlowView:
        with self.changed:
            assert self.changed.wait_for(lambda: self.views and predicate(self.views[-1]), timeout), self.views[-1:]
            return self.views[-1]


SCRIPT = [FacePositioned(), ActionPrompted("blink"), ActionCompleted("blink"), LivenessPassed()]


@pytest.fixture
def harness(config: KioskConfig):
    made: list[Harness] = []

    def make(script=SCRIPT, matcher=None, store_hook=None, config_=None) -> Harness:
        h = Harness(config_ or config, FakeLiveness(script), matcher or FakeMatcher(), store_hook)
        h.controller.start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.controller.stop()


def walk_to_result(h: Harness, until: State = State.RESULT) -> FlowView:
    """Card, status, start, consent; then waits for ``until`` (the result, or matching when the
    matcher holds its answer)."""
    h.reader.post(CardPlaced())
    h.reader.post(CardRead(ID, "张*"))
    h.wait_for(lambda v: v.state is State.STATUS)
    h.controller.post(StartRequested())
    h.controller.post(ConsentGiven())
    return h.wait_for(lambda v: v.state is until)


def test_certifies_and_stores_the_record(harness, config: KioskConfig) -> None:
    h = harness()
    view = walk_to_result(h)
    assert view.outcome == "certified" and view.valid_until == date(2027, 5, 20)
    assert h.voice.prompts[-1] == "result_certified"
    assert "action_blink" in h.voice.prompts
    h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        assert store.get_pensioner(ID).last_certified == date(2026, 5, 20)
        assert store.outbox_counts()["pending"] == 1
        assert store.counts_for_day(date(2026, 5, 20)) == {"certified": 1}


def test_finishing_wipes_the_session(harness) -> None:
    h = harness()
    walk_to_result(h)
    wiped_before = h.liveness.wiped
    h.controller.post(Finished())
    view = h.wait_for(lambda v: v.state is State.IDLE)
    assert view.person is None and view.session_id is None and view.outcome is None
    assert h.liveness.wiped > wiped_before
    assert h.held_numbers[h.views.index(next(v for v in h.views if v.state is State.STATUS))] == ID
    assert h.held_numbers[-1] is None  # the ID number went with the wipe, before idle was shown


def test_a_record_that_cannot_be_stored_is_not_announced(harness) -> None:
    def full_disk(store: Store) -> None:
        def refuse(_record):
            raise StorageFullError("disk full")
        store.record_attempt = refuse

    h = harness(store_hook=full_disk)
    view = walk_to_result(h)
    assert view.outcome == "storage_full"
    assert "result_certified" not in h.voice.prompts
    assert h.voice.prompts[-1] == "result_storage_full"


def test_a_match_finishing_after_the_card_was_pulled_is_dropped(harness, config: KioskConfig) -> None:
    """The card is pulled while matching and laid again: the old session's late "matched" must not
    decide the new session, which is also matching and would take it (the flow alone cannot tell)."""
    matcher = FakeMatcher(hold=True)
    h = harness(matcher=matcher)

    first = walk_to_result(h, until=State.MATCHING)
    h.reader.post(CardRemoved())
    assert h.wait_for(lambda v: v.state is State.RESULT).outcome == "card_removed"
    second = walk_to_result(h, until=State.MATCHING)
    assert second.session_id != first.session_id and len(matcher.futures) == 2
    matcher.futures[0].set_result(MatchOutcome(True, 0.1))  # the first session's match, too late
    matcher.futures[1].set_result(MatchOutcome(False, 0.6, "mismatch"))
    view = h.wait_for(lambda v: v.state is State.RESULT)
    assert view.session_id == second.session_id
    assert view.outcome == "mismatch" and view.attempt == 1 and view.can_retry
    assert "result_certified" not in h.voice.prompts and h.voice.prompts[-1] == "result_mismatch"
    h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        assert store.counts_for_day(date(2026, 5, 20)) == {"mismatch": 1}
        assert store.get_pensioner(ID).last_certified == date(2025, 6, 1)
        record = store.get_record(store.pending_outbox(10, h.clock.now())[0].record_id)
    assert record.session_id == second.session_id and record.match_distance == pytest.approx(0.6)


def test_mismatch_counts_an_attempt_and_allows_retry(harness) -> None:
    h = harness(matcher=FakeMatcher(MatchOutcome(False, 0.52, "mismatch")))
    view = walk_to_result(h)
    assert view.outcome == "mismatch" and view.can_retry and view.attempt == 1
    assert h.liveness.started == [1]


def sface_outcome(official: float, live: float):
    """An SFace match whose official (first) reference is at ``official`` and live ones at ``live``."""
    def outcome_for(references) -> MatchOutcome:
        distances = (official,) + (live,) * (len(references) - 1)
        return MatchOutcome(min(distances) <= 0.57, min(distances), None, "sface", distances)
    return outcome_for


def refreshing(config: KioskConfig) -> KioskConfig:
    return config.model_copy(update={"match": config.match.model_copy(update={"refresh_reference_on_success": True})})


def certify_times(h: Harness, times: int) -> None:
    for _ in range(times):
        walk_to_result(h)
        h.controller.post(Finished())
        h.wait_for(lambda v: v.state is State.IDLE)
    h.controller.stop()


def audit_codes(store: Store, step: str) -> list[str]:
    return [e["code"] for e in store.audit_entries() if e["step"] == step]


def test_refresh_keeps_at_most_two_live_references_beside_the_roster_photo(harness, config: KioskConfig) -> None:
    h = harness(config_=refreshing(config), matcher=FakeMatcher(outcome_for=sface_outcome(0.30, 0.10)))
    certify_times(h, 3)  # three strong certifications: two live references, the roster one kept
    with Store.from_config(config, h.clock) as store:
        sourced = store.sourced_references(ID)
        assert [source for source, _ in sourced] == ["roster_photo", "live_refresh", "live_refresh"]
        assert np.allclose(sourced[0][1], 1.0) and np.allclose(sourced[1][1], 0.5)
        assert audit_codes(store, "live_reference") == ["earned", "kept"] * 3
        assert audit_codes(store, "match_model") == ["sface"] * 3
        assert store.match_models_for_day(date(2026, 5, 20)) == {"sface": 3}


def test_a_certification_near_the_cut_keeps_no_live_reference(harness, config: KioskConfig) -> None:
    h = harness(config_=refreshing(config), matcher=FakeMatcher(outcome_for=sface_outcome(0.50, 0.50)))
    certify_times(h, 1)
    with Store.from_config(config, h.clock) as store:
        assert [source for source, _ in store.sourced_references(ID)] == ["roster_photo"]
        assert audit_codes(store, "live_reference") == ["official_margin_weak"]


def test_a_live_reference_cannot_earn_another(harness, config: KioskConfig) -> None:
    """Poisoning: a live reference that is not the person (one lucky false accept) lets its face
    match closely, but the official reference does not: no further live reference is made."""
    h = harness(config_=refreshing(config), matcher=FakeMatcher(outcome_for=sface_outcome(0.80, 0.05)))
    with Store.from_config(config, h.clock) as store:  # beside the harness's roster reference
        store.refresh_live_reference(ID, np.full(128, 0.7), max_live=2)
    certify_times(h, 2)
    with Store.from_config(config, h.clock) as store:
        assert [source for source, _ in store.sourced_references(ID)].count("live_refresh") == 1
        assert audit_codes(store, "live_reference") == ["official_margin_weak"] * 2


def test_no_refresh_by_default(harness, config: KioskConfig) -> None:
    h = harness()
    walk_to_result(h)
    h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        assert len(store.references(ID)) == 1


def test_a_failed_challenge_is_recorded_with_its_scores(harness, config: KioskConfig) -> None:
    from kiosk.flow import LivenessFailed

    h = harness(script=[FacePositioned(), ActionPrompted("blink"), LivenessFailed("spoof_detected")])
    view = walk_to_result(h)
    assert view.outcome == "spoof_detected"
    h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        record_id = store.pending_outbox(10, h.clock.now())[0].record_id
        record = store.get_record(record_id)
    assert record.outcome == "spoof_detected"
    assert record.attack_score == pytest.approx(0.05) and record.liveness_score == pytest.approx(0.93)


def test_results_from_other_threads_are_handled_on_the_controllers_thread(harness) -> None:
    """The match is decided on another thread; the flow and the voice only ever run on the controller's."""
    matcher = FakeMatcher(hold=True)
    h = harness(matcher=matcher)
    threads: set[str] = set()
    speak = h.voice.speak
    h.voice.speak = lambda prompt: (threads.add(threading.current_thread().name), speak(prompt))
    h.reader.post(CardPlaced())
    h.reader.post(CardRead(ID, "Z*"))
    h.wait_for(lambda v: v.state is State.STATUS)
    h.controller.post(StartRequested())
    h.controller.post(ConsentGiven())
    h.wait_for(lambda v: v.state is State.MATCHING)
    decider = threading.Thread(target=lambda: matcher.futures[0].set_result(MatchOutcome(True, 0.2)),
                               name="matcher-replies")
    decider.start()
    decider.join()
    assert h.wait_for(lambda v: v.state is State.RESULT).outcome == "certified"
    assert h.voice.prompts[-1] == "result_certified"
    assert threads == {"session-controller"}


def test_a_matcher_that_dies_ends_the_attempt_as_a_device_error(harness) -> None:
    from camera.matching.errors import MatchError, MatchReason

    matcher = FakeMatcher(hold=True)
    h = harness(matcher=matcher)
    h.reader.post(CardPlaced())
    h.reader.post(CardRead(ID, "Z*"))
    h.wait_for(lambda v: v.state is State.STATUS)
    h.controller.post(StartRequested())
    h.controller.post(ConsentGiven())
    h.wait_for(lambda v: v.state is State.MATCHING)
    matcher.futures[0].set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE, "worker gone"))
    view = h.wait_for(lambda v: v.state is State.RESULT)
    assert view.outcome == "matcher_unavailable" and view.next_step == "ask_staff" and not view.can_retry


class FakePresence:
    """``watching`` stands for a real watcher's thread and camera subscription; ``started`` is set
    on the first start (the controller's thread starts it just after :meth:`start` returns)."""

    def __init__(self) -> None:
        self.watching = False
        self.started = threading.Event()

    def start(self, post) -> None:
        self.watching = True
        self.started.set()

    def stop(self) -> None:
        self.watching = False


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
def test_every_stop_closes_the_presence_watcher(config: KioskConfig, inline: bool) -> None:
    """The idle screen starts the watcher; stopping the controller, run on its thread or inline,
    must release it (its thread and the camera) instead of leaving it watching an ended kiosk."""
    presence, reader = FakePresence(), FakeReader()
    controller = SessionController(
        config, FakeClock(), store_factory=lambda: Store.from_config(config, FakeClock()), reader=reader,
        liveness=FakeLiveness(SCRIPT), matcher=FakeMatcher(), voice=RecordingVoice(), presence=presence,
    )
    if inline:
        controller.start_inline()
    else:
        controller.start()
    assert presence.started.wait(5) and presence.watching  # the idle screen watches for people
    controller.stop()
    assert not presence.watching and reader.stopped
