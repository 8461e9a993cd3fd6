"""``kiosk reader``: read one ID card, watch the reader, serve the simulator on a pty.

For technicians. Personal fields are masked unless ``--show-personal`` is given; nothing personal
is logged. Every reader error becomes one line ``kiosk: error [code]: ...`` and exit status 2.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import click

from kiosk.cli import CliState, pass_state
from kiosk.errors import from_device_error
from reader.client import SamClient
from reader.errors import ReaderError
from reader.service import (
    CardPlaced,
    CardRead,
    CardReadFailed,
    CardRemoved,
    ReaderEvent,
    ReaderLost,
    ReaderReady,
    ReaderService,
)
from reader.simulator import SimOptions
from reader.transport import open_reader

_URL_HELP = "Reader URL (default: reader.url from configuration), e.g. /dev/ttyUSB0, sim://, sim:///card.json?present=0."


@click.group()
def reader_command() -> None:
    """Read ID cards, watch the reader, run the reader simulator."""


@reader_command.command("read")
@click.option("--url", default=None, help=_URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the card as one JSON object.")
@click.option("--show-personal", is_flag=True, help="Print name, ID number and address in full (default: masked).")
@click.option("--fingerprint", is_flag=True, help="Read with `30 10` (fingerprint block read and ignored).")
@pass_state
def read_command(state: CliState, url: str | None, as_json: bool, show_personal: bool, fingerprint: bool) -> None:
    """Read the card lying on the reader once and print it."""
    settings = state.config.reader
    try:
        reader = open_reader(url or settings.url, baudrate=settings.baudrate, timeout_s=settings.command_timeout_s)
        try:
            reader.sam_status()
            if fingerprint and not isinstance(reader, SamClient):
                raise click.BadParameter("needs a serial reader URL (vendor SDKs read base info only)",
                                         param_hint="--fingerprint")
            card = (reader.read_card(with_fingerprint=fingerprint) if isinstance(reader, SamClient)
                    else reader.read_card())
        finally:
            reader.close()
    except ReaderError as exc:
        raise from_device_error(exc) from None
    fields = card.to_json(show_personal=show_personal)
    if as_json:
        click.echo(json.dumps(fields, ensure_ascii=False, indent=2))
        return
    width = max(len(key) for key in fields)
    for key, value in fields.items():
        click.echo(f"{key:<{width}}  {value}")


def _describe(event: ReaderEvent, show_personal: bool) -> dict[str, Any]:
    if isinstance(event, CardRead):
        return {"event": "card_read", "card": event.card.to_json(show_personal=show_personal)}
    if isinstance(event, (CardReadFailed, ReaderLost)):
        name = "card_read_failed" if isinstance(event, CardReadFailed) else "reader_lost"
        return {"event": name, "code": event.code}
    names = {ReaderReady: "reader_ready", CardPlaced: "card_placed", CardRemoved: "card_removed"}
    return {"event": names[type(event)]}


@reader_command.command("watch")
@click.option("--url", default=None, help=_URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
@click.option("--show-personal", is_flag=True, help="Print personal fields of read cards in full.")
@click.option("--events", "max_events", type=click.IntRange(min=1), default=None,
              help="Stop after this many events (default: run until Ctrl-C).")
@pass_state
def watch_command(state: CliState, url: str | None, as_json: bool, show_personal: bool, max_events: int | None) -> None:
    """Print reader events as cards come and go (Ctrl-C to stop)."""
    settings = state.config.reader
    done = threading.Event()
    seen = 0

    def on_event(event: ReaderEvent) -> None:  # runs on the service thread
        nonlocal seen
        described = _describe(event, show_personal)
        if as_json:
            click.echo(json.dumps(described, ensure_ascii=False))
        else:
            card = described.get("card")
            extra = (f" {card['card_type']} {card['name']} {card['id_number']}" if card
                     else f" [{described['code']}]" if "code" in described else "")
            click.echo(f"{described['event']}{extra}")
        seen += 1
        if max_events is not None and seen >= max_events:
            done.set()

    service = ReaderService(url or settings.url, settings, on_event)
    service.start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@reader_command.command("simulate")
@click.option("--card", "card", default="resident_long_term", show_default=True,
              help="Card JSON file, or the name of a shipped sample (see docs/reader.md).")
@click.option("--pace/--no-pace", default=True, show_default=True, help="Send at the SAM's wire speed (10 bits a byte).")
@click.option("--switches", default="", help="Simulator switches as a URL query, e.g. 'corrupt=0.1&fail_reads=1'.")
def simulate_command(card: str, pace: bool, switches: str) -> None:
    """Serve a simulated reader on a pseudo-terminal: prints the tty path, serves until Ctrl-C."""
    from reader.pty_server import serve_card

    try:
        options = dataclasses.replace(SimOptions.from_query(switches), pace=pace)
        if not Path(card).suffix and not Path(card).exists():
            from reader.samples import sample_card_path

            try:
                card = str(sample_card_path(card))
            except KeyError as exc:
                raise click.BadParameter(str(exc.args[0]), param_hint="--card") from None
        serve_card(card, options, announce=lambda path: click.echo(path))
    except ReaderError as exc:
        raise from_device_error(exc) from None
