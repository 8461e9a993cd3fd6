"""``kiosk roster``: import the roster of pensioners from a CSV file, and look one person up (masked)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import click

from kiosk.cli import CliState, pass_state
from kiosk.clock import Clock, SystemClock, today
from kiosk.config import KioskConfig
from kiosk.policy import cycle_status
from kiosk.roster_import import import_roster
from kiosk.store import Store
from reader.card import mask_name
from reader.idnumber import InvalidIdNumber, parse_card_number


@click.group()
def roster_command() -> None:
    """Import the roster of pensioners and look one up."""


@roster_command.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--photos", "photos_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Folder of the photos named in the photo column; builds a face template per photo.")
@click.option("--region", "region_code", default=None,
              help="6-digit region code of the pensioners (default: terminal.region_code).")
@click.option("--dry-run", is_flag=True, help="Check the file and report problems; write nothing.")
@pass_state
def import_command(state: CliState, csv_file: Path, photos_dir: Path | None, region_code: str | None,
                   dry_run: bool) -> None:
    """Import CSV_FILE (columns id_number,name,last_certified,photo; UTF-8 or GB18030).

    Bad rows are reported by line and skipped, the rest is imported; importing again updates.
    Exit status 1 when any row was skipped.
    """
    config = state.config
    region = region_code or config.terminal.region_code
    if not re.fullmatch(r"[0-9]{6}", region):  # not \d: it takes any script's digits (#13)
        raise click.BadParameter("a region code is 6 digits", param_hint="--region")
    clock = SystemClock()
    with Store.from_config(config, clock) as store:
        summary = import_roster(store, csv_file, region_code=region, today=today(clock), photos_dir=photos_dir,
                                build_templates=photos_dir is not None, dry_run=dry_run,
                                match_settings=config.match)
    for note in summary.notes:
        click.echo(note, err=True)
    for problem in summary.problems:
        click.echo(str(problem), err=True)
    if summary.templates_built or photos_dir is not None:
        click.echo(f"face templates built {summary.templates_built}")
    if summary.photos_pending:
        click.echo(f"photos kept for later templates {summary.photos_pending}")
    click.echo(summary.line())
    if summary.skipped:
        raise SystemExit(1)


@roster_command.command("show")
@click.argument("id_number")
@pass_state
def show_command(state: CliState, id_number: str) -> None:
    """Show one pensioner, masked: surname, first 6 and last 2 of the number, certification state."""
    try:
        number = parse_card_number(id_number)
    except InvalidIdNumber as exc:
        raise click.BadParameter(f"not a valid ID number ({exc.code})", param_hint="ID_NUMBER") from None
    config = state.config
    clock = SystemClock()
    with Store.from_config(config, clock) as store:
        person = store.get_pensioner(number.value)
        references = store.reference_count(number.value) if person else {"total": 0, "unreadable": 0}
    if person is None:
        raise click.ClickException(f"{number.masked()} is not in the roster (import the roster, or send the person "
                                   "to the counter)")
    click.echo(f"name            {mask_name(person.name)}")
    click.echo(f"id number       {number.masked()}")
    click.echo(f"region          {person.region_code}")
    click.echo(f"last certified  {person.last_certified or 'never'}")
    click.echo(f"state           {_state(person.last_certified, config, clock)}")
    click.echo(f"face reference  {_reference_text(references)}")
    click.echo(f"roster photo    {'yes' if person.photo_path else 'no'}")


def _reference_text(references: dict[str, int]) -> str:
    usable = references["total"] - references["unreadable"]
    if references["unreadable"]:
        return f"{'yes' if usable else 'no'} ({references['unreadable']} sealed with a lost key: re-enrol)"
    return "yes" if usable else "no"


def _state(last: date | None, config: KioskConfig, clock: Clock) -> str:
    if last is None:
        return "due now (never certified here)"
    day = today(clock)
    if day < last:
        return "unknown: the last certification is after today (check the clock)"
    status = cycle_status(last, day, cycle_days=config.rules.cycle_days, grace_days=config.rules.grace_days)
    text = f"{status.state} (due {status.due_date}, grace until {status.grace_until})"
    if status.payment_suspended:
        text += f", payment suspended since {status.suspended_from}, back pay {status.back_pay_months} month(s)"
    return text
