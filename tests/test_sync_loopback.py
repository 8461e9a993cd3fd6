"""Sync against the real centre on 127.0.0.1, through a fault proxy: nothing lost, nothing doubled.

One centre process serves the module (each test has its own device, data folder and records); the
kill-and-restart test runs its own. The module runs twice: the centre on SQLite, then on a real
PostgreSQL server (``module_centre_db`` in conftest.py). Every failure is checked in three places: the outbox, the
centre's database, and what ``kiosk doctor`` and ``SyncWorker.status()`` show.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from center.db import Certification, Device, DeviceKey, make_engine, session_factory
from center.provincial_roster import generate_synthetic
from centre_harness import CenterProcess, FaultProxy, free_port
from kiosk.clock import CHINA_STANDARD_TIME, FakeClock, SystemClock
from kiosk.config import KioskConfig, load_config
from kiosk.doctor import Status
from kiosk.doctor.checks_sync import CHECKS
from kiosk.store import CertificationRecord, Store
from wire import signing
from kiosk.sync.credentials import new_credentials, save_credentials
from kiosk.sync.wire_mapping import set_aside_records
from kiosk.sync import worker as worker_module
from kiosk.sync.worker import SyncWorker

ROSTER_SIZE = 30
ID_NUMBER = "110101194001010012"


@pytest.fixture(scope="module")
def centre(module_centre_db: str) -> Iterator[CenterProcess]:
    """The centre serving this module's tests, once on SQLite and once on PostgreSQL."""
    db = module_centre_db
    with session_factory(make_engine(db))() as session:
        generate_synthetic(session, ROSTER_SIZE, seed=7)
    with CenterProcess(db) as process:
        yield process


def add_device(db: str, device_id: str | None = None) -> tuple[str, str]:
    device_id = device_id or f"T-{uuid.uuid4().hex[:8]}"
    secret = signing.new_secret()
    with session_factory(make_engine(db))() as session:
        session.add(Device(device_id=device_id, name="test hall", secret=secret))
        session.commit()
    return device_id, secret


def received(db: str, device_id: str) -> tuple[int, int]:
    """(rows, distinct record ids) the centre holds for a device."""
    with session_factory(make_engine(db))() as session:
        query = select(func.count(), func.count(func.distinct(Certification.record_id))).where(
            Certification.device_id == device_id)
        rows, distinct = session.execute(query).one()
    return int(rows), int(distinct)


class Rig:
    """A terminal enrolled with the centre through a fault proxy."""

    def __init__(self, centre: CenterProcess, data_dir: Path, *, secret: str | None = None,
                 clock: FakeClock | SystemClock | None = None) -> None:
        self.centre = centre
        self.proxy = FaultProxy(centre.port).start()
        self.device_id, real_secret = add_device(centre.db)
        self.config: KioskConfig = load_config(env={**os.environ, "KIOSK__TERMINAL__DEVICE_ID": self.device_id})
        save_credentials(data_dir, new_credentials(self.proxy.url, self.device_id, secret or real_secret))
        self.clock = clock or SystemClock()
        self.store = Store.from_config(self.config, self.clock)
        self.worker = SyncWorker(self.config, self.clock)

    def add_records(self, count: int, **changes: object) -> list[str]:
        ids = []
        for index in range(count):
            values = {"session_id": f"s{index}", "occurred_at": self.clock.now(), "device_id": self.device_id,
                      "region_code": "110101", "id_number": ID_NUMBER, "outcome": "certified",
                      "match_distance": 0.31, "liveness_score": 0.93, **changes}
            ids.append(self.store.record_attempt(CertificationRecord(**values)))
        return ids

    def doctor(self) -> dict[str, tuple[Status, str]]:
        return {check.name: (result.status, result.detail) for check in CHECKS
                for result in [check.run(self.config)]}

    def close(self) -> None:
        self.worker.stop()
        self.store.close()
        self.proxy.close()


@pytest.fixture
def rig(centre: CenterProcess, data_dir: Path) -> Iterator[Rig]:
    rig = Rig(centre, data_dir)
    yield rig
    rig.close()


def test_a_clean_round_pushes_everything_once_and_pulls_the_roster(rig: Rig) -> None:
    ids = rig.add_records(230)
    report = rig.worker.run_once()
    assert (report.error, report.pushed, report.pending, report.pulled) == (None, 230, 0, ROSTER_SIZE)
    assert received(rig.centre.db, rig.device_id) == (230, 230)
    assert rig.store.pensioner_count() == ROSTER_SIZE
    assert rig.worker.run_once().pulled == 0  # the cursor was kept
    assert rig.store.outbox_counts() == {"pending": 0, "sent": 230, "rejected": 0}
    record = json.loads(rig.centre.admin("certifications", "--device", rig.device_id, "--limit", "1", "--json"))[0]
    assert record["record_id"] in ids and "face_image_jpeg" not in record and "name" not in record
    status = rig.worker.status()
    assert status.online and status.enrolled and status.last_error_code is None and status.pending == 0
    doctor = rig.doctor()
    assert all(result[0] is Status.OK for result in doctor.values()), doctor


def test_connection_dropped_after_the_centre_committed_is_not_doubled(rig: Rig) -> None:
    rig.add_records(250)
    rig.proxy.add_fault("drop_after", "/v1/results")
    first = rig.worker.run_once()
    assert first.error == "center_unreachable" and first.pending == 250
    assert received(rig.centre.db, rig.device_id) == (100, 100)  # the centre has the first batch
    assert rig.doctor()["last sync"][0] is Status.WARNING and "center_unreachable" in rig.doctor()["last sync"][1]
    second = rig.worker.run_once()
    assert (second.error, second.pending) == (None, 0)
    assert received(rig.centre.db, rig.device_id) == (250, 250)
    assert rig.store.outbox_counts()["sent"] == 250


@pytest.mark.parametrize(("fault", "code"), [("error_500", "center_error"), ("malformed_json", "center_error"),
                                             ("drop_before", "center_unreachable")])
def test_server_errors_and_garbage_keep_records_pending(rig: Rig, fault: str, code: str) -> None:
    rig.add_records(40)
    rig.proxy.add_fault(fault, "/v1/results")
    report = rig.worker.run_once()
    assert (report.error, report.pending, report.pushed) == (code, 40, 0)
    assert rig.worker.status().last_error_code == code
    attempts = {row[0] for row in rig.store.db.execute("SELECT attempts FROM outbox")}
    assert attempts == {1}
    assert code in rig.doctor()["last sync"][1]
    assert rig.worker.run_once().error is None
    assert received(rig.centre.db, rig.device_id) == (40, 40)


def test_an_answer_later_than_the_timeout_is_a_network_error(centre: CenterProcess, data_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK__SYNC__REQUEST_TIMEOUT_S", "0.5")
    rig = Rig(centre, data_dir)
    try:
        rig.add_records(5)
        rig.proxy.add_fault("delay", "/v1/results", delay_s=1.5)
        report = rig.worker.run_once()
        assert (report.error, report.pending) == ("center_unreachable", 5)
        assert "in time" in report.error_message
        assert "center_unreachable" in rig.doctor()["last sync"][1]
        assert rig.worker.run_once().pending == 0
        assert received(centre.db, rig.device_id) == (5, 5)
    finally:
        rig.close()


def test_a_wrong_secret_is_an_auth_failure_and_loses_nothing(centre: CenterProcess, data_dir: Path) -> None:
    rig = Rig(centre, data_dir, secret="0f" * 32)
    try:
        rig.add_records(3)
        report = rig.worker.run_once()
        assert (report.error, report.pending) == ("auth_failed", 3)
        assert rig.worker.status().last_error_code == "auth_failed"
        assert "kiosk enroll-device" in next(c.run(rig.config).hint for c in CHECKS if c.name == "last sync")
        assert received(centre.db, rig.device_id) == (0, 0)
    finally:
        rig.close()


def test_replayed_and_old_requests_are_refused(rig: Rig) -> None:
    rig.add_records(2)
    assert rig.worker.run_once().error is None
    captured = next(seen for seen in rig.proxy.seen if seen.path == "/v1/results")
    headers = {key: value for key, value in captured.headers.items() if key.lower().startswith("x-kiosk")}
    replay = httpx.post(f"{rig.centre.url}/v1/results", content=captured.body,
                        headers={**headers, "Content-Type": "application/json"})
    assert (replay.status_code, replay.json()["error"]["code"]) == (401, "auth_nonce_replayed")
    secret = json.loads((rig.config.terminal.resolved_data_dir() / "sync" / "credentials.json").read_text())["secret"]
    old = signing.sign_request(secret, rig.device_id, "GET", "/v1/roster", b"", int(time.time()) - 3600)
    answer = httpx.get(f"{rig.centre.url}/v1/roster", headers=old.as_dict())
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "auth_request_stale")
    assert received(rig.centre.db, rig.device_id) == (2, 2)


def test_a_terminal_clock_an_hour_off_still_syncs_and_is_reported(centre: CenterProcess, data_dir: Path) -> None:
    clock = FakeClock(datetime.now(CHINA_STANDARD_TIME) - timedelta(hours=1))
    rig = Rig(centre, data_dir, clock=clock)
    try:
        rig.add_records(4)
        report = rig.worker.run_once()
        assert (report.error, report.pending) == (None, 0)
        assert 3590 <= rig.worker.status().clock_skew_s <= 3610
        status, detail = rig.doctor()["clock vs centre"]
        assert status is Status.FAILED and "+36" in detail
    finally:
        rig.close()


def test_a_record_the_centre_refuses_is_set_aside_with_its_reason(rig: Rig) -> None:
    good = rig.add_records(7)
    bad = rig.add_records(1, region_code="99")  # the centre wants 6 digits
    report = rig.worker.run_once()
    assert (report.error, report.pushed, report.rejected, report.pending) == (None, 7, 1, 0)
    reason = rig.store.db.execute("SELECT rejected_reason FROM outbox WHERE record_id = ?", bad).fetchone()[0]
    assert reason.startswith("record_invalid: region_code")
    assert rig.store.outbox_counts() == {"pending": 0, "sent": 7, "rejected": 1}
    assert rig.worker.run_once().rejected == 0  # never retried
    status, detail = rig.doctor()["records set aside"]
    assert status is Status.WARNING and detail == "1 set aside: record_invalid x1"
    assert rig.worker.status().rejected == 1 and len(good) == 7
    assert set_aside_records(rig.store) == [(bad[0], reason)]


def test_a_stored_row_that_is_no_valid_record_is_set_aside_and_the_rest_sent(rig: Rig) -> None:
    good = rig.add_records(3)
    bad = rig.add_records(1)
    rig.store.db.execute("UPDATE certifications SET outcome = 'Not A Code' WHERE record_id = ?", bad)
    report = rig.worker.run_once()
    assert (report.error, report.pushed, report.rejected, report.pending) == (None, 3, 1, 0)
    reason = rig.store.db.execute("SELECT rejected_reason FROM outbox WHERE record_id = ?", bad).fetchone()[0]
    assert reason == "record_unsendable: the stored record is unreadable (ValueError)"
    assert received(rig.centre.db, rig.device_id) == (3, 3) and len(good) == 3


def test_a_batch_refused_as_a_whole_is_split_down_to_the_bad_record(rig: Rig) -> None:
    rig.add_records(9)
    refused_sizes = {}

    def refuse_batches(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)["records"] if request.url.path == "/v1/results" else []
        if any(record["session_id"] == "s4" for record in records):
            refused_sizes[len(records)] = True
            return httpx.Response(413, json={"error": {"code": "request_too_large", "message": "too large"}})
        with httpx.Client(base_url=rig.proxy.url) as client:
            answer = client.request(request.method, request.url.raw_path.decode(), content=request.content,
                                    headers=request.headers)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    worker = SyncWorker(rig.config, rig.clock, transport=httpx.MockTransport(refuse_batches))
    report = worker.run_once()
    assert (report.error, report.pushed, report.rejected) == (None, 8, 1)
    assert sorted(refused_sizes) == [1, 2, 5, 9]  # halves 9 -> 5 -> 2 -> 1: about log2(n) extra requests
    assert received(rig.centre.db, rig.device_id) == (8, 8)


def test_a_roster_page_is_applied_whole_or_not_at_all(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    import kiosk.sync.engine as engine

    monkeypatch.setattr(engine, "DEFAULT_ROSTER_PAGE", 10)
    calls = {"n": 0}
    real_add = Store.add_reference

    def failing_add(self: Store, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 15:  # the middle of the second page
            from kiosk.errors import StorageError
            raise StorageError("disk trouble")
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Store, "add_reference", failing_add)
    report = rig.worker.run_once()
    assert (report.error, report.pulled) == ("storage_error", 10)
    assert rig.store.pensioner_count() == 10 and rig.store.get_meta("sync.roster_cursor") is not None
    monkeypatch.setattr(Store, "add_reference", real_add)
    report = rig.worker.run_once()
    assert (report.error, report.pulled, rig.store.pensioner_count()) == (None, ROSTER_SIZE - 10, ROSTER_SIZE)
    assert rig.store.reference_counts()["total"] == ROSTER_SIZE


def test_killing_and_restarting_the_centre_mid_batch_loses_and_doubles_nothing(centre_db: str, data_dir: Path) -> None:
    with CenterProcess(centre_db, port=free_port()) as centre:
        rig = Rig(centre, data_dir)
        try:
            rig.add_records(350)
            rig.proxy.add_fault("call_after", "/v1/results", callback=centre.kill)  # batch 1 committed, then dead
            assert rig.worker.run_once().error == "center_unreachable"
            assert rig.worker.run_once().error == "center_unreachable"  # still dead
            centre.start()
            rig.proxy.add_fault("call_before", "/v1/results", callback=centre.kill)  # dies before batch 1 again
            assert rig.worker.run_once().error == "center_unreachable"
            centre.start()
            report = rig.worker.run_once()
            assert (report.error, report.pending) == (None, 0)
            assert received(centre.db, rig.device_id) == (350, 350)
            assert rig.store.outbox_counts() == {"pending": 0, "sent": 350, "rejected": 0}
        finally:
            rig.close()


def test_the_background_worker_drains_stops_and_follows_the_network(centre: CenterProcess, data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Every wait is minutes long, so only notify_network_changed(True) can start the second round.
    monkeypatch.setenv("KIOSK__SYNC__INTERVAL_S", "600")
    monkeypatch.setenv("KIOSK__SYNC__MAX_BACKOFF_S", "600")
    monkeypatch.setattr(worker_module, "BACKOFF_BASE_S", 600.0)
    rig = Rig(centre, data_dir)
    try:
        rig.add_records(20)
        rig.worker.notify_network_changed(False)
        assert rig.worker.status().online is False
        rig.proxy.add_fault("drop_before", "/v1/ping")  # the first round's probe fails
        rig.worker.start()
        rig.worker.start()  # a second start does nothing
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and rig.worker.status().last_error_code != "center_unreachable":
            time.sleep(0.05)  # waiting for a condition, not for timing
        assert rig.worker.status().last_error_code == "center_unreachable"
        rig.worker.notify_network_changed(True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and rig.worker.status().last_success_at is None:
            time.sleep(0.05)  # waiting for a condition, not for timing
        assert rig.worker.status().pending == 0 and rig.worker.status().last_error_code is None
        rig.worker.stop()
        rig.worker.stop()
        assert received(rig.centre.db, rig.device_id) == (20, 20)
    finally:
        rig.close()


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"


@pytest.mark.parametrize("send", [False, True])
def test_face_images_leave_the_terminal_only_when_configured(centre: CenterProcess, data_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch, send: bool) -> None:
    monkeypatch.setenv("KIOSK__STORAGE__EVIDENCE_RETENTION_DAYS", "30")  # evidence is kept either way
    monkeypatch.setenv("KIOSK__SYNC__SEND_FACE_IMAGES", "true" if send else "false")
    rig = Rig(centre, data_dir)
    try:
        rig.add_records(2, evidence_jpeg=JPEG)
        assert rig.worker.run_once().error is None
        listed = json.loads(centre.admin("certifications", "--device", rig.device_id, "--json"))
        assert [row["has_face_image"] for row in listed] == [send, send]
        assert all("face_image_jpeg" not in row for row in listed)  # never printed
        sent = [json.loads(seen.body) for seen in rig.proxy.seen if seen.path == "/v1/results"]
        assert all(("face_image_jpeg" in record) is send for body in sent for record in body["records"])
    finally:
        rig.close()


def test_the_heartbeat_carries_health_but_no_personal_data(centre: CenterProcess, data_dir: Path) -> None:
    rig = Rig(centre, data_dir)
    rig.worker = SyncWorker(rig.config, rig.clock, health=lambda: {"camera open": "ok", "reader URL openable": "warning",
                                                                    "bad!name": "ok", "roster": "unknown"})
    try:
        rig.add_records(1)
        assert rig.worker.run_once().error is None
        with session_factory(make_engine(centre.db))() as session:
            health = session.get(Device, rig.device_id).last_health
        assert health["checks"] == {"camera_open": "ok", "reader_url_openable": "warning"}
        assert (health["pending"], health["rejected"]) == (0, 0)
        assert ID_NUMBER not in json.dumps(health)
    finally:
        rig.close()


def test_a_wrong_url_never_sets_records_aside(rig: Rig) -> None:
    rig.add_records(3)

    def not_the_centre(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>Not Found</html>")

    report = SyncWorker(rig.config, rig.clock, transport=httpx.MockTransport(not_the_centre)).run_once()
    assert (report.error, report.rejected, report.pending) == ("center_error", 0, 3)
    assert "URL" in report.error_message


def test_sync_now_beside_the_background_round_sends_each_record_once(rig: Rig) -> None:
    rig.add_records(300)
    rig.worker.start()
    report = rig.worker.run_once()  # as the technician page's "sync now" does, from another thread
    rig.worker.stop()
    assert report.error is None and report.pending == 0
    sent = [record["record_id"] for seen in rig.proxy.seen if seen.path == "/v1/results"
            for record in json.loads(seen.body)["records"]]
    assert len(sent) == len(set(sent)) == 300
    assert received(rig.centre.db, rig.device_id) == (300, 300)


def test_a_centre_that_lost_the_signing_key_gets_it_again_and_sets_nothing_aside(rig: Rig) -> None:
    rig.add_records(5)
    assert rig.worker.run_once().error is None
    with session_factory(make_engine(rig.centre.db))() as session:  # the centre restored from an old backup
        session.query(DeviceKey).filter(DeviceKey.device_id == rig.device_id).delete()
        session.commit()
    rig.add_records(4)
    report = rig.worker.run_once()
    assert (report.error, report.pushed, report.rejected, report.pending) == (None, 4, 0, 0)
    assert received(rig.centre.db, rig.device_id) == (9, 9)
    enrolments = [seen for seen in rig.proxy.seen if seen.path == "/v1/enrol"]
    assert len(enrolments) == 2  # at the first contact, and once again: not on every round


def test_a_malformed_roster_change_is_skipped_without_blocking_the_rest(rig: Rig) -> None:
    from wire.template_codec import encode_template
    from kiosk.sync.wire_mapping import apply_roster_page

    good = {"seq": 1, "op": "upsert", "id_number": ID_NUMBER, "name": "甲", "region_code": "110101",
            "last_certified": "2025-06-01", "templates": [encode_template(np.full(128, 0.05))]}
    bad_template = dict(good, seq=2, id_number="11010119450203002X", templates=["AAAA"])
    bad_number = dict(good, seq=3, id_number="not a number")
    missing = {"seq": 4, "op": "upsert", "id_number": "110101194502030038"}
    assert apply_roster_page(rig.store, [good, bad_template, bad_number, missing], 4) == (1, 0, 3)
    assert rig.store.pensioner_count() == 1 and rig.store.get_pensioner("11010119450203002X") is None
    assert rig.store.get_meta("sync.roster_cursor") == "4"
    assert len(rig.store.references(ID_NUMBER)) == 1


def _full_width(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if char in "0123456789Xx" else char for char in text)


def test_roster_delta_numbers_follow_the_one_rule(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """#13: a full-width number in the delta is the person the roster holds in ASCII (an update, a
    removal); a number with another script's digit is skipped and logged by its reason code, never
    stored as a second identity, and the rest of the page is applied."""
    from kiosk.sync.wire_mapping import apply_roster_page

    other = "11010119450203002X"
    change = {"seq": 1, "op": "upsert", "id_number": ID_NUMBER, "name": "ZHANG SAN", "region_code": "110101",
              "last_certified": "2025-06-01"}
    assert apply_roster_page(rig.store, [change, dict(change, seq=2, id_number=other)], 2) == (2, 0, 0)
    hostile = [ID_NUMBER[:-1] + "²", ID_NUMBER[:6] + "١٩٤٠" + ID_NUMBER[10:], other[:8] + "۰" + other[9:]]
    page = [dict(change, seq=3, id_number=_full_width(ID_NUMBER), last_certified="2026-01-05"),
            dict(change, seq=4, id_number=hostile[0]),
            dict(change, seq=5, id_number=hostile[1]),
            {"seq": 6, "op": "remove", "id_number": hostile[2]},
            {"seq": 7, "op": "remove", "id_number": _full_width(other.lower())}]
    with caplog.at_level("WARNING", logger="kiosk.sync.wire_mapping"):
        assert apply_roster_page(rig.store, page, 7) == (1, 1, 3)
    assert rig.store.pensioner_count() == 1 and rig.store.get_pensioner(other) is None
    assert rig.store.get_pensioner(ID_NUMBER).last_certified.isoformat() == "2026-01-05"
    assert all(rig.store.get_pensioner(number) is None for number in hostile)
    assert rig.store.get_meta("sync.roster_cursor") == "7"
    text = caplog.text
    assert text.count("id_number_format") >= 3 and "3 of 5 changes skipped" in text
    assert not any(number in text for number in [ID_NUMBER, other, *hostile, ID_NUMBER[:10], other[:10]])


def test_after_the_network_went_down_a_round_starts_with_the_cheap_probe(rig: Rig) -> None:
    rig.add_records(3)
    rig.worker.notify_network_changed(False)
    rig.proxy.add_fault("drop_before", "/v1/ping")
    report = rig.worker.run_once()
    assert (report.error, report.pending) == ("center_unreachable", 3)
    assert [seen.path for seen in rig.proxy.seen] == ["/v1/ping"]  # no batch was sent into the void
    rig.worker.notify_network_changed(True)
    assert rig.worker.run_once().error is None
    assert received(rig.centre.db, rig.device_id) == (3, 3)


def test_a_roster_change_replaces_the_centre_references_and_keeps_the_halls_own(rig: Rig) -> None:
    from wire.template_codec import encode_template
    from kiosk.sync.wire_mapping import apply_roster_page

    change = {"seq": 1, "op": "upsert", "id_number": ID_NUMBER, "name": "甲", "region_code": "110101",
              "last_certified": "2025-06-01", "templates": [encode_template(np.full(128, 0.05))]}
    assert apply_roster_page(rig.store, [change], 1) == (1, 0, 0)
    rig.store.add_reference(ID_NUMBER, np.full(128, 0.07), "staff_enrolment")
    changed = dict(change, seq=2, templates=[encode_template(np.full(128, 0.06))])
    assert apply_roster_page(rig.store, [changed], 2) == (1, 0, 0)
    templates = rig.store.references(ID_NUMBER)
    assert len(templates) == 2
    assert np.allclose(templates[0], 0.07) and np.allclose(templates[1], 0.06)
