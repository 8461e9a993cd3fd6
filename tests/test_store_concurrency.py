"""Opening a data folder from many processes at once: create, switch to WAL, migrate, never 'locked'.

A real terminal starts the kiosk service while a technician runs ``kiosk sync`` or ``kiosk roster
import``; each opens (and, on a new folder, creates and migrates) the same database. SQLite does not
apply the busy handler to every lock taken while the journal mode changes, so this is tested with
real processes on a real file, not with threads alone.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.store import DB_FILE_NAME, Store

ROOT = Path(__file__).resolve().parent.parent

# Each child process imports everything first, then, for each round of the schedule it takes part
# in, waits for that round's go file and opens the round's fresh folder from its threads at once, so
# that the opens themselves (not the interpreter start-ups) overlap. It prints one JSON line a round:
# the failures it saw.
_CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from kiosk.clock import FakeClock
from kiosk.store import Store
base, index, schedule = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
for round_no, (processes, threads) in enumerate(schedule):
    if index >= processes:
        continue
    data, go = base / f"round{round_no}" / "data", base / f"go{round_no}"
    barrier, failures = threading.Barrier(threads), []
    def open_one(tag):
        barrier.wait()
        try:
            store = Store.open(data, data / "device.key", FakeClock())
            store.set_meta(f"opened_by_{tag}", "1")
            store.close()
        except Exception as exc:
            failures.append(f"{getattr(exc, 'code', type(exc).__name__)}: {exc}")
    while not go.exists():
        time.sleep(0.0005)
    workers = [threading.Thread(target=open_one, args=(f"{index}_{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(failures), flush=True)
"""

# (processes, threads per process) of each round. The first round is 100 opens at once; the race
# the lock guards against is likeliest with a few openers (with many, one wins the switch to WAL
# early and the rest find it done), so most rounds have two to four processes: before the fix
# about one such round in twenty failed with "database is locked".
SCHEDULE = [(10, 10)] + [(2, 1), (3, 1), (2, 2), (4, 1)] * 25
PROCESSES = max(processes for processes, _threads in SCHEDULE)


@pytest.mark.slow
def test_concurrent_opens_of_a_new_folder_never_fail(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), str(index), json.dumps(SCHEDULE)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for index in range(PROCESSES)
    ]
    failures: list[str] = []
    try:
        for round_no, (processes, threads) in enumerate(SCHEDULE):
            (tmp_path / f"go{round_no}").touch()
            round_failures: list[str] = []
            for child in children[:processes]:
                line = child.stdout.readline()  # type: ignore[union-attr]
                assert line, child.stderr.read()[-2000:]  # type: ignore[union-attr]
                round_failures += json.loads(line)
            data = tmp_path / f"round{round_no}" / "data"
            with Store.open(data, data / "device.key", FakeClock()) as store:
                opened = store.db.execute("SELECT count(*) FROM meta WHERE key LIKE 'opened_by_%'").fetchone()[0]
            assert opened == processes * threads - len(round_failures)
            failures += round_failures
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
    total = sum(processes * threads for processes, threads in SCHEDULE)
    print(f"\n{total} opens of fresh folders by concurrent processes ({len(SCHEDULE)} rounds, "
          f"the first with {SCHEDULE[0][0] * SCHEDULE[0][1]} at once): {len(failures)} failures")
    assert failures == []


def test_threads_opening_a_new_folder_at_once_all_succeed(tmp_path: Path) -> None:
    """The same race inside one process (the app's threads each open their own Store): every round
    a new folder, since only a new file is switched to WAL; a few openers, where the race lives."""
    errors: list[str] = []

    def open_one(data: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            Store.open(data, data / "device.key", FakeClock()).close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    for round_no in range(40):
        data, start = tmp_path / f"data{round_no}", threading.Barrier(4)
        threads = [threading.Thread(target=open_one, args=(data, start)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_the_database_file_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would make a plain new file 0644
    try:
        Store.open(tmp_path / "data", tmp_path / "data" / "device.key", FakeClock()).close()
    finally:
        os.umask(old)
    for name in (DB_FILE_NAME, f"{DB_FILE_NAME}-wal", f"{DB_FILE_NAME}-shm"):
        path = tmp_path / "data" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{name} is {oct(path.stat().st_mode)}"


def test_an_existing_folder_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    """The kiosk tightens only a folder it creates; it never chmods one somebody else made."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    Store.open(shared, shared / "device.key", FakeClock()).close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    created = tmp_path / "new" / "data"
    Store.open(created, created / "device.key", FakeClock()).close()
    assert stat.S_IMODE(created.stat().st_mode) == 0o700
