"""Staff calls at the centre over real signed requests (in-process): raise, poll, acknowledge, record."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.center_key import CenterKeyError, key_path_for, load_or_create
from center.db import StaffCall, make_engine, session_factory
from tests.test_center_api import Terminal, add_device
from wire.signing import normalise_enrolment_code, public_key_text


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "centre.db")


@pytest.fixture
def codes(db: str) -> dict[str, str]:
    """The two terminals' one-time enrolment codes, by device id."""
    return {"T1": add_device(db, "T1", name="terminal 1", hall="东城大厅"),
            "T2": add_device(db, "T2", name="terminal 2", hall="西城大厅")}


@pytest.fixture
def client(db: str, codes: dict[str, str]) -> TestClient:
    return TestClient(create_app(db))


def enrolled(client: TestClient, device_id: str, code: str) -> Terminal:
    """A terminal that has made its first contact with ``code`` (its key is the device's current key)."""
    terminal = Terminal(client, device_id, code)
    answer = terminal.enrol()
    assert answer.status_code == 200, answer.text
    return terminal


@pytest.fixture
def terminal(client: TestClient, codes: dict[str, str]) -> Terminal:
    return enrolled(client, "T1", codes["T1"])


def call_body(**changes: object) -> dict:
    body = {"call_id": str(uuid.uuid4()), "raised_at": "2026-05-20T01:00:00Z", "screen": "result",
            "reason": "attempts_exhausted"}
    body.update(changes)
    return body


def test_a_call_is_stored_with_its_terminal_hall_and_times_and_is_idempotent(terminal: Terminal, db: str) -> None:
    body = call_body()
    first = terminal.request("POST", "/v1/staff-calls", body)
    assert first.status_code == 200, first.text
    assert first.json() == {"call_id": body["call_id"], "status": "open", "acknowledged_by": None,
                            "acknowledged_at": None}
    again = terminal.request("POST", "/v1/staff-calls", body)
    assert again.json() == first.json()
    with session_factory(make_engine(db))() as session:
        rows = session.query(StaffCall).all()
    assert len(rows) == 1
    assert (rows[0].device_id, rows[0].hall, rows[0].screen, rows[0].reason) == ("T1", "东城大厅", "result",
                                                                                  "attempts_exhausted")
    assert rows[0].received_at is not None and rows[0].acknowledged_at is None


def test_polling_sees_the_acknowledgement_made_at_the_terminal(terminal: Terminal, db: str) -> None:
    body = call_body(reason="help_pressed")
    terminal.request("POST", "/v1/staff-calls", body)
    path = f"/v1/staff-calls/{body['call_id']}"
    assert terminal.request("GET", path).json()["status"] == "open"
    ack = terminal.request("POST", path + "/ack", {"acknowledged_at": "2026-05-20T01:00:40Z", "staff_number": "S042"})
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == "S042"
    # A second answer does not overwrite the first.
    terminal.request("POST", path + "/ack", {"acknowledged_at": "2026-05-20T01:02:00Z", "staff_number": "S999"})
    polled = terminal.request("GET", path).json()
    assert polled["acknowledged_by"] == "S042" and polled["acknowledged_at"].startswith("2026-05-20T01:00:40")
    with session_factory(make_engine(db))() as session:
        assert session.get(StaffCall, body["call_id"]).acknowledged_via == "terminal"


def test_an_anonymous_acknowledgement_is_recorded_as_such(terminal: Terminal) -> None:
    body = call_body()
    terminal.request("POST", "/v1/staff-calls", body)
    ack = terminal.request("POST", f"/v1/staff-calls/{body['call_id']}/ack", {"acknowledged_at": "2026-05-20T01:01:00Z"})
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] is None


def test_another_terminals_call_is_not_found_and_its_id_cannot_be_taken(terminal: Terminal, codes: dict[str, str]) -> None:
    mine, other = terminal, enrolled(terminal.client, "T2", codes["T2"])
    body = call_body()
    mine.request("POST", "/v1/staff-calls", body)
    assert other.request("GET", f"/v1/staff-calls/{body['call_id']}").status_code == 404
    assert other.request("POST", "/v1/staff-calls", body).status_code == 409
    assert mine.request("GET", f"/v1/staff-calls/{uuid.uuid4()}").json()["error"]["code"] == "request_not_found"


@pytest.mark.parametrize("change, field", [
    ({"call_id": "not-a-uuid"}, "call_id"), ({"reason": "bored"}, "reason"), ({"screen": "<script>"}, "screen"),
    ({"raised_at": "2026-05-20T01:00:00"}, "raised_at"), ({"extra": 1}, "extra")])
def test_bad_calls_are_refused_naming_the_field(terminal: Terminal, change: dict, field: str) -> None:
    answer = terminal.request("POST", "/v1/staff-calls", call_body(**change))
    assert answer.status_code == 422 and field in answer.json()["error"]["message"]


def test_calls_need_a_signed_request(terminal: Terminal) -> None:
    client = terminal.client
    assert client.post("/v1/staff-calls", json=call_body()).json()["error"]["code"] == "auth_headers_missing"
    # Signed, but with a key the centre never enrolled for T1.
    assert Terminal(client, "T1").request("POST", "/v1/staff-calls", call_body()).status_code == 401


def test_the_centre_key_is_made_once_private_and_published(client: TestClient, db: str, codes: dict[str, str]) -> None:
    path = key_path_for(db)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    published = client.get("/v1/ping").json()["center_public_key"]
    assert published == public_key_text(load_or_create(path))
    terminal = Terminal(client, "T1", codes["T1"])
    first = terminal.enrol()
    assert first.status_code == 200 and first.json()["center_public_key"] == published
    again = terminal.enrol()  # a repeated first contact (its answer lost) is answered the same way
    assert again.status_code == 200 and again.json()["center_public_key"] == published
    assert TestClient(create_app(db)).get("/v1/ping").json()["center_public_key"] == published  # kept, not remade


def test_a_key_file_readable_by_others_or_damaged_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.center-key"
    load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(CenterKeyError, match="chmod 600"):
        load_or_create(path)
    path.write_text("garbage\n")
    path.chmod(0o600)
    with pytest.raises(CenterKeyError, match="damaged"):
        load_or_create(path)


def test_device_add_takes_a_hall_and_set_hall_moves_a_terminal(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from center.cli import cli

    db = str(tmp_path / "c.db")
    added = CliRunner().invoke(cli, ["device", "add", "一号机", "--device-id", "K1", "--hall", "东城大厅", "--json",
                                     "--db", db])
    assert added.exit_code == 0 and json.loads(added.output)["hall"] == "东城大厅"
    code = json.loads(added.output)["enrolment_code"]
    assert len(code) == 19 and len(normalise_enrolment_code(code)) == 16
    moved = CliRunner().invoke(cli, ["device", "set-hall", "K1", "西城大厅", "--db", db])
    assert moved.exit_code == 0, moved.output
    listed = CliRunner().invoke(cli, ["device", "list", "--json", "--db", db])
    assert json.loads(listed.output)["hall"] == "西城大厅"
    assert CliRunner().invoke(cli, ["device", "set-hall", "NOPE", "x", "--db", db]).exit_code != 0


def test_the_cli_lists_calls_with_their_answer_times(terminal: Terminal, db: str) -> None:
    from click.testing import CliRunner

    from center.cli import cli

    answered, waiting = call_body(), call_body(reason="help_pressed")
    terminal.request("POST", "/v1/staff-calls", answered)
    terminal.request("POST", "/v1/staff-calls", waiting)
    terminal.request("POST", f"/v1/staff-calls/{answered['call_id']}/ack",
                     {"acknowledged_at": "2099-01-01T00:00:00Z", "staff_number": "S042"})
    listed = {row["call_id"]: row for row in json.loads(CliRunner().invoke(cli, ["calls", "--json", "--db", db]).output)}
    assert listed[answered["call_id"]]["acknowledged_by"] == "S042" and listed[answered["call_id"]]["waited_s"] > 0
    assert listed[waiting["call_id"]]["acknowledged_at"] is None and listed[waiting["call_id"]]["waited_s"] is None
    still_open = json.loads(CliRunner().invoke(cli, ["calls", "--open", "--json", "--db", db]).output)
    assert [row["call_id"] for row in still_open] == [waiting["call_id"]]
    assert "OPEN" in CliRunner().invoke(cli, ["calls", "--hall", "东城大厅", "--db", db]).output
