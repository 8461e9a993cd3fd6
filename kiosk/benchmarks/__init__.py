"""Benchmarks, one module per area, run by ``kiosk bench`` / ``make bench``.

Each module defines ``NAME`` (short area name) and ``run(media_dir: Path | None) -> list[Measurement]``.
Benchmarks print numbers; tests never assert on timing.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One measured number with its unit and, when the project has one, its target."""

    name: str
    value: float
    unit: str
    target: str = ""
    note: str = ""

    def line(self) -> str:
        """A one-line human rendering."""
        target = f"  (target {self.target})" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.name:<58} {self.value:>12.2f} {self.unit:<8}{target}{note}"


def p95(samples: list[float]) -> float:
    """The 95th percentile of ``samples`` (nearest rank: a value that was measured)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def median_p95(name: str, samples: list[float], target: str = "", note: str = "", unit: str = "ms") -> list[Measurement]:
    """Two measurements, ``NAME, median`` and ``NAME, p95``, of the same samples."""
    return [Measurement(f"{name}, median", statistics.median(samples), unit, target, note),
            Measurement(f"{name}, p95", p95(samples), unit, target, note)]


@contextmanager
def one_core() -> Iterator[None]:
    """Pins this process (all its threads, native ones too) to its lowest allowed core while the
    block runs, as the per-core targets say; a no-op where the system cannot pin."""
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if previous:
        os.sched_setaffinity(0, {min(previous)})
    try:
        yield
    finally:
        if previous:
            os.sched_setaffinity(0, previous)
