"""``kiosk doctor``: is this terminal able to certify? One line per check."""

from __future__ import annotations

import json
import sys

import click

from kiosk.cli import CliState, pass_state
from kiosk.config import load_config
from kiosk.doctor import CheckResult, Status, run_checks
from kiosk.errors import ConfigError

_MARK = {Status.OK: "ok     ", Status.WARNING: "warning", Status.FAILED: "failed "}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per check.")
@pass_state
def doctor_command(state: CliState, as_json: bool) -> None:
    """Check everything a certification needs; exit status 1 when something required failed."""
    try:
        config = load_config(state.config_path)
    except ConfigError as exc:
        _print("config valid", CheckResult(Status.FAILED, exc.message, "fix the file and key named above"), as_json)
        sys.exit(1)
    _print("config valid", CheckResult(Status.OK, "all keys valid"), as_json)
    blocked = False
    for finding in run_checks(config):
        _print(finding.check.name, finding.result, as_json)
        blocked |= finding.blocks_certification
    sys.exit(1 if blocked else 0)


def _print(name: str, result: CheckResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"check": name, "status": str(result.status), "detail": result.detail,
                               "hint": result.hint}, ensure_ascii=False))
        return
    hint = f"  -> {result.hint}" if result.hint and result.status is not Status.OK else ""
    click.echo(f"{_MARK[result.status]}  {name:<26} {result.detail}{hint}")
