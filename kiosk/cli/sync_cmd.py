"""``kiosk enroll-device``, ``kiosk rotate-key`` and ``kiosk sync``: the terminal's credential with the
centre, and a sync round on demand."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import click

from kiosk.cli import CliState, pass_state
from kiosk.clock import SystemClock
from kiosk.errors import SyncError
from kiosk.reasons import SyncReason

MAX_URL_CHARS = 2000
"""A centre URL longer than this is refused (and never echoed whole in the message)."""
_SHOWN_URL_CHARS = 80


def checked_center_url(url: str, source: str) -> str:
    """The centre's base URL without a trailing slash, checked before anything is stored or sent.

    ``source`` names where the URL came from (``--center``, ``sync.center_url``) for the message.
    Raises :class:`SyncError` ``sync_url_invalid`` when the URL is too long, holds whitespace or
    control characters, does not parse (``http://[::1``: an unclosed IPv6 bracket), has a port that
    is not a number from 0 to 65535, or breaks the centre rules of
    :func:`kiosk.sync.credentials.validate_center_url` (http(s), https unless loopback, no query);
    so that a typing mistake is a reason code, never an internal error from deep inside httpx.
    """
    import httpx  # noqa: PLC0415 - keep `kiosk --help` light
    from kiosk.sync.credentials import validate_center_url  # noqa: PLC0415

    shown = url if len(url) <= _SHOWN_URL_CHARS else f"{url[:_SHOWN_URL_CHARS]}…({len(url)} characters)"
    if len(url) > MAX_URL_CHARS:
        raise SyncError(f"{source} {shown!r} is not a centre URL: longer than {MAX_URL_CHARS} characters",
                        code=SyncReason.URL_INVALID)
    if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
        raise SyncError(f"{source} {shown!r} is not a valid URL: it holds a space or a control character",
                        code=SyncReason.URL_INVALID)
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when not 0-65535)
        httpx.URL(url.strip())
    except (ValueError, httpx.InvalidURL) as exc:
        raise SyncError(f"{source} {shown!r} is not a valid URL: {str(exc)[:200]}",
                        code=SyncReason.URL_INVALID) from None
    try:
        return validate_center_url(url)
    except SyncError as exc:
        raise SyncError(f"{source}: {exc.message}", code=exc.code) from None


@click.command()
@click.option("--center", "center_url", default=None, help="Base URL of the centre (default: sync.center_url).")
@click.option("--device-id", required=True, help="The id printed by `kiosk-center device add`.")
@click.option("--code", prompt="Enrolment code", help="The one-time enrolment code printed with it (prompted when absent).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_state
def enroll_device_command(state: CliState, center_url: str | None, device_id: str, code: str, as_json: bool) -> None:
    """Generate this terminal's key pair (kept in the data folder, mode 0600; the private key never
    leaves the terminal) and register its public half with the one-time code."""
    from kiosk.sync.client import CentreClient  # noqa: PLC0415 - keep `kiosk --help` light
    from kiosk.disk import replace_file_privately
    from kiosk.sync.credentials import credentials_path, mark_key_registered, new_credentials, save_credentials
    from kiosk.sync.engine import software_version

    config = state.config
    url = center_url or config.sync.center_url
    if not url:
        raise click.UsageError("give --center URL (sync.center_url is empty)")
    url = checked_center_url(url, "--center" if center_url else "sync.center_url")
    credentials = new_credentials(url, device_id, code)
    data_dir = config.terminal.resolved_data_dir()
    previous = _read_if_present(credentials_path(data_dir))
    path = save_credentials(data_dir, credentials)
    registered, problem = False, ""
    client = CentreClient(credentials, SystemClock(), config.sync.request_timeout_s, ca_file=config.sync.ca_file)
    try:
        client.enrol(software_version())
        mark_key_registered(data_dir, credentials)
        registered = True
    except SyncError as exc:
        problem = exc.code
        if exc.code == SyncReason.AUTH_FAILED:
            # A wrong, used or expired code: keep nothing that cannot work, and lose nothing that did.
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                replace_file_privately(path, previous)
            raise SyncError("the centre does not accept this device id and enrolment code (wrong, used or expired: "
                            "ask for a new one); nothing was stored", code=SyncReason.AUTH_FAILED) from None
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps({"device_id": device_id, "center_url": credentials.center_url, "key_id": credentials.key_id,
                               "credentials_file": str(path), "registered": registered,
                               **({"error": problem} if problem else {})}))
        return
    click.echo(f"key pair generated; credentials stored in {path} (mode 0600)")
    if registered:
        click.echo(f"the centre registered key {credentials.key_id}")
    else:
        click.echo(f"the centre could not be reached now ({problem}); the key is registered at the first sync")
    if device_id != config.terminal.device_id:
        click.echo(f"note: terminal.device_id in the configuration is {config.terminal.device_id!r}; "
                   "records are sent under the enrolled id", err=True)


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_state
def rotate_key_command(state: CliState, as_json: bool) -> None:
    """Generate a new key pair and have the centre replace the current key by it (the request is
    signed with the current key). Crash-safe: the new key is stored with the current one kept as the
    previous key before the centre is asked; running the command again finishes a rotation that was
    cut short (the centre took the new key, or not yet)."""
    from kiosk.sync.client import CentreClient  # noqa: PLC0415 - keep `kiosk --help` light
    from kiosk.sync.credentials import (load_credentials, previous_credentials, rotated_credentials,
                                        save_credentials)

    config = state.config
    data_dir = config.terminal.resolved_data_dir()
    credentials = load_credentials(data_dir)
    if credentials is None or not credentials.key_registered:
        raise SyncError("this terminal is not enrolled with a centre yet: run `kiosk enroll-device`",
                        code=SyncReason.NOT_ENROLLED)
    if not credentials.previous_private_key:
        credentials = rotated_credentials(credentials)
        save_credentials(data_dir, credentials)  # the new key is kept before the centre is asked
    previous = previous_credentials(credentials)
    if not _centre_takes(credentials, config):  # not yet: ask, signing with the key it knows
        client = CentreClient(previous, SystemClock(), config.sync.request_timeout_s, ca_file=config.sync.ca_file)
        try:
            client.rotate_key(credentials.signing_key())
        finally:
            client.close()
    done = replace(credentials, previous_private_key="")
    save_credentials(data_dir, done)
    if as_json:
        click.echo(json.dumps({"device_id": done.device_id, "key_id": done.key_id, "previous_key_id": previous.key_id}))
    else:
        click.echo(f"key {previous.key_id} replaced by {done.key_id} at the centre")


def _centre_takes(credentials, config) -> bool:  # type: ignore[no-untyped-def]
    """Whether the centre already accepts requests signed with ``credentials``' key (a rotation it
    completed before this terminal could store that)."""
    from kiosk.sync.client import CentreClient  # noqa: PLC0415

    client = CentreClient(credentials, SystemClock(), config.sync.request_timeout_s, ca_file=config.sync.ca_file)
    try:
        client.roster_page(0, 1)
    except SyncError as exc:
        if exc.code == SyncReason.AUTH_FAILED:
            return False
        raise
    finally:
        client.close()
    return True


@click.command()
@click.option("--once", is_flag=True, help="Run one round and exit (default: keep syncing until Ctrl-C).")
@click.option("--status", "show_status", is_flag=True, help="Only print the last round's status (no network).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def sync_command(state: CliState, once: bool, show_status: bool, as_json: bool) -> None:
    """Push pending results to the centre and pull roster changes; exit status 1 when it failed."""
    from kiosk.sync.worker import SyncWorker  # noqa: PLC0415

    worker = SyncWorker(state.config, SystemClock())
    if show_status:
        status = worker.status()
        if as_json:
            click.echo(json.dumps(status.as_dict()))
        else:
            for key, value in status.as_dict().items():
                click.echo(f"{key:<20} {'-' if value is None else value}")
        return
    if not once:
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        worker.start()
        try:
            while not done.wait(5.0):
                status = worker.status()
                click.echo(f"pending {status.pending}  rejected {status.rejected}  "
                           f"last error {status.last_error_code or '-'}", err=True)
        except KeyboardInterrupt:
            pass
        finally:
            worker.stop()
        return
    report = worker.run_once()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(f"pushed {report.pushed}, pulled {report.pulled}, pending {report.pending}, "
                   f"set aside {report.rejected}")
        if report.error:
            click.echo(f"kiosk: sync stopped [{report.error}]: {report.error_message}", err=True)
    if report.error:
        raise SystemExit(1)
