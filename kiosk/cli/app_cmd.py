"""``kiosk run``, ``kiosk demo`` and ``kiosk certify --headless``: the application itself.

``run`` and ``demo`` open the Qt window (``ui`` is imported only here, inside the commands);
``certify --headless`` runs the very same controller and devices with no window and prints the
outcome, so a recorded clip can be certified in tests and pilots.
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


_prompt_option = click.option(
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
@_prompt_option
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
                      realtime_camera=False)
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


@click.command()
@click.option("--windowed", is_flag=True, help="A window instead of the full screen (for set-up).")
@pass_state
def run_command(state: CliState, windowed: bool) -> None:
    """The kiosk, full screen, with the devices from configuration."""
    config = state.config
    devices = Devices(config.reader.url, config.camera.url)
    sys.exit(_run_window(config, devices, fullscreen=not windowed and config.ui.fullscreen, demo=False))


@click.command()
@click.option("--camera", "camera_url", default=None, help="Camera URL (default: camera.url), e.g. file:CLIP.")
@click.option("--reader", "reader_url", default="sim://", show_default=True,
              help="Reader URL; the simulated reader unless a real one is named.")
@_prompt_option
@pass_state
def demo_command(state: CliState, camera_url: str | None, reader_url: str, prompts: list[Any] | None) -> None:
    """The kiosk in a window with a simulated card reader and an operator panel to place sample cards."""
    from kiosk.demo import prepare_demo

    config = state.config
    camera = camera_url or config.camera.url
    config = prepare_demo(config, camera, echo=click.echo)
    devices = Devices(reader_url, camera, prompts, realtime_camera=True)
    sys.exit(_run_window(config, devices, fullscreen=False, demo=True))


def _run_window(config: KioskConfig, devices: Devices, *, fullscreen: bool, demo: bool) -> int:
    from ui.app import run_app  # Qt is imported only when a window is wanted

    def factory(**callbacks: Any) -> KioskRuntime:
        return KioskRuntime(config, SystemClock(), devices, **callbacks)

    panel = None
    if demo and devices.reader_url.startswith("sim://"):
        from ui.demo_panel import DemoPanel

        panel = lambda: DemoPanel(devices.reader_url)  # noqa: E731 - built once the QApplication exists
    return run_app(config, factory, fullscreen=fullscreen, demo_panel=panel,
                   technician_services=_technician_services(config))


def _technician_services(config: KioskConfig) -> Any:
    try:
        from ui.technician.services import TechnicianServices
    except ImportError:
        return None
    return TechnicianServices.from_config(config) if hasattr(TechnicianServices, "from_config") else None

