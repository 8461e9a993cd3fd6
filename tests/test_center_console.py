"""The hall console in-process: sign-in, roles, CSRF, calls, the review queue, figures and the chart."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.console.chart import failure_chart_svg
from center.console.figures import CATEGORIES, CATEGORY_OF
from center.console_users import Role, add_user
from center.db import ConsoleUser, Pensioner, ReviewDecisionRow, StaffCall, make_engine, session_factory
from tests.test_center_api import Terminal, add_device

PERSON = "11010119400101001X"
JPEG = base64.b64encode(b"\xff\xd8evidence").decode()
PIN = "246810"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "centre.db")
    with session_factory(make_engine(path))() as session:
        session.add(Pensioner(id_number=PERSON, name="张三", region_code="110101", last_certified=date(2025, 3, 1),
                              templates=[], template_source="photo", seq=1))
        add_user(session, "H001", "王大厅", Role.HALL_STAFF, PIN, hall="东城大厅")
        add_user(session, "H002", "赵西城", Role.HALL_STAFF, PIN, hall="西城大厅")
        add_user(session, "R001", "李审核", Role.REVIEWER, PIN)
        session.commit()
    return path


@pytest.fixture
def codes(db: str) -> dict[str, str]:
    """The two terminals' one-time enrolment codes, by device id."""
    return {"T1": add_device(db, "T1", name="一号机", hall="东城大厅"),
            "T2": add_device(db, "T2", name="二号机", hall="西城大厅")}


@pytest.fixture
def app(db: str, codes: dict[str, str]):  # type: ignore[no-untyped-def]
    return create_app(db)


@pytest.fixture
def terminal(app, codes: dict[str, str]) -> Terminal:  # type: ignore[no-untyped-def]
    """Terminal T1 (东城大厅), enrolled with its code."""
    terminal = Terminal(TestClient(app), "T1", codes["T1"])
    answer = terminal.enrol()
    assert answer.status_code == 200, answer.text
    return terminal


def browser(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def sign_in(client: TestClient, staff_number: str, pin: str = PIN) -> int:
    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    return client.post("/console/login", data={"login_token": token, "staff_number": staff_number, "pin": pin}).status_code


def csrf(page_text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_text).group(1)


def raise_call(terminal: Terminal, reason: str = "attempts_exhausted") -> str:
    call_id = str(uuid.uuid4())
    answer = terminal.request(
        "POST", "/v1/staff-calls", {"call_id": call_id, "raised_at": datetime.now(timezone.utc).isoformat(),
                                    "screen": "result", "reason": reason})
    assert answer.status_code == 200, answer.text
    return call_id


def test_pages_need_a_session_and_a_wrong_pin_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    client = browser(app)
    assert client.get("/console/hall").headers["location"] == "/console/login"
    assert sign_in(client, "H001", "000000") == 401
    assert sign_in(client, "NOBODY") == 401
    assert sign_in(client, "H001") == 303
    cookie = client.cookies.get("kc_session")
    assert cookie and "." in cookie
    assert client.get("/console/hall").status_code == 200


def test_the_session_cookie_is_httponly_strict_and_forgery_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    client = browser(app)
    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/console/login", data={"login_token": token, "staff_number": "H001", "pin": PIN})
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/console" in header
    forged = browser(app)
    forged.cookies.set("kc_session", client.cookies.get("kc_session")[:-4] + "0000")
    assert forged.get("/console/hall").status_code == 303
    # A sign-in form without the login cookie's token is not accepted.
    other = browser(app)
    assert other.post("/console/login", data={"login_token": "x", "staff_number": "H001", "pin": PIN}).status_code == 303
    assert "kc_session" not in other.cookies


@pytest.mark.parametrize("forged", ["abc.\u00e9", "\u5f20\u4e09.0000", "x." + "\u00ff" * 64, "\u00e9.\u00e9"])
def test_a_forged_cookie_with_non_ascii_characters_is_no_session(app, forged: str) -> None:  # type: ignore[no-untyped-def]
    # Sent as raw header bytes (UTF-8), as a hostile client could; the server reads them as Latin-1.
    client = TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False)
    session_cookie = f"kc_session={forged}".encode()
    answer = client.get("/console/hall", headers={"cookie": session_cookie})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    # The sign-in page treats a forged login cookie as none: a fresh form and a fresh cookie.
    answer = client.get("/console/login", headers={"cookie": f"kc_login={forged}".encode()})
    assert answer.status_code == 200 and "kc_login=" in answer.headers["set-cookie"]
    answer = client.post("/console/login", headers={"cookie": f"kc_login={forged}".encode()},
                         data={"login_token": forged, "staff_number": "H001", "pin": PIN})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    assert "kc_session" not in answer.headers.get("set-cookie", "")


def test_five_wrong_pins_lock_the_account(app, db: str) -> None:  # type: ignore[no-untyped-def]
    client = browser(app)
    for _ in range(5):
        assert sign_in(client, "H001", "999999") == 401
    assert sign_in(client, "H001") == 401
    with session_factory(make_engine(db))() as session:
        assert session.get(ConsoleUser, "H001").locked_until is not None


def test_a_call_shows_on_its_halls_page_only_and_is_acknowledged_with_csrf(app, db: str,  # type: ignore[no-untyped-def]
                                                                            terminal: Terminal) -> None:
    call_id = raise_call(terminal)
    east, west = browser(app), browser(app)
    sign_in(east, "H001")
    sign_in(west, "H002")
    live = east.get("/console/hall/live").text
    assert call_id in live and "三次未通过" in live and "一号机" in live
    assert call_id not in west.get("/console/hall/live").text
    assert call_id not in west.get("/console/hall/live?hall=东城大厅").text  # hall staff cannot look elsewhere
    assert west.post(f"/console/calls/{call_id}/ack", data={"csrf": csrf(west.get("/console/hall").text)}).status_code == 404
    assert east.post(f"/console/calls/{call_id}/ack", data={"csrf": "wrong"}).status_code == 400
    answer = east.post(f"/console/calls/{call_id}/ack", data={"csrf": csrf(east.get("/console/hall").text)})
    assert answer.status_code == 303
    assert call_id not in east.get("/console/hall/live").text
    with session_factory(make_engine(db))() as session:
        call = session.get(StaffCall, call_id)
        assert (call.acknowledged_by, call.acknowledged_via) == ("H001", "console")
    polled = terminal.request("GET", f"/v1/staff-calls/{call_id}").json()
    assert polled["status"] == "acknowledged" and polled["acknowledged_by"] == "H001"


def test_hall_staff_see_masked_numbers_and_no_review_queue(app, terminal: Terminal) -> None:  # type: ignore[no-untyped-def]
    terminal.request("POST", "/v1/heartbeat", {"pending": 7, "rejected": 0, "checks": {"camera": "failed", "reader": "ok"}})
    now = datetime.now(timezone.utc).isoformat()
    records = [terminal.record(outcome="certified", occurred_at=now),
               terminal.record(outcome="liveness_failed", reason_code="too_dark", occurred_at=now),
               terminal.record(outcome="manual_review_requested", occurred_at=now, face_image_jpeg=JPEG)]
    terminal.request("POST", "/v1/results", {"records": records})
    client = browser(app)
    sign_in(client, "H001")
    live = client.get("/console/hall/live").text
    assert "110101********001X" in live and PERSON not in live and "张三" not in live
    assert "待审核 1 件" in live and "光线太暗/逆光 1" in live
    assert "camera: failed" in live and "在线" in live and "离线" not in live
    assert client.get("/console/review").status_code == 403
    assert client.get(f"/console/review/{records[2]['record_id']}/image/{records[2]['record_id']}").status_code == 403


def test_a_reviewer_sees_the_evidence_and_approves_with_a_reason(app, db: str,  # type: ignore[no-untyped-def]
                                                                  terminal: Terminal) -> None:
    request = terminal.record(outcome="manual_review_requested", occurred_at=datetime.now(timezone.utc).isoformat(),
                              face_image_jpeg=JPEG)
    terminal.request("POST", "/v1/results", {"records": [request]})
    client = browser(app)
    assert sign_in(client, "R001") == 303
    queue = client.get("/console/review").text
    assert request["record_id"] in queue
    detail = client.get(f"/console/review/{request['record_id']}")
    assert "张三" in detail.text and PERSON in detail.text and "/image/" in detail.text
    image = client.get(f"/console/review/{request['record_id']}/image/{request['record_id']}")
    assert image.status_code == 200 and image.content.startswith(b"\xff\xd8")
    certified = terminal.record(outcome="certified", face_image_jpeg=JPEG)  # not a request: no image through here
    terminal.request("POST", "/v1/results", {"records": [certified]})
    assert client.get(f"/console/review/{certified['record_id']}/image/{certified['record_id']}").status_code == 404
    assert client.get(f"/console/review/{uuid.uuid4()}").status_code == 404
    token = csrf(detail.text)
    refused = client.post(f"/console/review/{request['record_id']}/decide", data={"csrf": token, "decision": "approved",
                                                                                   "reason": ""})
    assert refused.status_code == 400 and "填写理由" in refused.text
    done = client.post(f"/console/review/{request['record_id']}/decide",
                       data={"csrf": token, "decision": "approved", "reason": "本人到场核实"})
    assert done.status_code == 303
    with session_factory(make_engine(db))() as session:
        assert session.get(ReviewDecisionRow, request["record_id"]).reviewer == "R001"
    change = terminal.request("GET", "/v1/roster?cursor=1").json()["changes"][0]
    assert change["review"]["decision"] == "approved" and change["review"]["reason"] == "本人到场核实"


def test_sign_out_ends_the_session(app) -> None:  # type: ignore[no-untyped-def]
    client = browser(app)
    sign_in(client, "R001")
    cookie = client.cookies.get("kc_session")
    client.post("/console/logout", data={"csrf": csrf(client.get("/console/review").text)})
    replay = browser(app)
    replay.cookies.set("kc_session", cookie)
    assert replay.get("/console/review").status_code == 303


def test_every_category_has_codes_and_the_chart_draws_stacked_bars() -> None:
    assert {key for key, _label, _colour in CATEGORIES} == set(CATEGORY_OF.values())
    from collections import Counter

    svg = failure_chart_svg({9: Counter(too_dark=3, mismatch=1), 20: Counter(no_face=2)})
    assert svg.startswith("<svg") and svg.count("<rect") == 3 and ">20<" in svg and ">8<" in svg
    assert "光线太暗/逆光: 3" in svg
