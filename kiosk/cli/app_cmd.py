"""``kiosk certify --headless``: one certification with no window.

It runs the very same runtime (controller, reader, camera, matcher) as ``kiosk run`` and prints
the outcome, so a recorded clip can be certified in tests and pilots. ``kiosk run`` and
``kiosk demo`` open the window and live in ``ui.commands`` (the core never imports Qt).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from kiosk.cli import CliState, pass_state
from kiosk.config import KioskConfig
from kiosk.flow import State
from kiosk.headless import certify_once
from kiosk.reasons import Outcome
from camera.challenge import parse_prompt
from kiosk.runtime import Devices

log = logging.getLogger(__name__)


def _prompts(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Any] | None:
    if not values:
        return None
    try:
        return [parse_prompt(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


prompt_option = click.option(
    "--prompt", "prompts", multiple=True, callback=_prompts, metavar="ACTION@SECONDS",
    help="Prompt ACTION (blink, mouth_open, turn_left, turn_right) at SECONDS of a recorded clip (repeatable).",
)


@click.command()
@click.option("--headless", is_flag=True, required=True, help="Run without a window (required; the window is `kiosk run`).")
@click.option("--reader", "reader_url", default=None, help="Reader URL (default: reader.url).")
@click.option("--camera", "camera_url", default=None, help="Camera URL, e.g. file:clip.mp4 (default: camera.url).")
@prompt_option
@click.option("--timeout-s", default=180.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Give up when no result is reached in this many seconds.")
@click.option("--all-attempts", is_flag=True, help="After a failure, try again until the attempts run out.")
@click.option("--request-review", is_flag=True, help="With --all-attempts: then ask for manual review.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--helper", is_flag=True,
              help="Family helper mode: the operator touches 家人帮忙操作 on the status screen (issue 19).")
@pass_state
def certify_command(state: CliState, headless: bool, reader_url: str | None, camera_url: str | None,
                    prompts: list[Any] | None, timeout_s: float, all_attempts: bool, request_review: bool,
                    as_json: bool, helper: bool) -> None:
    """One certification with no window: the card on the reader, the face from the camera.

    The operator of a headless run answers the status and consent screens on the person's behalf
    and must have their consent. Exit status: 0 certified, 3 not certified, 2 an error.
    """
    config = state.config
    devices = Devices(reader_url or config.reader.url, camera_url or config.camera.url, prompts,
                      realtime_camera=False, watch_for_people=False)
    result = run_headless(config, devices, timeout_s, all_attempts=all_attempts, request_review=request_review,
                          helper=helper)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            click.echo(f"{key:<12} {value}")
    sys.exit(0 if result["outcome"] == Outcome.CERTIFIED else 3)


def run_headless(config: KioskConfig, devices: Devices, timeout_s: float, *, all_attempts: bool = False,
                 request_review: bool = False, helper: bool = False) -> dict[str, Any]:
    """Runs one session to its result and returns ``outcome``, ``valid_until``, ``record_id``,
    ``attempt``, ``next_step``, ``staff_call`` (how a staff call raised on the way was answered:
    ``notified``, ``local``, ``acknowledged`` or None), whether the session was ``assisted`` by a
    family helper, the ``states`` passed through and the prompts; ``helper``: in the helper mode."""
    run = certify_once(config, devices, timeout_s, all_attempts=all_attempts, request_review=request_review,
                       helper=helper)
    view = run.view
    if not run.finished:
        return {"outcome": "timed_out", "valid_until": None, "record_id": None, "prompts": list(run.prompts)}
    code = view.outcome if view.state is State.RESULT else (view.maintenance_code or Outcome.DEVICE_ERROR)
    return {
        "outcome": code,
        "valid_until": view.valid_until.isoformat() if view.valid_until else None,
        "record_id": run.record_ids[-1] if run.record_ids else None,
        "attempt": view.attempt,
        "next_step": str(view.next_step) if view.next_step else None,
        "staff_call": str(view.staff_call) if view.staff_call else None,
        "records": list(run.record_ids),
        "assisted": view.assisted,
        "states": list(run.states),
        "prompts": list(run.prompts),
    }
