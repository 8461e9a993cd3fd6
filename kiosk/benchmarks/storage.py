"""Storage benchmark: the durable write of one attempt, roster lookups and import, template decryption.

Runs on a real file in a temporary folder (WAL, ``synchronous=FULL``: every commit is fsynced, so
the disk, not Python, sets the write numbers). About 20 seconds on the reference machine.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from kiosk.benchmarks import Measurement, median_p95
from kiosk.clock import SystemClock
from kiosk.reasons import Outcome
from kiosk.roster_import import import_roster
from kiosk.store import CertificationRecord, Store
from reader.idnumber import check_character

NAME = "storage"
ROSTER_ROWS = 100_000
WRITES = 300


def _timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _roster_csv(path: Path, rows: int) -> list[str]:
    """A synthetic roster of valid, distinct ID numbers (born 1940, sequence codes 000-999)."""
    numbers = []
    lines = ["id_number,name,last_certified"]
    for n in range(rows):
        first17 = f"1101011940{(n % 336) // 28 + 1:02d}{n % 28 + 1:02d}{n // 336:03d}"
        number = first17 + check_character(first17)
        numbers.append(number)
        lines.append(f"{number},测试{n},2025-01-10")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return numbers


def run(media_dir: Path | None) -> list[Measurement]:  # noqa: ARG001 - no media needed
    """All storage measurements, in a throw-away data folder."""
    out: list[Measurement] = []
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-storage-") as tmp:
        folder = Path(tmp)
        store = Store.open(folder / "data", folder / "device.key", clock, evidence_retention_days=30)
        try:
            numbers = _roster_csv(folder / "roster.csv", ROSTER_ROWS)
            start = time.perf_counter()
            import_roster(store, folder / "roster.csv", region_code="110101", today=date.today())
            seconds = time.perf_counter() - start
            out.append(Measurement(f"roster import of {ROSTER_ROWS} rows", ROSTER_ROWS / seconds, "rows/s"))
            sample = random.Random(1).sample(numbers, 1000)
            lookups = iter(sample)
            out += median_p95(f"get_pensioner among {ROSTER_ROWS} rows",
                              _timed(lambda: store.get_pensioner(next(lookups)), len(sample)))
            person = numbers[0]
            store.add_reference(person, np.random.default_rng(1).random(128), "roster_photo")
            out += median_p95("references(): decrypt one 128-d template", _timed(lambda: store.references(person), 500))
            for evidence, label in ((None, "no image"), (b"\xff\xd8" + bytes(50_000), "50 kB evidence image")):
                def write(evidence: bytes | None = evidence) -> None:
                    store.record_attempt(CertificationRecord(
                        session_id="bench", occurred_at=clock.now(), device_id="BENCH", region_code="110101",
                        id_number=person, outcome=Outcome.MISMATCH, match_distance=0.5, evidence_jpeg=evidence))
                out += median_p95(f"record_attempt + outbox, fsynced ({label})", _timed(write, WRITES),
                                  note="the time until the result may be announced")
            out += median_p95("pending_outbox(100)", _timed(lambda: store.pending_outbox(100, clock.now()), 50))
        finally:
            store.close()
    return out
