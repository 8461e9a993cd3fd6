"""Certification-cycle rules: when a pensioner is due, in grace, or suspended. Pure functions.

Dates are calendar dates in the hall's local time (``datetime.date``); no time zones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from kiosk.errors import KioskError


class PolicyDateError(KioskError, ValueError):
    """A date the rules give (due date, end of grace, start of suspension) would fall after
    9999-12-31, the last day ``datetime.date`` can hold: a typing or data error, never a state to
    show a person. A ``ValueError`` too, for callers that already catch bad dates."""

    code = "policy_date_out_of_range"


class CycleState(StrEnum):
    """Where a pensioner stands on a given day."""

    VALID = "valid"
    GRACE = "grace"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class CycleStatus:
    """The rules applied to one last-certified date on one day.

    ``suspended_from`` is the first day of the month after ``grace_until`` (national texts: payment
    stops from the next month). ``back_pay_months`` counts whole calendar months from the month of
    ``suspended_from`` up to, not including, the month of ``day``; 0 when payment is not suspended.
    """

    last_certified: date
    day: date
    due_date: date
    grace_until: date
    state: CycleState
    suspended_from: date
    payment_suspended: bool
    back_pay_months: int

    def to_json(self) -> dict[str, Any]:
        """The keys of ``kiosk policy --json``, dates as ISO strings."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
        out["state"] = str(self.state)
        return out


def cycle_status(last_certified: date, day: date, *, cycle_days: int = 365, grace_days: int = 15) -> CycleStatus:
    """Applies the region's cycle rules (``cycle_days``, ``grace_days``, both in days) to ``day``.

    Raises ValueError when ``day`` is before ``last_certified`` (a clock or data error, never a
    state to show a person) or when a day count is negative, and :class:`PolicyDateError` (also a
    ValueError) when a date the rules give would fall after 9999-12-31.
    """
    if cycle_days <= 0 or grace_days < 0:
        raise ValueError("cycle_days must be positive and grace_days not negative")
    if day < last_certified:
        raise ValueError("the day is before the last certification")
    try:
        due_date = last_certified + timedelta(days=cycle_days)
        grace_until = due_date + timedelta(days=grace_days)
    except OverflowError:
        raise PolicyDateError(f"last certified {last_certified} + {cycle_days} days cycle + {grace_days} days grace "
                              f"ends after {date.max}, the last date the rules can compute") from None
    if day <= due_date:
        state = CycleState.VALID
    elif day <= grace_until:
        state = CycleState.GRACE
    else:
        state = CycleState.OVERDUE
    try:
        suspended_from = first_of_next_month(grace_until)
    except PolicyDateError:
        raise PolicyDateError(f"last certified {last_certified}: grace ends {grace_until}, so payment would be "
                              f"suspended from a month after {date.max}, the last date the rules can compute") from None
    payment_suspended = day >= suspended_from
    back_pay = months_between(suspended_from, day) if payment_suspended else 0
    return CycleStatus(
        last_certified=last_certified,
        day=day,
        due_date=due_date,
        grace_until=grace_until,
        state=state,
        suspended_from=suspended_from,
        payment_suspended=payment_suspended,
        back_pay_months=back_pay,
    )


def first_of_next_month(day: date) -> date:
    """The first day of the month after ``day``'s month; :class:`PolicyDateError` in December 9999."""
    if day.month != 12:
        return date(day.year, day.month + 1, 1)
    if day.year == date.max.year:
        raise PolicyDateError(f"the month after {day:%Y-%m} is after {date.max}, the last date the rules can compute")
    return date(day.year + 1, 1, 1)


def months_between(start: date, end: date) -> int:
    """Whole calendar months from ``start``'s month up to, not including, ``end``'s month (≥ 0)."""
    return max(0, (end.year - start.year) * 12 + (end.month - start.month))
