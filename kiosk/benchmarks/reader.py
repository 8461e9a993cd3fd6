"""Benchmark of the card read: from the find that sees a card to the parsed, validated identity.

The reader simulator runs in its own process behind a real pseudo-terminal, paced at 115200 baud
(10 bits a byte), and the host talks to it through the real serial stack (pyserial on the tty).
With the card lying on the reader, each round times what the reader service does once it sees a
card: find + select + read base info (`30 01`, 1295 bytes) + parse and validate. The wire time of the read alone is
112 ms; target: median and p95 at most 150 ms. The poll interval (``reader.poll_interval_s``) adds
up to one interval before the find that sees a newly laid card: that wait is reported apart.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from kiosk.benchmarks import Measurement, median_p95

NAME = "reader"
ROUNDS = 30


def run(media_dir: Path | None) -> list[Measurement]:
    """Runs :data:`ROUNDS` reads against a paced pty simulator; ``media_dir`` is not needed."""
    from reader.transport import open_reader

    server = subprocess.Popen(
        [sys.executable, "-m", "reader.pty_server", "--card", "resident_long_term", "--pace"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        path = server.stdout.readline().strip()
        reader = open_reader(path, baudrate=115200, timeout_s=3.0)
        try:
            reader.sam_status()
            times_ms: list[float] = []
            find_ms: list[float] = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                if not reader.find_card():
                    raise RuntimeError("the simulated card is not on the reader")
                found = time.perf_counter()
                card = reader.read_card(find=False)
                times_ms.append((time.perf_counter() - started) * 1000)
                find_ms.append((found - started) * 1000)
                del card  # nothing personal is kept or printed
        finally:
            reader.close()
    finally:
        server.terminate()
        server.wait(timeout=5)
    note = f"pty simulator paced at 115200 baud, {ROUNDS} rounds"
    return [
        *median_p95("card laid -> identity parsed (find+select+read+parse)", times_ms, "<= 150", note),
        Measurement("find card round trip, median", statistics.median(find_ms), "ms", "", note),
        Measurement("wire time of the 1295-byte base-info answer (computed)", 1295 * 10 / 115200 * 1000, "ms"),
    ]
