"""The tamper-evident trail (issue #18, item 5): the terminal numbers and links its records, the centre
verifies the chains in whatever order records arrive, and ``kiosk-center audit`` names every record
deleted or edited on the terminal's side and every record signed by a key that was not the device's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlite_utils import Database

from center.db import Certification, make_engine, session_factory
from centre_harness import REPO_ROOT, CenterProcess
from kiosk.clock import CHINA_STANDARD_TIME, FakeClock, SystemClock
from kiosk.store import CertificationRecord, DeviceKey, Store
from kiosk.store.chain import FIRST_PREV_HASH, link_hash
from kiosk.sync.client import CentreClient
from kiosk.sync.credentials import new_credentials
from kiosk.sync.wire_mapping import wire_record
from wire import signing
from wire.result_record import chain_hash

ID_NUMBER = "110101194001010012"


def _record(clock: FakeClock | SystemClock, index: int, outcome: str = "match_failed") -> CertificationRecord:
    return CertificationRecord(session_id=f"s{index}", occurred_at=clock.now(), device_id="D1", region_code="110101",
                               id_number=ID_NUMBER, outcome=outcome, match_distance=0.5, attempt=1)


def test_the_store_numbers_each_record_and_links_it_to_the_one_before() -> None:
    clock = FakeClock(datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME))
    store = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    ids = [store.record_attempt(_record(clock, index)) for index in range(4)]
    records = [store.get_record(record_id) for record_id in ids]
    assert [r.chain_seq for r in records] == [1, 2, 3, 4]
    assert records[0].prev_hash == FIRST_PREV_HASH
    assert [r.prev_hash for r in records[1:]] == [link_hash(r) for r in records[:-1]]
    # The link is the hash of the wire form the centre receives.
    sent = wire_record(records[1], device_id="D1", key_id="0" * 16, hall_name="h", send_face_images=False,
                       key=signing.new_signing_key()).wire_dict()
    assert records[2].prev_hash == chain_hash(sent)


def test_a_damaged_last_record_breaks_the_next_link_instead_of_stopping_the_terminal() -> None:
    clock = FakeClock(datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME))
    store = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    first = store.record_attempt(_record(clock, 0))
    store.db.execute("UPDATE certifications SET outcome = 'Not A Code' WHERE record_id = ?", (first,))
    second = store.get_record(store.record_attempt(_record(clock, 1)))
    assert (second.chain_seq, second.prev_hash) == (2, "0" * 64)


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[CenterProcess]:
    with CenterProcess(tmp_path / "centre.db") as process:
        yield process


def _audit(centre: CenterProcess, *args: str) -> tuple[int, list[dict]]:
    done = subprocess.run([sys.executable, "-m", "center", "audit", "--json", "--db", centre.db, *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_the_audit_names_deleted_and_edited_records_and_foreign_keys(centre: CenterProcess, tmp_path: Path) -> None:
    code = json.loads(centre.admin("device", "add", "hall", "--device-id", "D1", "--json"))["enrolment_code"]
    clean_code = json.loads(centre.admin("device", "add", "hall 2", "--device-id", "D2", "--json"))["enrolment_code"]
    clock = SystemClock()
    store = Store(Database(tmp_path / "kiosk.db"), clock=clock, key=DeviceKey.generate())
    ids = [store.record_attempt(_record(clock, index)) for index in range(9)]  # numbers 1..9
    # Somebody with the terminal's database (not its key) hides record 3 and turns record 6 into a success.
    store.db.execute("DELETE FROM outbox WHERE record_id = ?", (ids[2],))
    store.db.execute("DELETE FROM certifications WHERE record_id = ?", (ids[2],))
    store.db.execute("UPDATE certifications SET outcome = 'certified' WHERE record_id = ?", (ids[5],))
    store.db.conn.commit()

    credentials = new_credentials(centre.url, "D1", code)
    client = CentreClient(credentials, clock, 30.0)
    client.enrol("test")
    pending = {item.record_id: item.record for item in store.pending_outbox(100, clock.now() + timedelta(days=1))}
    assert set(pending) == set(ids) - {ids[2]}

    def send(*numbers: int) -> list[str]:
        records = [wire_record(pending[ids[n - 1]], device_id="D1", key_id=credentials.key_id, hall_name="hall",
                               send_face_images=False, key=credentials.signing_key()) for n in numbers]
        return [receipt.status for receipt in client.submit(records)]

    # After an outage the records arrive in any order, across batches.
    assert send(8, 9) == ["accepted", "accepted"]
    assert send(2, 1) == ["accepted", "accepted"]
    assert send(7, 5, 4, 6) == ["accepted"] * 4  # the edited record is signed and taken: it is evidence

    # An insider puts a record into the centre's database that the device's key did not sign then.
    stranger = signing.new_signing_key()
    forged = wire_record(_record(clock, 99, outcome="certified"), device_id="D1",
                         key_id=signing.key_id(signing.public_key_text(stranger)), hall_name="hall",
                         send_face_images=False, key=stranger).wire_dict()
    with session_factory(make_engine(centre.db))() as session:
        session.add(Certification(record_id=forged["record_id"], device_id="D1", key_id=forged["key_id"],
                                  id_number=ID_NUMBER, occurred_at=datetime.now(timezone.utc), outcome="certified",
                                  reason_code="", content_digest="0" * 64, record=forged))
        session.commit()
    # The same, with the device's own key after it was rotated away (a stolen old key).
    old_key = credentials.signing_key()
    client.rotate_key(signing.new_signing_key())
    late = wire_record(_record(clock, 98, outcome="certified"), device_id="D1", key_id=credentials.key_id,
                       hall_name="hall", send_face_images=False, key=old_key).wire_dict()
    with session_factory(make_engine(centre.db))() as session:
        session.add(Certification(record_id=late["record_id"], device_id="D1", key_id=late["key_id"],
                                  id_number=ID_NUMBER, occurred_at=datetime.now(timezone.utc), outcome="certified",
                                  reason_code="", content_digest="1" * 64, record=late))
        session.commit()
    client.close()

    # A second terminal whose trail is whole.
    other_store = Store(Database(tmp_path / "other.db"), clock=clock, key=DeviceKey.generate())
    for index in range(3):
        other_store.record_attempt(_record(clock, index))
    other_credentials = new_credentials(centre.url, "D2", clean_code)
    other = CentreClient(other_credentials, clock, 30.0)
    other.enrol("test")
    items = list(reversed(other_store.pending_outbox(10, clock.now() + timedelta(days=1))))
    records = [wire_record(item.record, device_id="D2", key_id=other_credentials.key_id, hall_name="h",
                           send_face_images=False, key=other_credentials.signing_key()) for item in items]
    assert [receipt.status for receipt in other.submit(records)] == ["accepted"] * 3
    other.close()

    status, report = _audit(centre)
    assert status == 1
    found = {entry["device_id"]: entry for entry in report}
    d1 = found["D1"]
    assert d1["missing"] == [[3, 3]]  # the deleted record
    assert [(link["chain_seq"], link["previous_record_id"]) for link in d1["broken_links"]] == [(7, ids[5])]  # edited
    assert {(wrong["record_id"], wrong["problem"]) for wrong in d1["wrong_key"]} == {
        (forged["record_id"], "key_unknown"), (late["record_id"], "key_not_current_then")}
    assert (d1["duplicate_numbers"], d1["chained"], d1["highest_number"], d1["clean"]) == ([], 8, 9, False)
    assert found["D2"]["clean"] and found["D2"]["chained"] == 3 and found["D2"]["missing"] == []
    assert _audit(centre, "--device", "D2") == (0, [found["D2"]])
    text = subprocess.run([sys.executable, "-m", "center", "audit", "--db", centre.db], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300).stdout
    assert "missing numbers (deleted, or not sent yet): 3" in text and ids[5] in text and forged["record_id"] in text
