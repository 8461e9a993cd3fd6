"""Core doctor checks: data folder, free disk, schema, device key, roster, outbox; and `kiosk doctor` end to end."""

from __future__ import annotations

import json
import os
from collections import namedtuple
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from kiosk.clock import CHINA_STANDARD_TIME, FakeClock, SystemClock
from kiosk.config import KioskConfig, load_config
from kiosk.doctor import Status, run_checks
from kiosk.doctor import checks_core
from kiosk.store import DB_FILE_NAME, CertificationRecord, Pensioner, Store
from kiosk.store import schema

A = "11010519491231002X"
CORE = {check.name for check in checks_core.CHECKS}


def results(config: KioskConfig) -> dict[str, tuple[Status, str, str]]:
    return {f.check.name: (f.result.status, f.result.detail, f.result.hint) for f in run_checks(config, checks_core.CHECKS)}


def filled_store(config: KioskConfig, clock=None) -> Store:  # noqa: ANN001
    store = Store.from_config(config, clock or SystemClock())
    store.upsert_pensioner(Pensioner(A, "张三", "110101"))
    store.add_reference(A, np.ones(128), "roster_photo")
    return store


def test_fresh_terminal_is_ok_but_the_empty_roster_is_a_warning(config: KioskConfig, data_dir: Path) -> None:
    got = results(config)
    assert {name: status for name, (status, _, _) in got.items()} == {
        "data dir writable": Status.OK, "free disk": Status.OK, "schema current": Status.OK,
        "key present": Status.OK, "roster": Status.WARNING, "outbox backlog": Status.OK}
    assert "kiosk roster import" in got["roster"][2]
    assert not (data_dir / DB_FILE_NAME).exists()  # the doctor only looks
    assert not config.terminal.resolved_key_file().exists()


def test_working_terminal_is_all_ok(config: KioskConfig) -> None:
    filled_store(config).close()
    got = results(config)
    assert all(status is Status.OK for status, _, _ in got.values()), got
    assert "opens 1 face template" in got["key present"][1]
    assert "1 pensioner(s), 1 with a face reference" == got["roster"][1]


def test_lost_key_asks_for_re_enrolment_and_damaged_key_blocks(config: KioskConfig) -> None:
    filled_store(config).close()
    key = config.terminal.resolved_key_file()
    secret = key.read_bytes()
    key.unlink()
    status, detail, hint = results(config)["key present"]
    assert status is Status.WARNING and "1 face templates cannot be opened" in detail and "re-enrol" in hint
    key.write_bytes(os.urandom(32))  # a different key: the stored template was sealed with the old one
    key.chmod(0o600)
    status, detail, hint = results(config)["key present"]
    assert status is Status.WARNING and "1 of 1" in detail and "re-enrol" in hint
    key.write_bytes(secret[:10])  # damaged
    findings = [f for f in run_checks(config, checks_core.CHECKS) if f.check.name == "key present"]
    assert findings[0].result.status is Status.FAILED and findings[0].blocks_certification


def test_altered_template_fails_the_key_check(config: KioskConfig) -> None:
    store = filled_store(config)
    blob = bytearray(store.db.execute("SELECT ciphertext FROM face_references").fetchone()[0])
    blob[-1] ^= 0x01
    store.db.execute("UPDATE face_references SET ciphertext = ?", [bytes(blob)])
    store.close()
    assert results(config)["key present"][0] is Status.FAILED


def test_open_key_permissions_are_a_warning(config: KioskConfig) -> None:
    filled_store(config).close()
    config.terminal.resolved_key_file().chmod(0o644)
    status, detail, _ = results(config)["key present"]
    assert status is Status.WARNING and "644" in detail


def test_unwritable_data_dir_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(blocker / "data"))
    status, detail, hint = results(load_config())["data dir writable"]
    assert status is Status.FAILED and "cannot be created" in detail and "terminal.data_dir" in hint
    monkeypatch.setenv("KIOSK_DATA_DIR", str(blocker))
    assert results(load_config())["data dir writable"][0] is Status.FAILED


def test_low_disk_warns_then_fails(config: KioskConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    import kiosk.disk

    usage = namedtuple("usage", "total used free")
    need = config.terminal.min_free_disk_mb * 1_000_000  # decimal megabytes, as the session counts them
    for free, expected in ((need * 3, Status.OK), (need * 3 // 2, Status.WARNING), (need // 2, Status.FAILED),
                           (need - 1, Status.FAILED), (need, Status.WARNING)):
        monkeypatch.setattr(kiosk.disk.shutil, "disk_usage", lambda _p, f=free: usage(10 * need, 0, f))
        assert results(config)["free disk"][0] is expected


def test_schema_pending_newer_and_damaged(config: KioskConfig, data_dir: Path) -> None:
    from sqlite_utils import Database

    db = Database(data_dir / DB_FILE_NAME)
    schema.migrations.ensure_migrations_table(db)
    status, detail, _ = results(config)["schema current"]
    assert status is Status.WARNING and f"{schema.SCHEMA_VERSION} migration(s) to apply" in detail
    schema.migrate(db)
    assert results(config)["schema current"][0] is Status.OK
    db["_sqlite_migrations"].insert({"migration_set": schema.MIGRATION_SET, "name": "9999_future", "applied_at": "x"})
    db.close()
    status, detail, _ = results(config)["schema current"]
    assert status is Status.FAILED and "newer kiosk" in detail
    (data_dir / DB_FILE_NAME).write_bytes(b"garbage" * 1000)
    got = results(config)
    assert got["schema current"][0] is Status.FAILED
    assert got["roster"][0] is Status.WARNING and got["outbox backlog"][0] is Status.WARNING


def test_old_outbox_backlog_warns(config: KioskConfig) -> None:
    clock = FakeClock(datetime.now(CHINA_STANDARD_TIME) - timedelta(days=4))
    store = filled_store(config, clock)
    ids = [store.record_attempt(CertificationRecord(session_id="s", occurred_at=clock.now(), device_id="D",
                                                    region_code="110101", id_number=A, outcome="mismatch", attempt=n))
           for n in (1, 2)]
    status, detail, hint = results(config)["outbox backlog"]
    assert status is Status.WARNING and "oldest for 96 h" in detail and "network" in hint
    store.mark_sent([ids[0]])
    store.mark_rejected(ids[1], "bad_signature")
    store.close()
    status, detail, _ = results(config)["outbox backlog"]
    assert status is Status.OK and detail == "0 waiting, 1 sent, 1 set aside"


def test_kiosk_doctor_end_to_end(config: KioskConfig, capsys: pytest.CaptureFixture[str]) -> None:
    filled_store(config).close()
    status = run_cli(["doctor", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ours = {line["check"]: line["status"] for line in lines if line["check"] in CORE}
    assert ours == dict.fromkeys(CORE, "ok")
    # Other areas' checks (reader, camera, models, centre) may fail on a machine without devices:
    # the exit status is 1 exactly when a required check failed.
    blocked = any(line["status"] == "failed" for line in lines if line["check"] not in {"roster", "outbox backlog"})
    assert status == (1 if blocked else 0)
    config.terminal.resolved_key_file().write_bytes(b"broken")
    assert run_cli(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "failed " in out and "key present" in out and "restore the key file" in out
