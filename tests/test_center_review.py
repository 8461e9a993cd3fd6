"""The review queue: requests with evidence, signed decisions, and their way back in the roster delta."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from center import review
from center.app import create_app
from center.cli import cli
from center.console_users import Role, add_user
from center.db import Pensioner, ReviewDecisionRow, make_engine, session_factory
from tests.test_center_api import Terminal, add_device
from wire.review import CERTIFYING_OUTCOMES, Decision, ReviewDecision, verify_decision

PERSON = "11010119400101001X"
JPEG = base64.b64encode(b"\xff\xd8evidence").decode()
# The terminal was added at the centre before the visits these tests send (records older than the
# device are refused as out of range).
DEVICE_ADDED = datetime(2026, 1, 5, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "centre.db")
    with session_factory(make_engine(path))() as session:
        session.add(Pensioner(id_number=PERSON, name="张三", region_code="110101", last_certified=date(2025, 3, 1),
                              templates=[], template_source="photo", seq=1))
        add_user(session, "R001", "李审核", Role.REVIEWER, "246810")
        session.commit()
    return path


@pytest.fixture
def terminal(db: str) -> Terminal:
    code = add_device(db, "T1", name="terminal 1", hall="东城大厅", created_at=DEVICE_ADDED)
    terminal = Terminal(TestClient(create_app(db)), "T1", code)
    answer = terminal.enrol()
    assert answer.status_code == 200, answer.text
    return terminal


def submit_visit(terminal: Terminal, *, with_images: bool) -> str:
    """Three failed attempts and a request for review, as a terminal sends them; returns the request's id."""
    image = {"face_image_jpeg": JPEG} if with_images else {}
    records = [terminal.record(outcome="liveness_failed", reason_code="too_dark", attempt=n,
                               occurred_at=f"2026-05-20T01:0{n}:00.000000+00:00", **image) for n in (1, 2, 3)]
    request = terminal.record(outcome="manual_review_requested", attempt=3,
                              occurred_at="2026-05-20T01:04:00.000000+00:00", **image)
    answer = terminal.request("POST", "/v1/results", {"records": [*records, request]})
    assert {receipt["status"] for receipt in answer.json()["receipts"]} == {"accepted"}, answer.text
    return request["record_id"]


def roster_after(terminal: Terminal, cursor: int) -> list[dict]:
    return terminal.request("GET", f"/v1/roster?cursor={cursor}").json()["changes"]


def test_a_request_is_queued_with_its_attempts_images_and_the_persons_reference(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=True)
    with session_factory(make_engine(db))() as session:
        assert [row.record_id for row in review.pending(session)] == [record_id]
        found = review.case(session, record_id)
        assert [row.reason_code for row in found.attempts] == ["too_dark"] * 3
        assert all(row.face_image and row.face_image.startswith(b"\xff\xd8") for row in found.attempts)
        assert found.pensioner is not None and found.pensioner.name == "张三" and found.decision is None


def test_without_the_provinces_consent_no_image_is_stored(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=False)
    with session_factory(make_engine(db))() as session:
        found = review.case(session, record_id)
        assert found.request.face_image is None and all(row.face_image is None for row in found.attempts)


def test_an_approval_is_signed_certifies_the_person_and_reaches_every_terminal(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=False)
    key = terminal.client.app.state.center_key
    with session_factory(make_engine(db))() as session:
        signed = review.decide(session, key, record_id, Decision.APPROVED, " 本人到场，光线不足导致失败 ", "R001")
        assert review.pending(session) == []
        stored = session.get(ReviewDecisionRow, record_id)
        assert (stored.decision, stored.reason, stored.reviewer) == ("approved", "本人到场，光线不足导致失败", "R001")
    changes = roster_after(terminal, 1)
    assert [change["id_number"] for change in changes] == [PERSON]
    assert changes[0]["seq"] > 1 and changes[0]["last_certified"] == "2026-05-20"
    decision = changes[0]["review"]
    assert decision["record_id"] == record_id and decision["decision"] == "approved" and decision["reviewer"] == "R001"
    assert decision == signed.wire_dict()
    public_key = terminal.client.get("/v1/ping").json()["center_public_key"]
    assert verify_decision(public_key, decision)
    assert not verify_decision(public_key, {**decision, "decision": "rejected"})
    # The model a terminal parses the page with gives back the same signed bytes.
    assert verify_decision(public_key, ReviewDecision.model_validate(decision).wire_dict())


def test_a_rejection_travels_too_and_leaves_the_person_uncertified(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=False)
    with session_factory(make_engine(db))() as session:
        review.decide(session, terminal.client.app.state.center_key, record_id, Decision.REJECTED, "照片与本人不符", "R001")
    change = roster_after(terminal, 1)[0]
    assert change["last_certified"] == "2025-03-01" and change["review"]["decision"] == "rejected"


def test_a_decision_is_final_and_needs_a_reason(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=False)
    key = terminal.client.app.state.center_key
    with session_factory(make_engine(db))() as session:
        with pytest.raises(review.ReviewError) as empty:
            review.decide(session, key, record_id, Decision.APPROVED, "   ", "R001")
        assert empty.value.code == "review_invalid"
        review.decide(session, key, record_id, Decision.APPROVED, "ok", "R001")
        with pytest.raises(review.ReviewError) as again:
            review.decide(session, key, record_id, Decision.REJECTED, "changed my mind", "R001")
        assert again.value.code == "review_already_decided"
        with pytest.raises(review.ReviewError) as missing:
            review.decide(session, key, str(uuid.uuid4()), Decision.APPROVED, "ok", "R001")
        assert missing.value.code == "review_not_found"


def test_staff_verified_records_are_accepted_like_certifications(terminal: Terminal) -> None:
    record = terminal.record(outcome="staff_verified", occurred_at="2026-05-20T02:00:00.000000+00:00")
    assert terminal.request("POST", "/v1/results", {"records": [record]}).json()["receipts"][0]["status"] == "accepted"
    assert "staff_verified" in {str(outcome) for outcome in CERTIFYING_OUTCOMES}


def _cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.output


def test_the_cli_lists_and_decides_for_a_reviewer_only(terminal: Terminal, db: str) -> None:
    record_id = submit_visit(terminal, with_images=False)
    code, out = _cli("staff", "add", "H001", "王大厅", "--role", "hall_staff", "--hall", "东城大厅", "--pin-stdin",
                     "--db", db, stdin="135790\n")
    assert code == 0, out
    code, out = _cli("review", "list", "--json", "--db", db)
    listed = json.loads(out)
    assert [item["record_id"] for item in listed] == [record_id] and listed[0]["id_number"] == "110101********001X"
    code, out = _cli("review", "decide", record_id, "--approve", "--reason", "核实无误", "--reviewer", "H001", "--db", db)
    assert code != 0 and "not an active reviewer" in out
    code, out = _cli("review", "decide", record_id, "--approve", "--reason", "核实无误", "--reviewer", "R001", "--db", db)
    assert code == 0 and "approved by R001" in out, out
    assert json.loads(_cli("review", "list", "--json", "--db", db)[1]) == []
    assert roster_after(terminal, 1)[0]["review"]["reason"] == "核实无误"
