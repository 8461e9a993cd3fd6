"""Local storage: roster, encrypted references, records with their outbox row, audit, retention, full disk."""

from __future__ import annotations

import os
import stat
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sqlite_utils import Database

from kiosk.clock import CHINA_STANDARD_TIME, FakeClock
from kiosk.errors import KeyUnavailableError, StorageError, StorageFullError
from kiosk.store import (
    DB_FILE_NAME,
    SCHEMA_VERSION,
    CertificationRecord,
    DeviceKey,
    Pensioner,
    Store,
)
from kiosk.store import schema

ID_A = "11010519491231002X"
ID_B = "110101194503151237"


def pensioner(id_number: str = ID_A, name: str = "张三", last: date | None = date(2025, 1, 10)) -> Pensioner:
    return Pensioner(id_number, name, "110101", last)


def record(clock: FakeClock, outcome: str = "certified", id_number: str | None = ID_A, **extra) -> CertificationRecord:
    fields = dict(session_id="s-1", occurred_at=clock.now(), device_id="KIOSK-1", region_code="110101",
                  id_number=id_number, outcome=outcome, liveness_score=0.93, attack_score=0.1, match_distance=0.31)
    fields.update(extra)
    return CertificationRecord(**fields)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Store:
    s = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    s.upsert_pensioner(pensioner())
    return s


def test_pensioner_upsert_reports_what_happened_and_never_duplicates(store: Store) -> None:
    assert store.upsert_pensioner(pensioner()) == "unchanged"
    assert store.upsert_pensioner(pensioner(name="张三丰")) == "updated"
    assert store.upsert_pensioner(pensioner(ID_B)) == "inserted"
    assert store.pensioner_count() == 2
    assert store.get_pensioner(ID_A.lower()) == pensioner(name="张三丰")
    assert store.get_pensioner("110101194912310038") is None


def test_last_certified_never_moves_back_on_upsert_but_can_be_set(store: Store) -> None:
    store.upsert_pensioner(pensioner(last=date(2026, 3, 1)))
    assert store.upsert_pensioner(pensioner(last=date(2025, 1, 10))) == "unchanged"  # stale roster file
    assert store.get_pensioner(ID_A).last_certified == date(2026, 3, 1)
    assert store.set_last_certified(ID_A, date(2024, 12, 31))
    assert store.get_pensioner(ID_A).last_certified == date(2024, 12, 31)
    assert not store.set_last_certified(ID_B, date(2024, 12, 31))


@pytest.mark.parametrize("bad", [dict(id_number=""), dict(id_number=" 110101"), dict(name=" "),
                                 dict(region_code="11010"), dict(last_certified=datetime(2025, 1, 1)),
                                 # any script's digits match \d: the region is ASCII 0-9 only (#13)
                                 dict(region_code="\u0661\u0661\u0660\u0661\u0660\u0661"),
                                 dict(region_code="\uff11\uff11\uff10\uff11\uff10\uff11")])
def test_pensioner_refuses_bad_values(bad: dict) -> None:
    fields = dict(id_number=ID_A, name="张三", region_code="110101", last_certified=None)
    fields.update(bad)
    with pytest.raises(ValueError):
        Pensioner(**fields)


def test_reference_round_trip_and_removal_with_the_pensioner(store: Store) -> None:
    template = np.linspace(-0.2, 0.2, 128)
    store.add_reference(ID_A, template, "roster_photo")
    store.add_reference(ID_A, template * 2, "staff_enrolment")
    got = store.references(ID_A)
    assert len(got) == 2 and np.array_equal(got[0], template) and np.array_equal(got[1], template * 2)
    assert store.has_reference(ID_A) and not store.has_reference(ID_B)
    assert store.references(ID_B) == []
    ids = store.replace_references(ID_A, [template * 3], "center")
    assert len(ids) == 1 and np.array_equal(store.references(ID_A)[0], template * 3)
    assert store.remove_pensioner(ID_A)
    assert store.db.execute("SELECT count(*) FROM face_references").fetchone()[0] == 0
    assert not store.remove_pensioner(ID_A)


def test_reference_refuses_bad_input_and_unknown_people(store: Store) -> None:
    with pytest.raises(StorageError) as info:
        store.add_reference(ID_B, np.zeros(128), "center")
    assert info.value.code == "not_in_roster"
    for bad in (np.zeros((2, 64)), np.array([np.nan] * 128), np.zeros(0)):
        with pytest.raises(ValueError):
            store.add_reference(ID_A, bad, "center")
    with pytest.raises(ValueError):
        store.add_reference(ID_A, np.zeros(128), "selfie")
    assert not store.has_reference(ID_A)


def test_templates_are_kept_apart_from_identity_and_encrypted(tmp_path: Path, clock: FakeClock) -> None:
    s = Store.open(tmp_path / "data", tmp_path / "key", clock)
    s.upsert_pensioner(pensioner())
    template = np.full(128, 0.123456789)
    s.add_reference(ID_A, template, "roster_photo")
    columns = {c.name for c in s.db["face_references"].columns}
    assert not columns & {"id_number", "name", "region_code"}
    s.close()
    raw = b"".join(f.read_bytes() for f in (tmp_path / "data").glob(DB_FILE_NAME + "*"))
    assert template.tobytes()[:16] not in raw
    assert ID_A.encode() in raw  # identity data is plain: the point is only that the template is not


def test_a_template_moved_to_another_person_does_not_open(store: Store) -> None:
    store.upsert_pensioner(pensioner(ID_B))
    store.add_reference(ID_A, np.ones(128), "center")
    store.add_reference(ID_B, np.zeros(128), "center")
    blob_a = store.db.execute(
        "SELECT ciphertext FROM face_references r JOIN pensioners p USING (person_key) WHERE id_number = ?", [ID_A]
    ).fetchone()[0]
    store.db.execute("UPDATE face_references SET ciphertext = ? WHERE person_key = "
                     "(SELECT person_key FROM pensioners WHERE id_number = ?)", [blob_a, ID_B])
    with pytest.raises(KeyUnavailableError):
        store.references(ID_B)


def test_lost_key_makes_templates_unreadable_not_the_store_unusable(tmp_path: Path, clock: FakeClock) -> None:
    key_file = tmp_path / "keys" / "device.key"
    s = Store.open(tmp_path / "data", key_file, clock)
    s.upsert_pensioner(pensioner())
    s.add_reference(ID_A, np.ones(128), "roster_photo")
    s.close()
    key_file.unlink()  # the key is lost: a new one is made, the old templates no longer open
    s = Store.open(tmp_path / "data", key_file, clock)
    assert not s.has_reference(ID_A)  # the flow sends the person to staff enrolment before liveness
    assert s.reference_counts() == {"total": 1, "unreadable": 1}
    assert s.reference_count(ID_A) == {"total": 1, "unreadable": 1}
    with pytest.raises(KeyUnavailableError):
        s.references(ID_A)
    s.record_attempt(record(clock, outcome="no_reference", reason_code="key_missing"))  # the kiosk still works
    s.replace_references(ID_A, [np.full(128, 0.5)], "staff_enrolment")  # re-enrolment
    assert np.array_equal(s.references(ID_A)[0], np.full(128, 0.5))
    assert s.reference_counts() == {"total": 1, "unreadable": 0}
    assert s.has_reference(ID_A) and s.reference_count(ID_A) == {"total": 1, "unreadable": 0}


def test_damaged_key_file_is_not_overwritten_and_biometrics_are_refused(tmp_path: Path, clock: FakeClock) -> None:
    key_file = tmp_path / "device.key"
    key_file.write_bytes(b"short")
    s = Store.open(tmp_path / "data", key_file, clock)
    assert s.key_id is None and key_file.read_bytes() == b"short"
    s.upsert_pensioner(pensioner())
    assert not s.has_reference(ID_A)
    with pytest.raises(KeyUnavailableError):
        s.add_reference(ID_A, np.ones(128), "center")
    assert s.references(ID_A) == []  # nothing stored, nothing to decrypt


def test_open_makes_private_folder_and_key_and_durable_database(tmp_path: Path, clock: FakeClock) -> None:
    key_file = tmp_path / "etc" / "device.key"
    s = Store.open(tmp_path / "data", key_file, clock)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    first_key = s.key_id
    s.close()
    key_file.chmod(0o644)
    s = Store.open(tmp_path / "data", key_file, clock)
    assert s.key_id == first_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert s.schema_version() == SCHEMA_VERSION and s.pending_migrations() == []


def test_migrations_pending_then_applied_and_newer_database_refused(clock: FakeClock) -> None:
    db = Database(memory=True)
    s = Store(db, clock=clock, migrate=False)
    assert s.pending_migrations() == schema.migration_names() and s.schema_version() == 0
    assert s.migrate() == schema.migration_names()
    assert s.pending_migrations() == [] and s.migrate() == []
    db["_sqlite_migrations"].insert({"migration_set": schema.MIGRATION_SET, "name": "9999_future", "applied_at": "x"})
    with pytest.raises(StorageError) as info:
        Store(db, clock=clock)
    assert info.value.code == "storage_schema_newer"


def test_record_and_outbox_and_last_certified_in_one_step(store: Store, clock: FakeClock) -> None:
    clock.advance(3600 * 15)  # 2026-05-21 00:00 CST: the local day, not the UTC one, counts
    rec = record(clock, valid_until=date(2027, 5, 21))
    assert store.record_attempt(rec) == rec.record_id
    assert store.get_record(rec.record_id) == rec
    assert store.get_pensioner(ID_A).last_certified == date(2026, 5, 21)
    assert store.outbox_counts() == {"pending": 1, "sent": 0, "rejected": 0}
    failed = record(clock, outcome="mismatch", attempt=2)
    store.record_attempt(failed)
    assert store.counts_for_day(date(2026, 5, 21)) == {"certified": 1, "mismatch": 1}
    assert store.counts_for_day(date(2026, 5, 20)) == {}
    with pytest.raises(StorageError) as info:
        store.record_attempt(failed)
    assert info.value.code == "storage_duplicate_record"
    assert store.outbox_counts()["pending"] == 2


def test_a_failing_outbox_write_keeps_nothing_of_the_record(store: Store, clock: FakeClock) -> None:
    store.db.execute("CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(StorageError):
        store.record_attempt(record(clock))
    assert store.db.execute("SELECT count(*) FROM certifications").fetchone()[0] == 0
    assert store.get_pensioner(ID_A).last_certified == date(2025, 1, 10)


@pytest.mark.parametrize("bad", [dict(outcome="Certified!"), dict(occurred_at=datetime(2026, 5, 20, 9)),
                                 dict(record_id="not-a-uuid"), dict(attempt=0), dict(liveness_score=1.5),
                                 dict(outcome="certified", id_number=None), dict(match_distance=float("nan")),
                                 dict(evidence_jpeg=b"GIF89a"), dict(evidence_jpeg=b"\xff\xd8" + bytes(2_000_000))])
def test_record_refuses_bad_values(clock: FakeClock, bad: dict) -> None:
    with pytest.raises(ValueError):
        record(clock, **bad)


def test_outbox_delivery_retry_and_rejection(store: Store, clock: FakeClock) -> None:
    ids = []
    for n in range(3):
        ids.append(store.record_attempt(record(clock, outcome="liveness_failed", attempt=n + 1)))
        clock.advance(1)
    items = store.pending_outbox(2, clock.now())
    assert [i.record_id for i in items] == ids[:2]
    first = items[0].record
    assert first == store.get_record(ids[0]) and first.outcome == "liveness_failed" and first.id_number == ID_A
    assert first.liveness_score == 0.93 and first.evidence_jpeg is None and items[0].unreadable is None
    store.mark_retry(ids[0], "network_down", clock.now() + timedelta(minutes=5))
    assert [i.record_id for i in store.pending_outbox(10, clock.now())] == ids[1:]
    later = store.pending_outbox(10, clock.now() + timedelta(minutes=5))
    assert later[0].record_id == ids[0] and later[0].attempts == 1 and later[0].last_error == "network_down"
    assert store.mark_sent([ids[1], "00000000-0000-4000-8000-000000000000"]) == 1
    store.mark_rejected(ids[2], "region_mismatch")
    assert store.outbox_counts() == {"pending": 1, "sent": 1, "rejected": 1}
    for call in (lambda: store.mark_retry(ids[2], "x", clock.now()), lambda: store.mark_rejected(ids[1], "again")):
        with pytest.raises(StorageError):
            call()
    with pytest.raises(ValueError):
        store.mark_retry(ids[0], "Network Down", clock.now())
    assert store.db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 3  # nothing ever deleted


def test_evidence_kept_only_when_configured_encrypted_and_purged(clock: FakeClock) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"face" * 100
    none_kept = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    rec = none_kept.record_attempt(record(clock, id_number=None, outcome="liveness_failed", evidence_jpeg=jpeg))
    assert none_kept.evidence_jpeg(rec) is None
    kept = Store(Database(memory=True), clock=clock, key=DeviceKey.generate(), evidence_retention_days=30)
    rec = kept.record_attempt(record(clock, id_number=None, outcome="liveness_failed", evidence_jpeg=jpeg))
    assert kept.evidence_jpeg(rec) == jpeg
    assert b"face" not in kept.db.execute("SELECT ciphertext FROM evidence").fetchone()[0]
    assert kept.purge_expired(clock.now() + timedelta(days=29))["evidence"] == 0
    assert kept.purge_expired(clock.now() + timedelta(days=31))["evidence"] == 1
    assert kept.evidence_jpeg(rec) is None and kept.get_record(rec) is not None


def test_open_purges_expired_evidence_and_audit(tmp_path: Path, clock: FakeClock) -> None:
    s = Store.open(tmp_path / "data", tmp_path / "key", clock, evidence_retention_days=7, audit_retention_days=30)
    rec = s.record_attempt(record(clock, outcome="mismatch", evidence_jpeg=b"\xff\xd8" + bytes(100)))
    s.audit("s-1", "card_read", "ok")
    s.close()
    clock.advance(8 * 86400)
    s = Store.open(tmp_path / "data", tmp_path / "key", clock, evidence_retention_days=7, audit_retention_days=30)
    assert s.evidence_jpeg(rec) is None and len(s.audit_entries()) == 1
    clock.advance(30 * 86400)
    s.close()
    s = Store.open(tmp_path / "data", tmp_path / "key", clock, evidence_retention_days=7, audit_retention_days=30)
    assert s.audit_entries() == [] and s.get_record(rec) is not None


def test_face_image_hook_sends_and_keeps_images_until_sent(clock: FakeClock) -> None:
    jpeg = b"\xff\xd8" + b"x" * 50
    sender = Store(Database(memory=True), clock=clock, key=DeviceKey.generate(), send_face_images=True)
    rec = sender.record_attempt(record(clock, id_number=None, outcome="mismatch", evidence_jpeg=jpeg))
    assert sender.purge_expired(clock.now() + timedelta(days=1))["evidence"] == 0  # still pending
    assert sender.pending_outbox(1, clock.now())[0].record.evidence_jpeg == jpeg
    sender.mark_sent([rec])
    assert sender.purge_expired(clock.now() + timedelta(days=1))["evidence"] == 1


def test_audit_log_refuses_personal_data_and_is_purged(store: Store, clock: FakeClock) -> None:
    store.audit("s-1", "card_read", "ok", {"ms": 112, "reader": "sim"})
    store.audit(None, "doctor", "storage_full")
    for detail in ({"id_number": "x"}, {"note": f"card {ID_A}"}, {"note": "card USA450315123455"},
                   {"note": "card 110105491231002"}, {"photo": None},
                   {"blob": b"\xff"}, {"x": [1]}):
        with pytest.raises(ValueError):
            store.audit("s-1", "card_read", "ok", detail)
    with pytest.raises(ValueError):
        store.audit("s-1", "Card Read", "ok")
    assert [e["step"] for e in store.audit_entries()] == ["card_read", "doctor"]
    assert store.audit_entries("s-1")[0]["detail"] == {"ms": 112, "reader": "sim"}
    assert store.purge_expired(clock.now() + timedelta(days=366))["audit_log"] == 2


def test_transaction_composes_calls_and_rolls_all_back(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.upsert_pensioner(pensioner(ID_B))
            store.set_meta("roster_version", "42")
            raise RuntimeError("page failed half-way")
    assert store.get_pensioner(ID_B) is None and store.get_meta("roster_version") is None
    with store.transaction():
        store.upsert_pensioner(pensioner(ID_B))
        store.set_meta("roster_version", "42")
    assert store.pensioner_count() == 2 and store.get_meta("roster_version") == "42"
    store.set_meta("roster_version", None)
    assert store.get_meta("roster_version") is None


def test_full_disk_raises_storage_full_and_loses_nothing_committed(tmp_path: Path, clock: FakeClock) -> None:
    s = Store.open(tmp_path / "data", tmp_path / "key", clock)
    s.upsert_pensioner(pensioner())
    pages = s.db.execute("PRAGMA page_count").fetchone()[0]
    s.db.execute(f"PRAGMA max_page_count = {pages + 3}")  # SQLite's own "disk full", as on a real full disk
    stored: list[str] = []
    with pytest.raises(StorageFullError) as info:
        for n in range(10_000):
            stored.append(s.record_attempt(record(clock, outcome="mismatch", session_id=f"s-{n}" + "x" * 200)))
    assert info.value.code == "storage_full" and len(stored) > 0
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {r[0] for r in s.db.execute("SELECT record_id FROM certifications")} == set(stored)
    assert s.outbox_counts()["pending"] == len(stored)
    assert s.get_pensioner(ID_A) is not None  # reads keep working
    s.db.execute("PRAGMA max_page_count = 1073741823")  # space freed: writing resumes
    s.record_attempt(record(clock))
    s.close()
    reopened = Store.open(tmp_path / "data", tmp_path / "key", clock)
    assert reopened.outbox_counts()["pending"] == len(stored) + 1


def test_a_corrupt_database_file_is_a_storage_error(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DB_FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        Store.open(tmp_path / "data", tmp_path / "key", clock)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.integers(1, 512), elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_any_finite_template_round_trips_exactly(template: np.ndarray) -> None:
    s = Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate())
    s.upsert_pensioner(pensioner())
    s.add_reference(ID_A, template, "center")
    assert np.array_equal(s.references(ID_A)[0], template)


def test_local_day_boundary_uses_china_time() -> None:
    clock = FakeClock(datetime(2026, 5, 20, 23, 59, tzinfo=CHINA_STANDARD_TIME))
    s = Store(Database(memory=True), clock=clock)
    s.record_attempt(record(clock, id_number=None, outcome="card_removed",
                            occurred_at=datetime(2026, 5, 20, 15, 59, tzinfo=timezone.utc)))
    assert s.counts_for_day(date(2026, 5, 20)) == {"card_removed": 1}
    assert s.counts_for_day(date(2026, 5, 21)) == {}


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 2 MB tmpfs (needs root and the right to mount; skipped otherwise)."""
    import subprocess

    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                                           capture_output=True).returncode != 0:
        pytest.skip("a real full disk needs root and tmpfs mounts; the max_page_count test covers the logic")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_real_full_disk(tiny_disk: Path, clock: FakeClock) -> None:
    s = Store.open(tiny_disk / "data", tiny_disk / "key", clock, evidence_retention_days=30)
    s.upsert_pensioner(pensioner())
    (tiny_disk / "filler").write_bytes(bytes(1_200_000))
    stored: list[str] = []
    with pytest.raises(StorageFullError):
        for _ in range(1000):
            stored.append(s.record_attempt(record(clock, outcome="mismatch", evidence_jpeg=b"\xff\xd8" + os.urandom(20_000))))
    assert stored and s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {r[0] for r in s.db.execute("SELECT record_id FROM certifications")} == set(stored)
    (tiny_disk / "filler").unlink()
    s.record_attempt(record(clock))
    assert s.outbox_counts()["pending"] == len(stored) + 1
    s.close()


def test_two_writers_on_one_file_wait_for_each_other(tmp_path: Path) -> None:
    """The app and the sync client write at once: read-then-write transactions must not fail with 'locked'."""
    import threading

    errors: list[str] = []  # both also create the database, the key and the schema at the same time

    def work(tag: str) -> None:
        clock = FakeClock()
        s = Store.open(tmp_path / "data", tmp_path / "key", clock)
        try:
            for n in range(100):
                s.upsert_pensioner(Pensioner(f"{tag}{n:016d}", "张三", "110101"))
                s.record_attempt(record(clock, id_number=None, outcome="mismatch", session_id=tag))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(tag,)) for tag in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    s = Store.open(tmp_path / "data", tmp_path / "key", FakeClock())
    assert s.pensioner_count() == 200 and s.outbox_counts()["pending"] == 200


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    import threading

    from kiosk.store import load_or_create_key

    for round_no in range(20):
        key_file = tmp_path / f"r{round_no}" / "device.key"
        got: list[str] = []
        threads = [threading.Thread(target=lambda: got.append(load_or_create_key(key_file).key_id)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(got) == 4 and len(set(got)) == 1  # nobody read a half-written key or wrote a second one
        assert [p.name for p in key_file.parent.iterdir()] == ["device.key"]


def test_references_stored_with_the_old_centre_spelling_are_renamed_by_migration(tmp_path: Path) -> None:
    """Migration 0003: a terminal upgraded in place keeps its delivered references under 'center'."""
    from sqlite_utils import Database

    from kiosk.store import schema

    db = Database(tmp_path / "old.db")
    schema.migrations.ensure_migrations_table(db)
    first_two = [m for m in schema.migrations._migrations if m.name in ("0001_initial", "0002_roster_photo_sha256")]
    for migration in first_two:
        migration.fn(db)
        db["_sqlite_migrations"].insert({"migration_set": schema.MIGRATION_SET, "name": migration.name, "applied_at": "x"})
    db.execute("INSERT INTO face_references (ref_id, person_key, source, created_at, key_id, dims, ciphertext) "
               "VALUES ('r1', 'p1', 'centre', 'x', 'k', 128, x'00')")
    db.conn.commit()
    schema.migrate(db)
    assert db.execute("SELECT source FROM face_references").fetchall() == [("center",)]
