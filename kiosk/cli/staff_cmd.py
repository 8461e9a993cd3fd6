"""``kiosk staff``: the hall's staff accounts (add, list, disable, enable) on this terminal."""

from __future__ import annotations

import sys

import click

from kiosk.cli import CliState, pass_state
from kiosk.clock import SystemClock
from kiosk.staff_accounts import add_staff_account, disable_staff_account
from kiosk.store import Store
from kiosk.store.staff import STAFF_ROLES


@click.group()
def staff_command() -> None:
    """Staff accounts (their own PIN or card; used for face-to-face certification at the terminal)."""


@staff_command.command("add")
@click.option("--number", "staff_number", required=True, help="Staff number (工号): letters, digits, '-' or '_'.")
@click.option("--name", required=True, help="The staff member's name.")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(STAFF_ROLES)), default=("verifier",),
              show_default=True, help="What they may do (repeat for several).")
@click.option("--card", "with_card", is_flag=True, help="Also register a staff card (its number is asked for).")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN (and then the card number) from standard input.")
@pass_state
def add_command(state: CliState, staff_number: str, name: str, roles: tuple[str, ...], with_card: bool,
                pin_stdin: bool) -> None:
    """Add a staff account; only a salted scrypt hash of the PIN is stored."""
    if pin_stdin:
        pin = sys.stdin.readline().strip()
        card = sys.stdin.readline().strip() if with_card else None
    else:
        pin = click.prompt("PIN (4-12 digits)", hide_input=True, confirmation_prompt="Repeat the PIN")
        card = click.prompt("Card number", hide_input=True) if with_card else None
    with Store.from_config(state.config, SystemClock()) as store:
        account = add_staff_account(store, staff_number, name, pin, set(roles), card)
    click.echo(f"staff {account.staff_number} added ({', '.join(sorted(account.roles))})")


@staff_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def list_command(state: CliState, as_json: bool) -> None:
    """List the staff accounts (never a PIN or a card number)."""
    import json

    with Store.from_config(state.config, SystemClock()) as store:
        accounts = store.staff_accounts()
    for account in accounts:
        if as_json:
            click.echo(json.dumps({"staff_number": account.staff_number, "name": account.name,
                                   "roles": sorted(account.roles), "disabled": account.disabled,
                                   "card": account.has_card}, ensure_ascii=False))
        else:
            flags = " (disabled)" if account.disabled else ""
            card = " card" if account.has_card else ""
            click.echo(f"{account.staff_number}\t{account.name}\t{','.join(sorted(account.roles))}{card}{flags}")
    if not accounts and not as_json:
        click.echo("no staff accounts (add one with `kiosk staff add`)")


@staff_command.command("disable")
@click.argument("staff_number")
@pass_state
def disable_command(state: CliState, staff_number: str) -> None:
    """Disable an account (kept for the records that name it)."""
    _set_disabled(state, staff_number, True)


@staff_command.command("enable")
@click.argument("staff_number")
@pass_state
def enable_command(state: CliState, staff_number: str) -> None:
    """Enable a disabled account again."""
    _set_disabled(state, staff_number, False)


def _set_disabled(state: CliState, staff_number: str, disabled: bool) -> None:
    with Store.from_config(state.config, SystemClock()) as store:
        if not disable_staff_account(store, staff_number, disabled):
            raise click.ClickException(f"no staff account {staff_number}")
    click.echo(f"staff {staff_number} {'disabled' if disabled else 'enabled'}")
