"""Sync benchmark: 10,000 queued results drained through the centre on loopback, and a roster
delta of 100,000 pensioners applied; time and peak memory of both.

The reference centre runs as a child process (``python -m center serve``; ``kiosk/`` never imports
``center/``) on a free 127.0.0.1 port with a temporary SQLite database; the terminal side is the
real :class:`~kiosk.sync.worker.SyncWorker` with a real store in a temporary data folder. Memory is
the terminal process's peak resident set (``ru_maxrss``), which only grows: the roster figure is
therefore "peak so far"; the centre's own peak (VmHWM) is reported beside it.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from kiosk.benchmarks import Measurement
from kiosk.clock import SystemClock
from kiosk.config import load_config
from kiosk.paths import resource_root
from kiosk.reasons import Outcome
from kiosk.store import CertificationRecord, Store
from kiosk.sync.credentials import new_credentials, save_credentials
from kiosk.sync.worker import SyncWorker

NAME = "sync"
RESULTS = 10_000
ROSTER = 100_000


def run(media_dir: Path | None) -> list[Measurement]:  # noqa: ARG001 - no media needed
    """Runs both measurements (about a minute or two on the reference machine)."""
    return measure(results=RESULTS, roster=ROSTER)


def measure(results: int, roster: int) -> list[Measurement]:
    """The two measurements with the given sizes (smaller sizes for a quick look)."""
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-sync-") as folder:
        root = Path(folder)
        db = str(root / "centre.db")
        code = json.loads(_admin(db, "device", "add", "bench", "--device-id", "BENCH-1", "--json"))["enrolment_code"]
        port = _free_port()
        centre = _serve(db, port)
        try:
            config = load_config(env={"KIOSK_DATA_DIR": str(root / "data")})  # shipped defaults: batches of 100
            data_dir = config.terminal.resolved_data_dir()
            clock = SystemClock()
            save_credentials(data_dir, new_credentials(f"http://127.0.0.1:{port}", "BENCH-1", code))
            with Store.from_config(config, clock) as store:
                start = clock.now()
                with store.transaction():
                    for index in range(results):
                        store.record_attempt(CertificationRecord(
                            session_id=f"b{index}", occurred_at=start + timedelta(milliseconds=index),
                            device_id="BENCH-1", region_code="110101", id_number="110101194001010012",
                            outcome=Outcome.CERTIFIED, liveness_score=0.95, attack_score=0.02, match_distance=0.31))
                worker = SyncWorker(config, clock)
                rss_before = _peak_rss_mib()
                began = time.perf_counter()
                drained = worker.run_once(store)
                drain_s = time.perf_counter() - began
                rss_drain = _peak_rss_mib()
                _admin(db, "roster", "generate", "--count", str(roster), "--seed", "3")
                began = time.perf_counter()
                pulled = worker.run_once(store)
                roster_s = time.perf_counter() - began
                rss_roster = _peak_rss_mib()
                centre_peak = _vm_hwm_mib(centre.pid)
        finally:
            centre.terminate()
            centre.wait(10)
    note = f"error {drained.error}" if drained.error else f"{drained.pushed} pushed, batches of {config.sync.batch_size}"
    return [
        Measurement(f"drain {results} queued results through the centre", drain_s, "s", note=note),
        Measurement("  results per second", drained.pushed / drain_s if drain_s else 0.0, "1/s"),
        Measurement("  terminal peak RSS after the drain", rss_drain, "MiB", note=f"{rss_before:.0f} MiB before"),
        Measurement(f"apply a roster delta of {roster} pensioners", roster_s, "s",
                    note=f"error {pulled.error}" if pulled.error else f"{pulled.pulled} applied, pages of 1000"),
        Measurement("  pensioners per second", pulled.pulled / roster_s if roster_s else 0.0, "1/s"),
        Measurement("  terminal peak RSS after the roster", rss_roster, "MiB"),
        Measurement("  centre peak RSS", centre_peak, "MiB"),
    ]


def _admin(db: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "center", *args, "--db", db], cwd=resource_root(), check=True,
                          capture_output=True, text=True, timeout=1800).stdout


def _serve(db: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "center", "serve", "--port", str(port), "--db", db,
                                "--log-level", "warning"], cwd=resource_root(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/ping", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the centre did not start")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _vm_hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


if __name__ == "__main__":
    for measurement in measure(int(os.environ.get("RESULTS", RESULTS)), int(os.environ.get("ROSTER", ROSTER))):
        print(measurement.line())
