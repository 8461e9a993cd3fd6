"""Review decisions in the roster delta (issue 17, item 3, the terminal's half): kept with their
centre signature, checked against the centre's public key (also when the key arrives later), the
row's last certified date applied, and told to the person on the status screen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlite_utils import Database

from centre_harness import enrolled_credentials
from kiosk.clock import FakeClock
from kiosk.config import load_config
from kiosk.flow import CardPlaced, CardRead, Flow, PensionerFound, Speak, State
from kiosk.store import DeviceKey, Pensioner, Store
from kiosk.sync.client import CentreClient
from kiosk.sync.credentials import new_credentials
from kiosk.sync.review import remember_center_key, review_news, verify_pending
from kiosk.sync.wire_mapping import apply_roster_page
from wire.signing import public_key_text, sign_record

ID = "11010519491231002X"
CENTRE_KEY = Ed25519PrivateKey.generate()
RECORD_ID = "6f1c2e3a-1111-4222-8333-944455556666"


def review(decision: str = "approved", key: Ed25519PrivateKey = CENTRE_KEY, **changes: object) -> dict:
    fields = {"record_id": RECORD_ID, "decision": decision, "reason": "face_confirmed_by_reviewer",
              "reviewer": "R-07", "decided_at": "2026-05-19T08:00:00Z", **changes}
    return {**fields, "signature": sign_record(key, fields)}


def row(seq: int, last_certified: str | None, the_review: dict | None) -> dict:
    change = {"seq": seq, "op": "upsert", "id_number": ID, "name": "张三", "region_code": "110101",
              "last_certified": last_certified}
    if the_review is not None:
        change["review"] = the_review
    return change


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()  # 2026-05-20


@pytest.fixture()
def store(clock: FakeClock) -> Iterator[Store]:
    with Store(Database(memory=True), clock=clock, key=DeviceKey.generate()) as opened:
        opened.upsert_pensioner(Pensioner(ID, "张三", "110101", date(2025, 3, 1)))
        yield opened


def test_an_approval_with_a_good_signature_is_kept_and_the_row_applied(store: Store, clock: FakeClock) -> None:
    remember_center_key(store, public_key_text(CENTRE_KEY))
    apply_roster_page(store, [row(1, "2026-05-19", review())], 1)
    assert store.get_pensioner(ID).last_certified == date(2026, 5, 19)
    decision = store.latest_review_decision(ID)
    assert (decision.decision, decision.reviewer, decision.verified) == ("approved", "R-07", True)
    assert review_news(store, ID, date(2026, 5, 20)).decision == "approved"
    assert review_news(store, ID, date(2026, 5, 20) + timedelta(days=90)) is None  # old news is not told


def test_a_forged_review_is_refused_but_the_row_is_kept(store: Store) -> None:
    remember_center_key(store, public_key_text(CENTRE_KEY))
    forged = review(key=Ed25519PrivateKey.generate())
    apply_roster_page(store, [row(1, "2025-03-01", forged)], 1)
    assert store.latest_review_decision(ID) is None
    tampered = {**review("rejected"), "decision": "approved"}
    apply_roster_page(store, [row(2, "2025-03-01", tampered)], 2)
    assert store.latest_review_decision(ID) is None
    assert store.get_pensioner(ID) is not None


def test_a_review_before_the_key_is_checked_when_the_key_arrives(store: Store) -> None:
    good, forged = review(), review(key=Ed25519PrivateKey.generate(), record_id="7f1c2e3a-1111-4222-8333-944455556666")
    apply_roster_page(store, [row(1, None, good)], 1)
    apply_roster_page(store, [row(2, None, forged)], 2)
    assert [d.verified for d in store.review_decisions()] == [False, False]
    assert review_news(store, ID, date(2026, 5, 20)) is None  # not told before it is checked
    assert remember_center_key(store, public_key_text(CENTRE_KEY))
    assert verify_pending(store) == (1, 1)
    (kept,) = store.review_decisions()
    assert kept.record_id == RECORD_ID and kept.verified
    assert not remember_center_key(store, public_key_text(CENTRE_KEY))  # the same key again: nothing new


def test_a_malformed_review_is_refused_alone(store: Store) -> None:
    apply_roster_page(store, [row(1, "2026-05-19", {"decision": "maybe"})], 1)
    assert store.latest_review_decision(ID) is None and store.get_pensioner(ID).last_certified == date(2026, 5, 19)


@pytest.mark.parametrize("broken", [{"reviewer": "R" * 33}, {"reviewer": ""}, {"reason": ""}, {"reason": "x" * 201},
                                    {"signature": "s" * 201}, {"decided_at": "2026-05-19T08:00:00"}])
def test_a_review_outside_the_wire_limits_is_refused_and_not_kept(store: Store, broken: dict) -> None:
    # Signed with the centre's own key: only the wire model's limits (wire.review.ReviewDecision) refuse it.
    remember_center_key(store, public_key_text(CENTRE_KEY))
    the_review = review(**broken)
    if "signature" in broken:
        the_review["signature"] = broken["signature"]
    apply_roster_page(store, [row(1, "2026-05-19", the_review)], 1)
    assert store.latest_review_decision(ID) is None
    assert store.get_pensioner(ID).last_certified == date(2026, 5, 19)  # the row's own data is applied


def test_a_review_at_the_wire_limits_and_with_a_newer_field_is_kept(store: Store) -> None:
    # A newer centre may add fields: they are signed over and kept, not refused.
    remember_center_key(store, public_key_text(CENTRE_KEY))
    apply_roster_page(store, [row(1, "2026-05-19", review(reviewer="R" * 32, reason="x" * 200, hall="东城大厅"))], 1)
    decision = store.latest_review_decision(ID)
    assert (decision.reviewer, decision.reason, decision.decision, decision.verified) == ("R" * 32, "x" * 200,
                                                                                         "approved", True)


def test_the_client_keeps_the_centre_key_from_an_answer(clock: FakeClock) -> None:
    key = public_key_text(CENTRE_KEY)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"server_time": "2026-05-20T01:00:00Z", "center_public_key": key})

    client = CentreClient(enrolled_credentials("http://127.0.0.1:9", "KIOSK-1"), clock, 5,
                          transport=httpx.MockTransport(answer))
    client.ping()
    assert client.center_public_key == key
    client.close()


def test_the_status_screen_tells_the_decision(clock: FakeClock) -> None:
    config = load_config(env={})
    flow = Flow(config.rules, config.session, clock)
    flow.handle(CardPlaced())
    flow.handle(CardRead(ID, "张*"))
    effects = flow.handle(PensionerFound(date(2026, 5, 19), review="approved"))
    assert flow.state is State.STATUS and flow.view.person.review == "approved"
    assert [e.prompt for e in effects if isinstance(e, Speak)] == ["status_valid", "review_approved"]


def test_the_terminal_shows_a_recent_decision_at_the_next_visit(config) -> None:
    from kiosk.store.staff import ReviewDecision
    from test_session_controller import ID as PERSON, SCRIPT, FakeLiveness, FakeMatcher, Harness

    h = Harness(config, FakeLiveness(SCRIPT), FakeMatcher())
    with Store.from_config(config, h.clock) as store:
        store.save_review_decision(ReviewDecision(RECORD_ID, PERSON, "approved", "ok", "R-07",
                                                  datetime(2026, 5, 19, 8, tzinfo=timezone.utc), "sig", True, "{}"))
    h.controller.start()
    try:
        h.reader.post(CardPlaced())
        h.reader.post(CardRead(PERSON, "张*"))
        view = h.wait_for(lambda v: v.state is State.STATUS)
        assert view.person.review == "approved"
        h.wait_for(lambda v: "review_approved" in h.voice.prompts)
    finally:
        h.controller.stop()
