"""``kiosk technician``: set the technician PIN, clear a wrong-PIN lockout."""

from __future__ import annotations

import logging
import sys

import click

from kiosk.cli import CliState, pass_state
from kiosk.config import write_site_values
from kiosk.paths import SITE_CONFIG_FILE
from kiosk.technician import hash_pin, lockout_state_file

log = logging.getLogger(__name__)


@click.group()
def technician_command() -> None:
    """Technician mode settings."""


@technician_command.command("set-pin")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of standard input (scripts).")
@pass_state
def set_pin_command(state: CliState, pin_stdin: bool) -> None:
    """Set the technician PIN (4-12 digits); stores only a salted scrypt hash in the site file."""
    if pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("New technician PIN", hide_input=True, confirmation_prompt="Repeat the PIN")
    pin_hash = hash_pin(pin)  # PinError (a KioskError) says what is wrong, in one line
    site_file = state.config_path or SITE_CONFIG_FILE
    write_site_values(site_file, {"technician.pin_hash": pin_hash})
    log.info("technician PIN changed")
    click.echo(f"technician PIN set in {site_file}")


@technician_command.command("unlock")
@pass_state
def unlock_command(state: CliState) -> None:
    """Clear the lock after too many wrong PINs (needs access to this machine's shell)."""
    path = lockout_state_file(state.config.terminal.resolved_data_dir())
    path.unlink(missing_ok=True)
    click.echo("technician mode unlocked")
