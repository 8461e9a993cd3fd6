"""``kiosk run`` and ``kiosk demo``: the kiosk window. Registered by name in ``kiosk.cli.COMMANDS``
(the core reaches them without importing Qt); ``kiosk certify --headless`` is the windowless twin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kiosk.cli import CliState, pass_state
from kiosk.cli.app_cmd import prompt_option
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.paths import PROFILES
from kiosk.runtime import Devices, KioskRuntime


@click.command()
@click.option("--windowed", is_flag=True, help="A window instead of the full screen (for set-up).")
@click.option("--profile", "profile", type=click.Choice(PROFILES), default=None,
              help="visit: a staff laptop on home visits (config/visit.toml; docs/home-visit.md).")
@click.option("--staff-number", "staff_number", default=None,
              help="The staff number (工号) signed in for the whole visit, written to each record.")
@click.option("--pin-stdin", is_flag=True, help="Home visit: read the staff PIN from standard input, not a prompt.")
@pass_state
def run_command(state: CliState, windowed: bool, profile: str | None, staff_number: str | None,
                pin_stdin: bool) -> None:
    """The kiosk, full screen, with the devices from configuration.

    A home visit (--profile visit) first signs the staff member in with their own account and PIN:
    their staff number goes on every record of the visit."""
    state.use_profile(profile, staff_number)
    config = state.config
    if config.terminal.channel == "home_visit":
        from kiosk.visit import sign_in_for_visit  # noqa: PLC0415

        if not config.terminal.staff_number:
            raise click.UsageError("a home visit records who certified: give --staff-number (or terminal.staff_number)")
        pin = sys.stdin.readline().strip() if pin_stdin else click.prompt("staff PIN", hide_input=True)
        click.echo(f"home visit: staff {sign_in_for_visit(config, pin, SystemClock())} signed in")
    devices = Devices(config.reader.url, config.camera.url)
    sys.exit(run_window(config, devices, fullscreen=not windowed and config.ui.fullscreen, demo=False,
                        site_config_path=state.config_path))


@click.command()
@click.option("--camera", "camera_url", default=None, help="Camera URL (default: camera.url), e.g. file:CLIP.")
@click.option("--reader", "reader_url", default="sim://?present=0", show_default=True,
              help="Reader URL; the simulated reader (starting empty) unless a real one is named.")
@prompt_option
@pass_state
def demo_command(state: CliState, camera_url: str | None, reader_url: str, prompts: list[Any] | None) -> None:
    """The kiosk in a window with a simulated card reader and an operator panel to place sample cards."""
    from kiosk.demo import prepare_demo

    camera = camera_url or state.config.camera.url
    if camera_url is None and not prompts:
        camera, prompts = _camera_for_demo(camera)
    config = prepare_demo(state.config, camera, echo=click.echo)
    devices = Devices(reader_url, camera, prompts, realtime_camera=True)
    sys.exit(run_window(config, devices, fullscreen=False, demo=True, site_config_path=state.config_path))


# A shared clip to show the whole flow on a machine with no webcam, and where its actions are.
_DEMO_CLIP = Path("videos/blink_mouth_plain_bg.mp4")
_DEMO_PROMPTS: list[Any] = [("mouth_open", 1.8), ("blink", 2.9)]


def _camera_for_demo(camera: str) -> tuple[str, list[Any] | None]:
    """The configured camera, or the shared demo clip when the configured one is a device that is
    not there (``make demo`` on a laptop without a webcam)."""
    if not (camera.startswith("device:") or camera.startswith("/dev/video")) or any(Path("/dev").glob("video*")):
        return camera, None
    from kiosk.paths import resource_root

    clip = resource_root().parent / "shared" / "media" / _DEMO_CLIP
    if not clip.is_file():
        click.echo(f"demo: no camera at {camera}; the terminal will show its maintenance screen")
        return camera, None
    click.echo(f"demo: no camera at {camera}; playing {clip.name} as the camera instead")
    return f"file:{clip}", _DEMO_PROMPTS


def run_window(config: KioskConfig, devices: Devices, *, fullscreen: bool, demo: bool,
               site_config_path: Path | None = None) -> int:
    """Shows the window at once and starts the runtime behind it; returns the Qt exit status."""
    from ui.app import run_app

    def factory(**callbacks: Any) -> KioskRuntime:
        return KioskRuntime(config, SystemClock(), devices, **callbacks)

    panel = None
    if demo and devices.reader_url.startswith("sim://"):
        from ui.demo_panel import DemoPanel

        panel = lambda: DemoPanel(devices.reader_url)  # noqa: E731 - built once the QApplication exists
    # The demo plays the clips `make demo` rendered (kiosk.demo.prepare_demo): no second rendering.
    return run_app(config, factory, fullscreen=fullscreen, demo_panel=panel, site_config_path=site_config_path,
                   render_voice=not demo)
