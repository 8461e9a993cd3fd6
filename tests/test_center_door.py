"""Every field checked at the door (issue #18, item 2): record times, record ids, nonces, headers before
bodies, body limits and time limits, senders that go away, roster cursors."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.requests import Request
from test_center_api import Terminal, add_device

from center.app import create_app
from center.auth import ApiError, read_body
from center.db import Certification, make_engine, session_factory, utcnow
from centre_harness import CenterProcess
from wire import signing

CST = timezone(timedelta(hours=8))


@pytest.fixture
def db(centre_db: str) -> str:
    make_engine(centre_db).dispose()
    return centre_db


@pytest.fixture
def terminal(db: str) -> Terminal:
    # The device was added three days ago (records from the day before that are still taken: a
    # terminal's clock may be hours wrong at installation).
    code = add_device(db, "T1", created_at=utcnow() - timedelta(days=3))
    terminal = Terminal(TestClient(create_app(db)), "T1", code)
    assert terminal.enrol().status_code == 200
    return terminal


def _submit(terminal: Terminal, *records: dict[str, Any], nonce: str | None = None) -> list[dict[str, Any]]:
    answer = terminal.request("POST", "/v1/results", {"records": list(records)}, nonce=nonce)
    assert answer.status_code == 200, answer.text
    return answer.json()["receipts"]


def _stored(db: str) -> int:
    with session_factory(make_engine(db))() as session:
        return int(session.scalar(select(func.count()).select_from(Certification)) or 0)


def _at(delta: timedelta) -> str:
    return (datetime.now(CST) + delta).isoformat(timespec="microseconds")


@pytest.mark.parametrize(("fields", "verdict"), [
    ({"occurred_at": _at(timedelta(days=-3, hours=-23))}, "accepted"),  # within the installation leeway
    ({"occurred_at": _at(timedelta(days=-5))}, "record_time_out_of_range"),  # before the device existed
    ({"occurred_at": _at(timedelta(seconds=60))}, "accepted"),  # within the clock-skew allowance
    ({"occurred_at": _at(timedelta(hours=1))}, "record_time_out_of_range"),  # the future
    ({"certified_until": (datetime.now(CST).date() + timedelta(days=365)).isoformat()}, "accepted"),
    ({"certified_until": (datetime.now(CST).date() + timedelta(days=367)).isoformat()},
     "record_certified_until_out_of_range"),  # beyond the cycle
    ({"certified_until": (datetime.now(CST).date() - timedelta(days=1)).isoformat()},
     "record_certified_until_out_of_range"),  # before the certification itself
    ({"certified_until": "2099-01-01"}, "record_certified_until_out_of_range"),
])
def test_record_times_outside_a_sane_window_are_refused_with_a_code(terminal: Terminal, db: str,
                                                                    fields: dict[str, str], verdict: str) -> None:
    receipt = _submit(terminal, terminal.record(**fields))[0]
    assert (receipt["reason"] or receipt["status"]) == verdict
    assert _stored(db) == (1 if verdict == "accepted" else 0)
    assert all(value not in receipt["message"] for value in fields.values())


def test_an_upper_case_record_id_is_the_same_record_and_an_exact_replay_fails(terminal: Terminal, db: str) -> None:
    """Before: the upper-case id missed the lookup, the insert collided, the rollback took the nonce
    with it, and the exact request could be replayed."""
    record_id = str(uuid.uuid4())
    upper = terminal.record(record_id=record_id.upper())
    assert _submit(terminal, upper)[0]["status"] == "accepted"
    nonce = signing.new_nonce()
    assert _submit(terminal, upper, nonce=nonce)[0]["status"] == "duplicate"
    replay = terminal.request("POST", "/v1/results", {"records": [upper]}, nonce=nonce)
    assert (replay.status_code, replay.json()["error"]["code"]) == (401, "auth_nonce_replayed")
    lower = dict(upper, record_id=record_id)
    lower["signature"] = signing.sign_record(terminal.key, lower)
    assert _submit(terminal, lower)[0]["status"] == "duplicate"
    assert _stored(db) == 1
    with session_factory(make_engine(db))() as session:
        assert session.scalar(select(Certification.record_id)) == record_id


def test_a_request_that_fails_after_authentication_keeps_its_nonce(terminal: Terminal) -> None:
    nonce = signing.new_nonce()
    first = terminal.request("POST", "/v1/results", raw=b'{"records": "not a list"}', nonce=nonce)
    assert (first.status_code, first.json()["error"]["code"]) == (422, "request_invalid")
    again = terminal.request("POST", "/v1/results", raw=b'{"records": "not a list"}', nonce=nonce)
    assert (again.status_code, again.json()["error"]["code"]) == (401, "auth_nonce_replayed")


@pytest.mark.parametrize("cursor", [str(2**31), str(2**63), str(10**30), "9" * 400])
def test_an_out_of_range_roster_cursor_is_a_4xx(terminal: Terminal, cursor: str) -> None:
    answer = terminal.request("GET", f"/v1/roster?cursor={cursor}")
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "request_invalid")
    assert terminal.request("GET", f"/v1/roster?cursor={2**31 - 1}").json()["changes"] == []


def test_a_stale_request_says_nothing_about_the_device(terminal: Terminal) -> None:
    known, unknown = Terminal(terminal.client, "T1"), Terminal(terminal.client, "NOBODY")
    known.clock_offset = unknown.clock_offset = -3600
    answers = [t.request("GET", "/v1/roster") for t in (known, unknown)]
    assert answers[0].json()["error"]["code"] == answers[1].json()["error"]["code"] == "auth_request_stale"


# -- bodies ----------------------------------------------------------------------------------------

def _request(chunks: list[dict[str, Any]], *, length: int | None = None) -> Request:
    """A request whose body arrives as ``chunks`` (ASGI messages); after them the sender is silent."""
    messages = iter(chunks)

    async def receive() -> dict[str, Any]:
        try:
            return next(messages)
        except StopIteration:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable") from None

    headers = [(b"content-length", str(length).encode())] if length is not None else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}, receive)


def test_a_body_that_stalls_is_refused_after_the_time_limit() -> None:
    request = _request([{"type": "http.request", "body": b"x" * 10, "more_body": True}])
    with pytest.raises(ApiError) as info:
        asyncio.run(read_body(request, 1000, 0.2))
    assert (info.value.status, info.value.code) == (408, "request_timeout")


def test_a_sender_that_goes_away_is_a_coded_refusal() -> None:
    request = _request([{"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}])
    with pytest.raises(ApiError) as info:
        asyncio.run(read_body(request, 1000, 5.0))
    assert (info.value.status, info.value.code) == (400, "request_incomplete")


def test_a_body_over_the_limit_is_refused_before_it_is_all_read() -> None:
    request = _request([{"type": "http.request", "body": b"x" * 600, "more_body": True},
                        {"type": "http.request", "body": b"x" * 600, "more_body": True}])
    with pytest.raises(ApiError) as info:
        asyncio.run(read_body(request, 1000, 5.0))
    assert (info.value.status, info.value.code) == (413, "request_too_large")


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CenterProcess, Terminal]]:
    db = str(tmp_path_factory.mktemp("door") / "centre.db")
    code = json.loads(CenterProcess(db).admin("device", "add", "door", "--device-id", "D1", "--json"))["enrolment_code"]
    process = CenterProcess(db).start()
    terminal = Terminal(httpx.Client(base_url=process.url), "D1", code)  # type: ignore[arg-type]
    assert terminal.enrol().status_code == 200
    yield process, terminal
    process.stop()


def _raw_exchange(port: int, head: bytes, body_part: bytes, *, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body_part)
        if not read:
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _head(path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}", *[f"{name}: {value}" for name, value in headers.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_stranger_is_answered_before_the_centre_reads_the_body(centre: tuple[CenterProcess, Terminal]) -> None:
    """The headers and signature are judged first: a 60 MB post from somebody without the key is
    refused after its first bytes, the rest never sent (before: read whole, 20 such posts took the
    centre to 1 GB)."""
    process, _terminal = centre
    stranger = signing.new_signing_key()
    body = b'{"records": [' + b" " * 1000
    headers = signing.sign_request(stranger, "D1", "POST", "/v1/results", body, int(time.time())).as_dict()
    answer = _raw_exchange(process.port, _head("/v1/results", headers, 60_000_000), body)
    assert answer.startswith(b"HTTP/1.1 401") and b"auth_signature_invalid" in answer
    answer = _raw_exchange(process.port, _head("/v1/results", {}, 60_000_000), body)  # no headers at all
    assert answer.startswith(b"HTTP/1.1 401") and b"auth_headers_missing" in answer


def test_the_body_must_be_the_one_the_signature_promised(centre: tuple[CenterProcess, Terminal]) -> None:
    _process, terminal = centre
    body = json.dumps({"records": [terminal.record()]}).encode()
    headers = signing.sign_request(terminal.key, "D1", "POST", "/v1/results", body, int(time.time())).as_dict()
    other = json.dumps({"records": [terminal.record(outcome="certified")]}).encode()
    answer = terminal.client.post("/v1/results", content=other, headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "auth_signature_invalid")


def test_a_client_that_disconnects_mid_body_is_no_internal_error(centre: tuple[CenterProcess, Terminal],
                                                                tmp_path: Path) -> None:
    process, terminal = centre
    body = json.dumps({"records": [terminal.record()]}).encode()
    headers = signing.sign_request(terminal.key, "D1", "POST", "/v1/results", body, int(time.time())).as_dict()
    _raw_exchange(process.port, _head("/v1/results", headers, len(body)), body[:20], read=False)
    time.sleep(0.5)  # not a timing assertion: lets the centre notice the closed connection before it stops
    child = process._process
    assert terminal.request("GET", "/v1/roster").status_code == 200  # still serving
    process.stop()
    errors = child.stderr.read().decode(errors="replace") if child and child.stderr else ""
    process.start()
    assert "Traceback" not in errors and "internal error" not in errors, errors[-2000:]


def test_an_oversized_but_signed_body_is_refused_by_its_declared_length(terminal: Terminal, db: str) -> None:
    terminal.client = TestClient(create_app(db, max_body_bytes=1000))
    answer = terminal.request("POST", "/v1/results", raw=b"x" * 5000)
    assert (answer.status_code, answer.json()["error"]["code"]) == (413, "request_too_large")
