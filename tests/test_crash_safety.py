"""The store survives `kill -9` in the middle of writing: every record a child reported committed is there.

A child process writes certification records (with their outbox row, an encrypted evidence image
and an audit entry) in a tight loop and prints each record id after its transaction committed; it
also marks older records sent and reports that. The parent kills it with SIGKILL at an arbitrary
point, then checks ``PRAGMA integrity_check`` and that everything reported is in the file. Several
rounds run on the same database, so recovery of a WAL left by a killed writer is exercised too.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kiosk.clock import SystemClock, today
from kiosk.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
A = "11010519491231002X"

CHILD = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path
    from kiosk.clock import SystemClock, today
    from kiosk.store import CertificationRecord, Pensioner, Store

    clock = SystemClock()
    store = Store.open(Path(sys.argv[1]), Path(sys.argv[2]), clock, evidence_retention_days=30)
    store.upsert_pensioner(Pensioner("{A}", "张三", "110101"))
    evidence = b"\\xff\\xd8" + bytes(range(256)) * 200  # ~50 kB: a write spans many pages
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        record = CertificationRecord(
            session_id=f"{{sys.argv[3]}}-{{n}}", occurred_at=clock.now(), device_id="KIOSK-CRASH",
            region_code="110101", id_number="{A}", outcome="certified" if n % 7 == 0 else "mismatch",
            match_distance=0.5, attempt=1, evidence_jpeg=evidence)
        record_id = store.record_attempt(record)
        sys.stdout.write(f"R {{record_id}}\\n")
        sys.stdout.flush()
        store.audit(record.session_id, "record_stored", record.outcome, {{"n": n}})
        if n % 10 == 0:
            batch = [item.record_id for item in store.pending_outbox(5, clock.now())]
            store.mark_sent(batch)
            sys.stdout.write("S " + " ".join(batch) + "\\n")
            sys.stdout.flush()
    """
)


def run_child_and_kill(data_dir: Path, key_file: Path, round_no: int, kill_after: int) -> tuple[list[str], list[str]]:
    """Starts the writer, kills it with SIGKILL after ``kill_after`` reported records; returns what it reported."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), str(key_file), f"round{round_no}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT)
    assert child.stdout is not None
    try:
        first = child.stdout.readline()
        assert first == b"ready\n", child.stderr.read().decode() if child.stderr else first
        lines: list[bytes] = []
        while sum(line.startswith(b"R ") for line in lines) < kill_after:
            line = child.stdout.readline()
            assert line, "the writer stopped by itself: " + (child.stderr.read().decode() if child.stderr else "")
            lines.append(line)
        os.kill(child.pid, signal.SIGKILL)  # the child is in the middle of its next transaction
        child.wait(timeout=30)
        lines.extend(child.stdout.readlines())  # reported before the kill, still in the pipe
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    complete = [line.decode().rstrip("\n") for line in lines if line.endswith(b"\n")]  # a torn last line is unreported
    recorded = [line[2:] for line in complete if line.startswith("R ")]
    sent = [rid for line in complete if line.startswith("S ") for rid in line[2:].split()]
    return recorded, sent


@pytest.mark.slow
def test_every_reported_record_survives_sigkill(tmp_path: Path) -> None:
    data_dir, key_file = tmp_path / "data", tmp_path / "keys" / "device.key"
    rng = random.Random(20260520)
    all_recorded: list[str] = []
    all_sent: list[str] = []
    for round_no in range(3):
        recorded, sent = run_child_and_kill(data_dir, key_file, round_no, kill_after=rng.randint(40, 160))
        all_recorded += recorded
        all_sent += sent
        conn = sqlite3.connect(data_dir / "kiosk.db")  # recovers the WAL left by the killed writer
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            stored = {row[0] for row in conn.execute("SELECT record_id FROM certifications")}
            queued = {row[0] for row in conn.execute("SELECT record_id FROM outbox")}
            evidence = {row[0] for row in conn.execute("SELECT record_id FROM evidence")}
            sent_rows = {row[0] for row in conn.execute("SELECT record_id FROM outbox WHERE state = 'sent'")}
        finally:
            conn.close()
        missing = set(all_recorded) - stored
        assert not missing, f"round {round_no}: {len(missing)} reported records lost"
        assert stored == queued == evidence  # never a record without its outbox row, nor the reverse
        assert len(stored) - len(all_recorded) <= round_no + 1  # at most one committed-but-unreported per kill
        assert set(all_sent) <= sent_rows

    store = Store.open(data_dir, key_file, SystemClock(), evidence_retention_days=30)
    try:
        assert store.get_pensioner(A).last_certified == today(SystemClock())  # every 7th record certified
        record = store.get_record(all_recorded[-1])
        assert record is not None and record.device_id == "KIOSK-CRASH"
        assert store.evidence_jpeg(all_recorded[0]).startswith(b"\xff\xd8")  # still decrypts after the crashes
        assert store.outbox_counts()["sent"] == len(set(all_sent))
    finally:
        store.close()
