"""The reference centre's HTTP API in-process: authentication, limits, validation, idempotency, roster."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.db import Device, make_engine, session_factory
from center.enrolment import issue_code
from center.provincial_roster import generate_synthetic
from wire import signing


class Terminal:
    """A test terminal: holds its own key and signs requests like the kiosk does."""

    def __init__(self, client: TestClient, device_id: str = "T1", code: str = "") -> None:
        self.client, self.device_id, self.code = client, device_id, code
        self.key = signing.new_signing_key()
        self.key_id = signing.key_id(signing.public_key_text(self.key))
        self.clock_offset = 0.0

    def request(self, method: str, path: str, payload: Any = None, *, raw: bytes | None = None,
                nonce: str | None = None, key: Any = None) -> Any:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        headers = signing.sign_request(key or self.key, self.device_id, method, path, body,
                                       int(time.time() + self.clock_offset), nonce).as_dict()
        return self.client.request(method, path, content=body, headers={**headers, "Content-Type": "application/json"})

    def enrol(self, code: str | None = None) -> Any:
        return self.request("POST", "/v1/enrol", {"enrolment_code": self.code if code is None else code,
                                                  "public_key": signing.public_key_text(self.key)})

    def record(self, **changes: Any) -> dict[str, Any]:
        record = {"record_id": str(uuid.uuid4()), "device_id": self.device_id, "key_id": self.key_id,
                  "id_number": "11010119400101001X", "occurred_at": _now_in_china(),
                  "region_code": "110101", "outcome": "certified", "scores": {"match_distance": 0.31}}
        record.update(changes)
        record["signature"] = signing.sign_record(self.key, record)
        return record


def _now_in_china() -> str:
    return datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="microseconds")


def add_device(db: str, device_id: str, *, hours: float = 72, created_at: Any = None, name: str | None = None,
               hall: str | None = None) -> str:
    """Creates a device as `kiosk-center device add` does (``--hall``: ``hall``); returns its enrolment code."""
    with session_factory(make_engine(db))() as session:
        row = Device(device_id=device_id, name=name or f"hall {device_id}", hall=hall,
                     **({"created_at": created_at} if created_at is not None else {}))
        code = issue_code(row, hours)
        session.add(row)
        session.commit()
    return code


@pytest.fixture
def db(centre_db: str) -> str:
    """An empty centre database (SQLite and PostgreSQL: the ``centre_db`` fixture)."""
    make_engine(centre_db).dispose()
    return centre_db


@pytest.fixture
def terminal(db: str) -> Terminal:
    code = add_device(db, "T1")
    add_device(db, "T2")
    terminal = Terminal(TestClient(create_app(db, max_body_bytes=200_000)), code=code)
    answer = terminal.enrol()
    assert answer.status_code == 200, answer.text
    return terminal


def _error(response: Any) -> str:
    return response.json()["error"]["code"]


def test_ping_needs_no_credentials(terminal: Terminal) -> None:
    answer = terminal.client.get("/v1/ping")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"device_id": "NOPE"}, 401, "auth_signature_invalid"),
    ({"device_id": "T2"}, 401, "auth_signature_invalid"),
    ({"key": signing.new_signing_key()}, 401, "auth_signature_invalid"),
    ({"clock_offset": -3600}, 401, "auth_request_stale"),
    ({"clock_offset": +3600}, 401, "auth_request_stale"),
])
def test_bad_credentials_and_stale_requests_are_refused(terminal: Terminal, change: dict, status: int, code: str) -> None:
    for name, value in change.items():
        setattr(terminal, name, value)
    answer = terminal.request("GET", "/v1/roster")
    assert (answer.status_code, _error(answer)) == (status, code)


def test_missing_headers_are_refused_with_a_clear_message(terminal: Terminal) -> None:
    answer = terminal.client.post("/v1/results", content=b"{}")
    assert answer.status_code == 401 and _error(answer) == "auth_headers_missing"
    assert "X-Kiosk-Signature" in answer.json()["error"]["message"]


def test_a_replayed_request_is_refused(terminal: Terminal) -> None:
    nonce = signing.new_nonce()
    assert terminal.request("GET", "/v1/roster", nonce=nonce).status_code == 200
    again = terminal.request("GET", "/v1/roster", nonce=nonce)
    assert (again.status_code, _error(again)) == (401, "auth_nonce_replayed")


def test_a_disabled_device_is_refused(terminal: Terminal, db: str) -> None:
    with session_factory(make_engine(db))() as session:
        session.get(Device, "T1").disabled = True
        session.commit()
    answer = terminal.request("GET", "/v1/roster")
    assert (answer.status_code, _error(answer)) == (403, "auth_device_disabled")


def test_bodies_over_the_limit_are_refused(terminal: Terminal) -> None:
    answer = terminal.request("POST", "/v1/results", raw=b"x" * 300_000)
    assert (answer.status_code, _error(answer)) == (413, "request_too_large")


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"{not json", "Invalid JSON"),
    (b'{"records": []}', "records"),
    (b'{"records": [{}], "extra": 1}', "extra"),
])
def test_malformed_batches_get_422_naming_the_field(terminal: Terminal, raw: bytes, fragment: str) -> None:
    answer = terminal.request("POST", "/v1/results", raw=raw)
    assert (answer.status_code, _error(answer)) == (422, "request_invalid")
    assert fragment in answer.json()["error"]["message"]


def test_receipt_is_idempotent_per_record_and_judges_each_record(terminal: Terminal) -> None:
    good, other = terminal.record(), terminal.record(outcome="liveness_failed", reason_code="blink_missing")
    forged = dict(terminal.record(), outcome="certified", id_number="11010119400101002X")  # changed after signing
    invalid = terminal.record(occurred_at="yesterday")
    foreign = terminal.record(device_id="T2")
    answer = terminal.request("POST", "/v1/results", {"records": [good, other, forged, invalid, foreign]})
    assert answer.status_code == 200, answer.text
    receipts = answer.json()["receipts"]
    assert [r["status"] for r in receipts] == ["accepted", "accepted", "rejected", "rejected", "rejected"]
    assert [r["reason"] for r in receipts[2:]] == ["record_signature_invalid", "record_invalid", "record_device_mismatch"]
    assert "occurred_at" in receipts[3]["message"] and "yesterday" not in receipts[3]["message"]
    again = terminal.request("POST", "/v1/results", {"records": [good, good]}).json()["receipts"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]


@pytest.mark.parametrize("region", ["\u0661\u0661\u0660\u0661\u0660\u0661", "\uff11\uff11\uff10\uff11\uff10\uff11",
                                    "11010\u0967"])
def test_a_region_code_in_another_scripts_digits_is_an_invalid_record(terminal: Terminal, region: str) -> None:
    """#13: pydantic patterns run on the Rust regex engine, where \\d is any script's digit."""
    receipt = terminal.request("POST", "/v1/results", {"records": [terminal.record(region_code=region)]}).json()
    assert [(r["status"], r["reason"]) for r in receipt["receipts"]] == [("rejected", "record_invalid")]
    assert "region_code" in receipt["receipts"][0]["message"]


def test_same_id_with_other_content_is_a_conflict(terminal: Terminal) -> None:
    first = terminal.record()
    assert terminal.request("POST", "/v1/results", {"records": [first]}).json()["receipts"][0]["status"] == "accepted"
    clash = terminal.record(record_id=first["record_id"], outcome="match_failed")
    receipt = terminal.request("POST", "/v1/results", {"records": [clash]}).json()["receipts"][0]
    assert (receipt["status"], receipt["reason"]) == ("rejected", "record_conflict")


def test_a_record_signed_with_an_unenrolled_key_is_refused(terminal: Terminal) -> None:
    stranger = Terminal(terminal.client, "T1")
    receipt = terminal.request("POST", "/v1/results", {"records": [stranger.record()]}).json()["receipts"][0]
    assert receipt["reason"] == "record_key_unknown"


def test_roster_deltas_page_by_cursor_and_carry_removals(terminal: Terminal, db: str, tmp_path: Path) -> None:
    from center.provincial_roster import import_csv

    with session_factory(make_engine(db))() as session:
        assert generate_synthetic(session, 25, seed=2) == 25
    pages, cursor = [], 0
    while True:
        page = terminal.request("GET", f"/v1/roster?cursor={cursor}&limit=10").json()
        pages.append(page)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [len(p["changes"]) for p in pages] == [10, 10, 5]
    assert all(len(c["templates"]) == 1 for p in pages for c in p["changes"])
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text("id_number,name,last_certified,photo\n110101194001010012,张三,2025-06-01,\n", encoding="utf-8")
    with session_factory(make_engine(db))() as session:
        report = import_csv(session, csv_file, None, remove_missing=True)
    assert (report.added, report.removed) == (1, 25)
    delta = terminal.request("GET", f"/v1/roster?cursor={cursor}&limit=100").json()
    ops = [c["op"] for c in delta["changes"]]
    assert ops.count("remove") == 25 and ops.count("upsert") == 1 and not delta["has_more"]
    assert terminal.request("GET", f"/v1/roster?cursor={delta['next_cursor']}").json()["changes"] == []


@pytest.mark.parametrize("query", ["cursor=-1", "cursor=abc", "limit=0", "limit=100000"])
def test_bad_roster_queries_are_refused(terminal: Terminal, query: str) -> None:
    answer = terminal.request("GET", f"/v1/roster?{query}")
    assert (answer.status_code, _error(answer)) == (422, "request_invalid")


def test_heartbeats_are_validated_and_stored(terminal: Terminal, db: str) -> None:
    assert terminal.request("POST", "/v1/heartbeat", {"pending": -1, "rejected": 0}).status_code == 422
    answer = terminal.request("POST", "/v1/heartbeat", {"pending": 3, "rejected": 1, "clock_skew_s": 2.5})
    assert answer.status_code == 200 and "server_time" in answer.json()
    # The review-signing key, for a terminal that enrolled with kiosk enroll-device (no store then).
    assert answer.json()["center_public_key"] == terminal.client.get("/v1/ping").json()["center_public_key"]
    with session_factory(make_engine(db))() as session:
        assert session.get(Device, "T1").last_health["pending"] == 3


def test_unknown_paths_get_the_error_envelope(terminal: Terminal) -> None:
    answer = terminal.client.get("/v1/nothing")
    assert (answer.status_code, _error(answer)) == (404, "request_not_found")


def test_the_served_openapi_lists_every_operation(terminal: Terminal) -> None:
    paths = terminal.client.get("/openapi.json").json()["paths"]
    assert {"/v1/ping", "/v1/enrol", "/v1/roster", "/v1/results", "/v1/heartbeat"} <= set(paths)


def test_ids_stored_by_a_concurrent_request_are_told_apart_without_a_rollback(centre_db: str) -> None:
    """The race path of receive_batch: rows are inserted with ON CONFLICT DO NOTHING, and an id
    another request stored first is a duplicate (same content) or a conflict (other content); the
    request's own earlier writes (its nonce) are not rolled back."""
    from datetime import datetime, timezone

    from center.db import Certification, Nonce
    from center.results import _store_new
    from wire.result_record import RecordReceipt
    from wire.codes import RecordVerdict

    def row(record_id: str, digest: str) -> dict[str, Any]:
        return {"record_id": record_id, "device_id": "T1", "key_id": "k", "id_number": None,
                "occurred_at": datetime.now(timezone.utc), "outcome": "certified", "reason_code": "",
                "content_digest": digest, "record": {}, "face_image": None, "received_at": datetime.now(timezone.utc)}

    sessions = session_factory(make_engine(centre_db))
    with sessions() as session:
        session.add(Device(device_id="T1", name="hall"))
        session.commit()
        session.add_all([Certification(**row("a", "d1")), Certification(**row("b", "d2"))])
        session.commit()
    with sessions() as session:
        session.add(Nonce(device_id="T1", nonce="n1", seen_at=1))
        session.flush()
        rows = [row("a", "d1"), row("b", "other"), row("c", "d3")]
        accepted = [RecordReceipt(record_id=r["record_id"], status=RecordVerdict.ACCEPTED) for r in rows]
        receipts = _store_new(session, rows, accepted)
        session.commit()
        assert [(r.record_id, r.status, r.reason) for r in receipts] == [
            ("a", RecordVerdict.DUPLICATE, ""), ("b", RecordVerdict.REJECTED, "record_conflict"),
            ("c", RecordVerdict.ACCEPTED, "")]
    with sessions() as session:
        assert session.get(Certification, "c") is not None and session.get(Certification, "b").content_digest == "d2"
        assert session.get(Nonce, ("T1", "n1")) is not None


def test_accepted_certifications_count_for_the_cycle_and_every_terminal_learns_them(db: str) -> None:
    """An accepted ``certified`` or ``staff_verified`` record moves its person's last_certified to the
    record's day in China Standard Time (when later) and renumbers the row, so that every terminal
    learns it in its next roster delta; other outcomes, earlier days, removed rows, people not on
    the roster and resends move nothing."""
    from datetime import date

    from center.db import Pensioner

    created = datetime(2026, 5, 1, tzinfo=timezone.utc)
    hall = TestClient(create_app(db))
    first, second = (Terminal(hall, device_id, add_device(db, device_id, created_at=created)) for device_id in ("C1", "C2"))
    for terminal in (first, second):
        assert terminal.enrol().status_code == 200
    people = {"A": "110101194001010012", "B": "110101195001010009", "C": "110101195001010017",
              "D": "110101195001010025"}
    with session_factory(make_engine(db))() as session:
        for seq, (key, last) in enumerate([("A", date(2025, 6, 1)), ("B", None), ("C", date(2026, 6, 1)),
                                           ("D", date(2025, 1, 1))], start=1):
            session.add(Pensioner(id_number=people[key], name=f"某{key}", region_code="110101", last_certified=last,
                                  templates=[], template_source="", seq=seq, removed=key == "D"))
        session.commit()
    batch = [
        first.record(id_number=people["A"], occurred_at="2026-05-20T17:30:00.000000+00:00"),  # 05-21 in Beijing
        first.record(id_number=people["A"], outcome="mismatch", occurred_at="2026-05-25T02:00:00.000000+00:00"),
        first.record(id_number=people["B"], outcome="staff_verified", staff_number="S001", staff_reason="no_reference",
                     occurred_at="2026-05-20T02:00:00.000000+00:00"),
        first.record(id_number=people["B"], outcome="manual_review_requested",
                     occurred_at="2026-05-22T02:00:00.000000+00:00"),
        first.record(id_number=people["C"], occurred_at="2026-05-20T02:00:00.000000+00:00"),  # C's is later
        first.record(id_number=people["D"], occurred_at="2026-05-20T02:00:00.000000+00:00"),  # removed
        first.record(id_number="110101196001010016", occurred_at="2026-05-20T02:00:00.000000+00:00"),  # not on it
    ]
    receipts = first.request("POST", "/v1/results", {"records": batch}).json()["receipts"]
    assert {receipt["status"] for receipt in receipts} == {"accepted"}

    delta = second.request("GET", "/v1/roster?cursor=4").json()
    assert {change["id_number"]: change["last_certified"] for change in delta["changes"]} == {
        people["A"]: "2026-05-21", people["B"]: "2026-05-20"}
    with session_factory(make_engine(db))() as session:
        rows = {row.id_number: row for row in session.query(Pensioner)}
        assert (rows[people["C"]].last_certified, rows[people["C"]].seq) == (date(2026, 6, 1), 3)
        assert (rows[people["D"]].last_certified, rows[people["D"]].seq) == (date(2025, 1, 1), 4)
        assert sorted([rows[people["A"]].seq, rows[people["B"]].seq]) == [5, 6]

    resent = first.request("POST", "/v1/results", {"records": batch}).json()["receipts"]
    assert {receipt["status"] for receipt in resent} == {"duplicate"}
    earlier = first.record(id_number=people["A"], occurred_at="2026-05-10T02:00:00.000000+00:00")
    assert first.request("POST", "/v1/results", {"records": [earlier]}).json()["receipts"][0]["status"] == "accepted"
    assert second.request("GET", f"/v1/roster?cursor={delta['next_cursor']}").json()["changes"] == []
