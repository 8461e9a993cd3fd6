"""Time, injected: the core never reads the system clock directly, so tests advance a fake clock."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Protocol

# The hall's time zone is part of the wire contract (a roster's calendar days): one definition.
from wire.roster_csv import CHINA_STANDARD_TIME  # noqa: F401 - re-exported


class Clock(Protocol):
    """Wall-clock time for records and dates, monotonic seconds for timeouts."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""


class SystemClock:
    """The real clock. Dates shown to people are in China Standard Time (UTC+8)."""

    def now(self) -> datetime:
        return datetime.now(CHINA_STANDARD_TIME)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand with :meth:`advance`. Not thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Moves both clocks forward by ``seconds``."""
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def today(clock: Clock) -> date:
    """The local calendar day of ``clock``."""
    return clock.now().astimezone(CHINA_STANDARD_TIME).date()
