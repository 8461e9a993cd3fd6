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
from center.db import Device, StaffCall, make_engine, session_factory
from tests.test_center_api import SECRET, Terminal
from wire.signing import public_key_text


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "centre.db")
    with session_factory(make_engine(path))() as session:
        session.add(Device(device_id="T1", name="terminal 1", secret=SECRET, hall="东城大厅"))
        session.add(Device(device_id="T2", name="terminal 2", secret="77" * 32, hall="西城大厅"))
        session.commit()
    return path


@pytest.fixture
def client(db: str) -> TestClient:
    return TestClient(create_app(db))


def call_body(**changes: object) -> dict:
    body = {"call_id": str(uuid.uuid4()), "raised_at": "2026-05-20T01:00:00Z", "screen": "result",
            "reason": "attempts_exhausted"}
    body.update(changes)
    return body


def test_a_call_is_stored_with_its_terminal_hall_and_times_and_is_idempotent(client: TestClient, db: str) -> None:
    terminal = Terminal(client)
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


def test_polling_sees_the_acknowledgement_made_at_the_terminal(client: TestClient, db: str) -> None:
    terminal = Terminal(client)
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


def test_an_anonymous_acknowledgement_is_recorded_as_such(client: TestClient) -> None:
    terminal = Terminal(client)
    body = call_body()
    terminal.request("POST", "/v1/staff-calls", body)
    ack = terminal.request("POST", f"/v1/staff-calls/{body['call_id']}/ack", {"acknowledged_at": "2026-05-20T01:01:00Z"})
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] is None


def test_another_terminals_call_is_not_found_and_its_id_cannot_be_taken(client: TestClient) -> None:
    mine, other = Terminal(client), Terminal(client, "T2", "77" * 32)
    body = call_body()
    mine.request("POST", "/v1/staff-calls", body)
    assert other.request("GET", f"/v1/staff-calls/{body['call_id']}").status_code == 404
    assert other.request("POST", "/v1/staff-calls", body).status_code == 409
    assert mine.request("GET", f"/v1/staff-calls/{uuid.uuid4()}").json()["error"]["code"] == "request_not_found"


@pytest.mark.parametrize("change, field", [
    ({"call_id": "not-a-uuid"}, "call_id"), ({"reason": "bored"}, "reason"), ({"screen": "<script>"}, "screen"),
    ({"raised_at": "2026-05-20T01:00:00"}, "raised_at"), ({"extra": 1}, "extra")])
def test_bad_calls_are_refused_naming_the_field(client: TestClient, change: dict, field: str) -> None:
    answer = Terminal(client).request("POST", "/v1/staff-calls", call_body(**change))
    assert answer.status_code == 422 and field in answer.json()["error"]["message"]


def test_calls_need_a_signed_request(client: TestClient) -> None:
    assert client.post("/v1/staff-calls", json=call_body()).json()["error"]["code"] == "auth_headers_missing"
    assert Terminal(client, secret="00" * 32).request("POST", "/v1/staff-calls", call_body()).status_code == 401


def test_the_centre_key_is_made_once_private_and_published(client: TestClient, db: str) -> None:
    path = key_path_for(db)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    published = client.get("/v1/ping").json()["center_public_key"]
    assert published == public_key_text(load_or_create(path))
    terminal = Terminal(client)
    terminal.enrol()
    enrolled = terminal.request("POST", "/v1/enrol", {"public_key": public_key_text(terminal.key)}).json()
    assert enrolled["center_public_key"] == published
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
    assert len(json.loads(added.output)["secret"]) == 64
    moved = CliRunner().invoke(cli, ["device", "set-hall", "K1", "西城大厅", "--db", db])
    assert moved.exit_code == 0, moved.output
    listed = CliRunner().invoke(cli, ["device", "list", "--json", "--db", db])
    assert json.loads(listed.output)["hall"] == "西城大厅"
    assert CliRunner().invoke(cli, ["device", "set-hall", "NOPE", "x", "--db", db]).exit_code != 0


def test_the_cli_lists_calls_with_their_answer_times(client: TestClient, db: str) -> None:
    from click.testing import CliRunner

    from center.cli import cli

    terminal = Terminal(client)
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
