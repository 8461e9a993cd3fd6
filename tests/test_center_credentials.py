"""A terminal's credential at the centre: one-time enrolment codes, its own key pair, rotation, and
the forging attack of issue #18 (whoever holds the centre's database must not be able to sign as a
terminal)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import sqlite3
import stat
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_center_api import Terminal, add_device

from center.app import create_app
from center.db import Certification, Device, DeviceKey, make_engine, session_factory, utcnow
from wire import signing


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "centre.db")
    make_engine(path).dispose()
    return path


def _client(db: str) -> TestClient:
    return TestClient(create_app(db))


def _code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json().get("error", {}).get("code", "")


def _certifications(db: str) -> int:
    with session_factory(make_engine(db))() as session:
        return int(session.scalar(select(func.count()).select_from(Certification)) or 0)


def test_the_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    make_engine(str(path)).dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    make_engine(str(old)).dispose()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in tmp_path.iterdir())


def test_a_code_registers_the_terminals_key_once(db: str) -> None:
    code = add_device(db, "T1")
    with session_factory(make_engine(db))() as session:
        stored = session.get(Device, "T1")
        assert code.replace("-", "") not in json.dumps([stored.enrolment_code_sha256, stored.name])
    terminal = Terminal(_client(db), "T1", code)
    answer = terminal.enrol()
    assert answer.status_code == 200 and answer.json()["key_id"] == terminal.key_id
    assert terminal.enrol().status_code == 200  # the same terminal again (its answer was lost): same key
    assert terminal.request("GET", "/v1/roster").status_code == 200
    other = Terminal(terminal.client, "T1", code)  # the code is spent
    assert _code(other.enrol()) == (401, "enrolment_refused")
    with session_factory(make_engine(db))() as session:
        row = session.get(Device, "T1")
        assert row.enrolment_code_sha256 is None and row.enrolled_at is not None


def test_codes_are_typed_forgivingly(db: str) -> None:
    code = add_device(db, "T1")
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert Terminal(_client(db), "T1", typed).enrol().status_code == 200


def test_wrong_expired_and_unknown_enrolments_get_one_answer(db: str) -> None:
    add_device(db, "T1")
    expired = add_device(db, "T2", hours=0.1)
    with session_factory(make_engine(db))() as session:
        session.get(Device, "T2").enrolment_expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    client = _client(db)
    answers = [Terminal(client, "T1", signing.new_enrolment_code()).enrol(),
               Terminal(client, "T2", expired).enrol(),
               Terminal(client, "NO-SUCH-DEVICE", expired).enrol(),
               Terminal(client, "T1", "ZZZZ-ZZZZ-ZZZZ-ZZZU").enrol()]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert _code(answers[0]) == (401, "enrolment_refused")


def test_enrolment_must_be_signed_with_the_key_it_registers(db: str) -> None:
    code = add_device(db, "T1")
    terminal = Terminal(_client(db), "T1", code)
    thief = signing.new_signing_key()
    body = {"enrolment_code": code, "public_key": signing.public_key_text(terminal.key)}
    assert _code(terminal.request("POST", "/v1/enrol", body, key=thief)) == (401, "enrolment_refused")
    assert terminal.enrol().status_code == 200  # the code was not spent by the refused attempt


def test_unauthenticated_callers_cannot_tell_which_devices_exist(db: str) -> None:
    code = add_device(db, "T1")
    client = _client(db)
    Terminal(client, "T1", code).enrol()
    known, unknown = Terminal(client, "T1"), Terminal(client, "NOBODY")
    for path in ("/v1/roster", "/v1/heartbeat"):
        a, b = known.request("GET", path), unknown.request("GET", path)
        assert (a.status_code, a.text) == (b.status_code, b.text)


def test_rotation_is_signed_by_the_previous_key_and_retires_it(db: str) -> None:
    code = add_device(db, "T1")
    terminal = Terminal(_client(db), "T1", code)
    terminal.enrol()
    old_record = terminal.record()
    new = signing.new_signing_key()
    public = signing.public_key_text(new)
    statement = signing.rotation_statement("T1", terminal.key_id, public)
    wrong = terminal.request("POST", "/v1/keys", {"public_key": public,
                                                  "possession": signing.sign_bytes(terminal.key, statement)})
    assert _code(wrong) == (422, "key_rotation_invalid")
    stranger = Terminal(terminal.client, "T1")
    assert _code(stranger.request("POST", "/v1/keys", {"public_key": public, "possession": signing.sign_bytes(
        new, signing.rotation_statement("T1", stranger.key_id, public))}, key=stranger.key))[0] == 401
    answer = terminal.request("POST", "/v1/keys", {"public_key": public, "possession": signing.sign_bytes(new, statement)})
    assert answer.status_code == 200 and answer.json()["key_id"] == signing.key_id(public)
    assert _code(terminal.request("GET", "/v1/roster")) == (401, "auth_signature_invalid")  # the old key is retired
    old_key, terminal.key, terminal.key_id = terminal.key, new, signing.key_id(public)
    receipts = terminal.request("POST", "/v1/results", {"records": [old_record, terminal.record()]}).json()["receipts"]
    # Records are signed when sent, with the current key: one signed by a retired key is refused.
    assert [(r["status"], r["reason"]) for r in receipts] == [("rejected", "record_key_unknown"), ("accepted", "")]
    with session_factory(make_engine(db))() as session:
        keys = {k.key_id: (k.origin, k.retired_at is None) for k in session.scalars(select(DeviceKey))}
    assert keys == {signing.key_id(signing.public_key_text(old_key)): ("enrolment_code", False),
                    terminal.key_id: ("rotation", True)}


def test_the_operator_approves_a_new_key_with_a_fresh_code(db: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from center.cli import cli

    code = add_device(db, "T1")
    first = Terminal(_client(db), "T1", code)
    first.enrol()
    result = CliRunner().invoke(cli, ["device", "reenrol", "T1", "--db", db, "--json"])
    fresh = json.loads(result.output)["enrolment_code"]
    assert first.request("GET", "/v1/roster").status_code == 200  # still valid until the code is used
    replacement = Terminal(first.client, "T1", fresh)  # the disk was replaced: a new key pair
    assert replacement.enrol().status_code == 200
    assert _code(first.request("GET", "/v1/roster")) == (401, "auth_signature_invalid")
    assert replacement.request("GET", "/v1/roster").status_code == 200
    listed = json.loads(CliRunner().invoke(cli, ["device", "list", "--db", db, "--json"]).output)
    assert (listed["state"], listed["key_id"]) == ("enrolled", replacement.key_id)


def _legacy_database(path: Path, secret: str, legacy_public_key: str) -> None:
    """A centre database of the shared-secret era: devices with a secret, a key registered with it."""
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE devices (device_id VARCHAR(64) PRIMARY KEY, name VARCHAR(120) NOT NULL, "
            "secret VARCHAR(128) NOT NULL, disabled BOOLEAN NOT NULL, created_at DATETIME NOT NULL, "
            "last_seen_at DATETIME, last_health JSON);"
            "CREATE TABLE device_keys (key_id VARCHAR(32) PRIMARY KEY, device_id VARCHAR(64) NOT NULL "
            "REFERENCES devices(device_id), public_key VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL);")
        connection.execute("INSERT INTO devices VALUES ('T1', 'hall', ?, 0, '2026-01-01 00:00:00', NULL, NULL)",
                           (secret,))
        connection.execute("INSERT INTO device_keys VALUES (?, 'T1', ?, '2026-01-01 00:00:00')",
                           (signing.key_id(legacy_public_key), legacy_public_key))


def test_the_forging_attack_fails(tmp_path: Path) -> None:
    """Issue #18: an attacker holds everything in the centre's database (a copy of the file) and an
    old HMAC secret, and tries to register a key of their own and submit a "certified" record."""
    db = tmp_path / "centre.db"
    secret = "5e" * 32
    planted = signing.new_signing_key()  # a key the attacker registered with the secret in the HMAC era
    _legacy_database(db, secret, signing.public_key_text(planted))
    make_engine(str(db)).dispose()  # the upgrade: secrets gone, keys of that era retired
    with sqlite3.connect(db) as connection:
        assert "secret" not in {row[1] for row in connection.execute("PRAGMA table_info(devices)")}
    with session_factory(make_engine(str(db)))() as session:
        code = _reenrol(session, "T1")
    client = _client(str(db))
    honest = Terminal(client, "T1", code)
    assert honest.enrol().status_code == 200
    stolen = tmp_path / "stolen.db"
    shutil.copy(db, stolen)
    dump = "\n".join(sqlite3.connect(stolen).iterdump())  # everything the attacker has

    attacker = Terminal(client, "T1")
    record = attacker.record(outcome="certified", certified_until="2027-05-19")
    attempts = []
    # 1. the old shared-secret request signature (HMAC)
    body = json.dumps({"records": [record]}).encode()
    ts, nonce = str(int(time.time())), signing.new_nonce()
    mac = hmac.new(secret.encode(), "\n".join(["KIOSK-HMAC-SHA256", "POST", "/v1/results", ts, nonce, "T1",
                                               hashlib.sha256(body).hexdigest()]).encode(), hashlib.sha256).hexdigest()
    attempts.append(client.post("/v1/results", content=body, headers={
        "X-Kiosk-Device": "T1", "X-Kiosk-Timestamp": ts, "X-Kiosk-Nonce": nonce, "X-Kiosk-Signature": mac}))
    # 2. register the attacker's key: with anything the database holds as the code, or the secret
    candidates = [secret, *[word for word in dump.replace("'", " ").replace(",", " ").split() if len(word) >= 16]]
    attempts += [attacker.enrol(candidate) for candidate in candidates[:200]]
    # 3. rotate to the attacker's key, and submit, signed with the key planted in the HMAC era or its own
    public = signing.public_key_text(attacker.key)
    rotation = {"public_key": public, "possession": signing.sign_bytes(
        attacker.key, signing.rotation_statement("T1", signing.key_id(signing.public_key_text(planted)), public))}
    attempts.append(attacker.request("POST", "/v1/keys", rotation, key=planted))
    planted_record = dict(record, key_id=signing.key_id(signing.public_key_text(planted)))
    planted_record["signature"] = signing.sign_record(planted, planted_record)
    attempts.append(attacker.request("POST", "/v1/results", {"records": [planted_record]}, key=planted))
    attempts.append(attacker.request("POST", "/v1/results", {"records": [record]}))
    # 4. the honest terminal's public key (in the database) cannot sign anything
    assert all(400 <= answer.status_code < 500 for answer in attempts), [a.text for a in attempts if a.status_code < 400]
    assert {_code(answer)[1] for answer in attempts} <= {"auth_headers_missing", "enrolment_refused", "request_invalid",
                                                         "auth_signature_invalid"}
    assert _certifications(str(db)) == 0
    with session_factory(make_engine(str(db)))() as session:
        current = session.scalars(select(DeviceKey).where(DeviceKey.retired_at.is_(None))).all()
    assert [key.key_id for key in current] == [honest.key_id]
    # ... while the honest terminal's records go in.
    receipts = honest.request("POST", "/v1/results", {"records": [honest.record()]}).json()["receipts"]
    assert receipts[0]["status"] == "accepted"


def _reenrol(session: Any, device_id: str) -> str:
    from center.enrolment import issue_code

    code = issue_code(session.get(Device, device_id), 1)
    session.commit()
    return code


def test_a_legacy_database_keeps_old_keys_only_to_verify_old_records(tmp_path: Path) -> None:
    db = tmp_path / "centre.db"
    legacy = signing.new_signing_key()
    _legacy_database(db, "ab" * 32, signing.public_key_text(legacy))
    make_engine(str(db)).dispose()
    with session_factory(make_engine(str(db)))() as session:
        key = session.get(DeviceKey, signing.key_id(signing.public_key_text(legacy)))
        assert key.origin == "legacy_hmac" and key.retired_at is not None
    terminal = Terminal(_client(str(db)), "T1")
    assert _code(terminal.request("GET", "/v1/roster", key=legacy)) == (401, "auth_signature_invalid")
