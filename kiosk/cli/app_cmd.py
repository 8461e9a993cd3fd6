"""``kiosk certify --headless``: one certification with no window.

It runs the very same runtime (controller, reader, camera, matcher) as ``kiosk run`` and prints
the outcome, so a recorded clip can be certified in tests and pilots. ``kiosk run`` and
``kiosk demo`` open the window and live in ``ui.commands`` (the core never imports Qt).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import date
from typing import Any

import click

from kiosk.cli import CliState, pass_state
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.flow import ConsentGiven, FlowView, Speak, StartRequested, State
from kiosk.runtime import Devices, KioskRuntime, parse_prompt

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


class RecordingVoice:
    """The voice of a headless run: remembers which prompts were played, plays nothing."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def speak(self, prompt: Speak) -> None:
        self.prompts.append(prompt.prompt)


@click.command()
@click.option("--headless", is_flag=True, required=True, help="Run without a window (required; the window is `kiosk run`).")
@click.option("--reader", "reader_url", default=None, help="Reader URL (default: reader.url).")
@click.option("--camera", "camera_url", default=None, help="Camera URL, e.g. file:clip.mp4 (default: camera.url).")
@prompt_option
@click.option("--timeout-s", default=180.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Give up when no result is reached in this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def certify_command(state: CliState, headless: bool, reader_url: str | None, camera_url: str | None,
                    prompts: list[Any] | None, timeout_s: float, as_json: bool) -> None:
    """One certification with no window: the card on the reader, the face from the camera.

    The operator of a headless run answers the status and consent screens on the person's behalf
    and must have their consent. Exit status: 0 certified, 3 not certified, 2 an error.
    """
    config = state.config
    devices = Devices(reader_url or config.reader.url, camera_url or config.camera.url, prompts,
                      realtime_camera=False, watch_for_people=False)
    result = run_headless(config, devices, timeout_s)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            click.echo(f"{key:<12} {value}")
    sys.exit(0 if result["outcome"] == "certified" else 3)


def run_headless(config: KioskConfig, devices: Devices, timeout_s: float) -> dict[str, Any]:
    """Runs one session to its result and returns ``outcome``, ``valid_until``, ``record_id``."""
    finished = threading.Event()
    outcome: dict[str, Any] = {"view": None, "record_id": None}
    voice = RecordingVoice()
    runtime: KioskRuntime | None = None

    def on_view(view: FlowView) -> None:
        if view.state is State.STATUS:
            runtime.post(StartRequested())
        elif view.state is State.CONSENT:
            runtime.post(ConsentGiven())
        elif view.state in (State.RESULT, State.MAINTENANCE):
            outcome["view"] = view
            finished.set()

    runtime = KioskRuntime(config, SystemClock(), devices, voice=voice, on_view=on_view, with_sync=False,
                           on_record=lambda record_id, _record: outcome.__setitem__("record_id", record_id))
    runtime.start()
    try:
        reached = finished.wait(timeout_s)
    finally:
        runtime.stop()
    view: FlowView | None = outcome["view"]
    if not reached or view is None:
        return {"outcome": "timed_out", "valid_until": None, "record_id": None, "prompts": voice.prompts}
    code = view.outcome if view.state is State.RESULT else (view.maintenance_code or "device_error")
    valid_until: date | None = view.valid_until
    return {
        "outcome": code,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "record_id": outcome["record_id"],
        "attempt": view.attempt,
        "next_step": str(view.next_step) if view.next_step else None,
        "prompts": voice.prompts,
    }
