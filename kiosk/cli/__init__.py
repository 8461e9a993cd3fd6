"""The ``kiosk`` command line: a thin shell over the core, for technicians and for scripts.

Commands live one per module in this package and are imported only when used, so that
``kiosk policy`` does not pay for mediapipe or Qt. Every error becomes one line on stderr and a
non-zero exit status; tracebacks go to the log, never to the person at the terminal.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from kiosk.config import KioskConfig, load_config
from kiosk.errors import KioskError

log = logging.getLogger(__name__)

# name -> (module, one-line help). The help text lives here so `kiosk --help` imports nothing heavy.
# Modules are imported by name when their command runs: `run` and `demo` live in ui/ (the only
# package that imports Qt), so the core has no static dependency on the UI.
COMMANDS: dict[str, tuple[str, str]] = {
    "policy": ("kiosk.cli.policy_cmd", "When a pensioner is due, in grace or suspended."),
    "roster": ("kiosk.cli.roster_cmd", "Import the roster of pensioners and look one up."),
    "doctor": ("kiosk.cli.doctor_cmd", "Check configuration, storage, devices, models and the centre."),
    "reader": ("kiosk.cli.reader_cmd", "Read ID cards, watch the reader, run the reader simulator."),
    "liveness": ("kiosk.cli.liveness_cmd", "Replay a clip through the liveness check offline."),
    "verify": ("kiosk.cli.verify_cmd", "Compare two face images (1:1) or a list of pairs."),
    "faces": ("kiosk.cli.faces_cmd", "Evaluate face matching accuracy on a labelled set."),
    "enroll-device": ("kiosk.cli.sync_cmd", "Enrol this terminal with the centre (its own key, a one-time code)."),
    "rotate-key": ("kiosk.cli.sync_cmd", "Replace this terminal's key at the centre (signed by the current one)."),
    "sync": ("kiosk.cli.sync_cmd", "Push results to the centre and pull the roster."),
    "certify": ("kiosk.cli.app_cmd", "Run one certification without a window (for tests and pilots)."),
    "run": ("ui.commands", "Start the kiosk full screen with the devices from configuration."),
    "demo": ("ui.commands", "Start the kiosk in a window with a simulated card reader."),
    "technician": ("kiosk.cli.technician_cmd", "Technician settings (set the PIN)."),
    "voice": ("ui.voice_cmd", "Render the voice prompt clips offline."),
    "bench": ("kiosk.cli.bench_cmd", "Run the benchmarks and print their numbers."),
    "db": ("kiosk.cli.db_cmd", "The local database: status, backup, migrate, restore (upgrades)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (see :data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        attribute = name.replace("-", "_") + "_command"
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class CliState:
    """What every command can reach: the ``--config`` path and the configuration, loaded once."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._config: KioskConfig | None = None

    @property
    def config(self) -> KioskConfig:
        """The validated configuration; raises ConfigError on the first access when it is bad."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Site configuration file (default: /etc/kiosk/kiosk.toml when present).",
)
@click.option("--self-test", "self_test", is_flag=True,
              help="Check models, database, reader, screen and one certification; exit 0 when all pass.")
@click.option("--clip", "clip", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="With --self-test: certify on this video instead of the built-in synthetic clip.")
@click.version_option(package_name="kiosk")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, self_test: bool, clip: Path | None) -> None:
    """Pension qualification certification kiosk (养老金资格认证自助终端)."""
    ctx.obj = CliState(config_path)
    if clip is not None and not self_test:
        raise click.UsageError("--clip is only used with --self-test")
    if self_test:
        if ctx.invoked_subcommand is not None:
            raise click.UsageError("--self-test runs on its own, without a command")
        from kiosk.selftest import run_self_test  # noqa: PLC0415 - loads the models: only when asked

        # SystemExit, not ctx.exit: with standalone_mode=False click would turn Exit into a return value.
        raise SystemExit(run_self_test(config_path, clip))
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    elif ctx.invoked_subcommand in LOGGED_COMMANDS:
        _log_to_files(ctx.obj)


LOGGED_COMMANDS = frozenset({"run", "demo"})
"""Commands that run the terminal for hours: they log to rotating files in <data_dir>/logs."""


def _log_to_files(state: CliState) -> None:
    from kiosk.logsetup import configure_logging  # noqa: PLC0415

    config = state.config
    try:
        path = configure_logging(config.logging, config.terminal.resolved_data_dir())
    except OSError as exc:
        raise click.ClickException(f"cannot write the log folder under {config.terminal.resolved_data_dir()}: "
                                   f"{exc.strerror or exc}") from None
    log.info("logging to %s (%d bytes x %d files)", path, config.logging.max_bytes, config.logging.backup_count + 1)


pass_state = click.make_pass_decorator(CliState)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns every error into one line on stderr."""
    # mediapipe's and TensorFlow Lite's C++ logging would print informational lines to the
    # technician's terminal; warnings and errors still reach our log through Python.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # the doctor reports a missing camera itself
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cli.main(args=argv, prog_name="kiosk", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("kiosk: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KioskError as exc:
        click.echo(f"kiosk: error [{exc.code}]: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on screen
        log.debug("internal error", exc_info=True)
        click.echo(f"kiosk: internal error: {type(exc).__name__} (run with KIOSK_DEBUG=1 for details)", err=True)
        if os.environ.get("KIOSK_DEBUG"):
            raise
        sys.exit(70)
