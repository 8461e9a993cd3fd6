"""``kiosk policy``: the dates hall staff give a pensioner asking "when must I come back?"."""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from kiosk.cli import CliState, pass_state
from kiosk.policy import PolicyDateError, cycle_status


def _iso_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


@click.command()
@click.option("--last-certified", required=True, callback=_iso_date, help="Last certification date, YYYY-MM-DD.")
@click.option("--on", "on_day", callback=_iso_date, default=None, help="The day to evaluate (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def policy_command(state: CliState, last_certified: date, on_day: date | None, as_json: bool) -> None:
    """Due date, grace period and suspension for a last-certified date, with the region's rules."""
    rules = state.config.rules
    day = on_day or date.today()
    try:
        status = cycle_status(last_certified, day, cycle_days=rules.cycle_days, grace_days=rules.grace_days)
    except PolicyDateError:
        raise  # a KioskError: main() prints it with its code, exit status 2
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--on") from None
    if as_json:
        click.echo(json.dumps(status.to_json(), ensure_ascii=False))
        return
    click.echo(f"last certified      {status.last_certified}")
    click.echo(f"on                  {status.day}")
    click.echo(f"state               {status.state}")
    click.echo(f"due date            {status.due_date}")
    click.echo(f"grace until         {status.grace_until}")
    click.echo(f"suspended from      {status.suspended_from}")
    click.echo(f"payment suspended   {'yes' if status.payment_suspended else 'no'}")
    click.echo(f"back pay (months)   {status.back_pay_months}")
