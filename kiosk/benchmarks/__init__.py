"""Benchmarks, one module per area, run by ``kiosk bench`` / ``make bench``.

Each module defines ``NAME`` (short area name) and ``run(media_dir: Path | None) -> list[Measurement]``.
Benchmarks print numbers; tests never assert on timing.
"""

from __future__ import annotations

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
