"""Certification-cycle rules: the worked example, boundaries, and properties over many dates."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, strategies as st

from conftest import run_cli
from kiosk.errors import KioskError
from kiosk.policy import CycleState, PolicyDateError, cycle_status, first_of_next_month, months_between


def test_worked_example_from_the_issue() -> None:
    status = cycle_status(date(2025, 1, 10), date(2026, 5, 20))
    assert status.due_date == date(2026, 1, 10)
    assert status.grace_until == date(2026, 1, 25)
    assert status.state is CycleState.OVERDUE
    assert status.suspended_from == date(2026, 2, 1)
    assert status.payment_suspended
    assert status.back_pay_months == 3


@pytest.mark.parametrize(
    ("day", "state", "suspended"),
    [
        (date(2026, 1, 10), CycleState.VALID, False),  # the due date itself is still valid
        (date(2026, 1, 11), CycleState.GRACE, False),
        (date(2026, 1, 25), CycleState.GRACE, False),  # last day of grace
        (date(2026, 1, 26), CycleState.OVERDUE, False),  # overdue, but suspension starts next month
        (date(2026, 1, 31), CycleState.OVERDUE, False),
        (date(2026, 2, 1), CycleState.OVERDUE, True),
    ],
)
def test_boundaries(day: date, state: CycleState, suspended: bool) -> None:
    status = cycle_status(date(2025, 1, 10), day)
    assert status.state is state
    assert status.payment_suspended is suspended
    assert status.back_pay_months == 0


def test_leap_day_and_year_end() -> None:
    status = cycle_status(date(2024, 2, 29), date(2025, 2, 28))
    assert status.due_date == date(2025, 2, 28)
    assert status.state is CycleState.VALID
    late = cycle_status(date(2024, 12, 10), date(2026, 3, 2))
    assert late.grace_until == date(2025, 12, 25)
    assert late.suspended_from == date(2026, 1, 1)
    assert late.back_pay_months == 2


def test_day_before_last_certification_is_refused() -> None:
    with pytest.raises(ValueError):
        cycle_status(date(2025, 5, 1), date(2025, 4, 30))


dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))


@given(last=dates, offset=st.integers(min_value=0, max_value=2000), cycle=st.integers(30, 800), grace=st.integers(0, 180))
def test_properties(last: date, offset: int, cycle: int, grace: int) -> None:
    day = last + timedelta(days=offset)
    status = cycle_status(last, day, cycle_days=cycle, grace_days=grace)
    assert (status.due_date - last).days == cycle
    assert (status.grace_until - status.due_date).days == grace
    assert status.suspended_from.day == 1 and status.suspended_from > status.grace_until
    assert (status.suspended_from - status.grace_until).days <= 31
    assert (status.state is CycleState.VALID) == (day <= status.due_date)
    assert (status.state is CycleState.OVERDUE) == (day > status.grace_until)
    assert status.payment_suspended == (day >= status.suspended_from)
    if status.payment_suspended:
        assert status.state is CycleState.OVERDUE
        assert status.back_pay_months == months_between(status.suspended_from, day)
    else:
        assert status.back_pay_months == 0


@given(day=dates)
def test_first_of_next_month(day: date) -> None:
    nxt = first_of_next_month(day)
    assert nxt.day == 1 and nxt > day and (nxt - day).days <= 31


def test_cli_prints_the_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["policy", "--last-certified", "2025-01-10", "--on", "2026-05-20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["due_date"] == "2026-01-10"
    assert out["grace_until"] == "2026-01-25"
    assert out["state"] == "overdue"
    assert out["suspended_from"] == "2026-02-01"
    assert out["payment_suspended"] is True
    assert out["back_pay_months"] == 3


def test_cli_rejects_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["policy", "--last-certified", "2025-13-40"]) != 0
    assert "YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize(("last", "day"), [
    (date(9999, 12, 31), date(9999, 12, 31)),  # the due date would be in the year 10000
    (date(9999, 1, 31), date(9999, 12, 31)),
    (date(9998, 12, 20), date(9999, 12, 31)),  # due 9999-12-20, but grace runs into the year 10000
    (date(9998, 12, 1), date(9999, 12, 31)),  # grace ends 9999-12-16: suspension would start 10000-01-01
])
def test_dates_past_the_last_representable_day_are_a_clear_error(last: date, day: date) -> None:
    with pytest.raises(PolicyDateError) as info:
        cycle_status(last, day)
    assert isinstance(info.value, KioskError) and isinstance(info.value, ValueError)
    assert info.value.code == "policy_date_out_of_range"
    assert "9999-12-31" in info.value.message and str(last) in info.value.message


def test_the_last_representable_dates_still_give_an_answer() -> None:
    status = cycle_status(date(9998, 11, 1), date(9999, 12, 31))
    assert status.due_date == date(9999, 11, 1) and status.suspended_from == date(9999, 12, 1)
    assert status.back_pay_months == 0 and status.payment_suspended


def test_first_of_next_month_after_the_last_month_is_a_clear_error() -> None:
    with pytest.raises(PolicyDateError):
        first_of_next_month(date(9999, 12, 5))


@pytest.mark.parametrize(("last", "on"), [("9999-12-31", "9999-12-31"), ("9999-01-31", "9999-12-31")])
def test_cli_says_a_date_is_out_of_range_instead_of_an_internal_error(
        capsys: pytest.CaptureFixture[str], last: str, on: str) -> None:
    status = run_cli(["policy", "--last-certified", last, "--on", on])
    err = capsys.readouterr().err
    assert status == 2 and status != 70, err
    assert "[policy_date_out_of_range]" in err and "9999-12-31" in err and "Traceback" not in err
