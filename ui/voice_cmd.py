"""``kiosk voice``: render the voice prompt clips offline, list them, say one prompt's clip order."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from kiosk.cli import CliState, pass_state
from kiosk.paths import recorded_voice_dir, rendered_voice_dir
from ui.catalogue import Catalogue
from ui.voice_clips import all_clips, clip_path, speech_clips
from ui.dialects import render_language
from ui.voice_render import EspeakEngine, render_clips


@click.group()
def voice_command() -> None:
    """Voice prompts: rendered with espeak-ng at set-up; recorded WAVs in ui.voice_dir win by name."""


@voice_command.command("render")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the clips (default: <data_dir>/voice).")
@click.option("--force", is_flag=True, help="Render every clip again, even unchanged ones.")
@click.option("--speed", "speed_wpm", type=click.IntRange(80, 260), default=EspeakEngine.speed_wpm, show_default=True,
              help="Speaking speed (words per minute).")
@pass_state
def render_command(state: CliState, out_dir: Path | None, force: bool, speed_wpm: int) -> None:
    """Render every prompt, hint, reason, next step and date/number word clip to WAV."""
    out_dir = out_dir or rendered_voice_dir(state.config.terminal.resolved_data_dir())
    catalogue = Catalogue.load()
    report = render_clips(all_clips(catalogue), out_dir, EspeakEngine(speed_wpm=speed_wpm), force=force)
    click.echo(f"{len(report.rendered)} rendered, {len(report.unchanged)} unchanged, "
               f"{len(report.removed)} removed, in {out_dir}")
    # The second voice (Cantonese, ui.dialects): a person may switch to it at any terminal.
    cantonese = render_language(all_clips(catalogue), out_dir, "yue", force=force, speed_wpm=speed_wpm)
    click.echo(f"Cantonese: {len(cantonese.rendered)} rendered, {len(cantonese.unchanged)} unchanged, "
               f"in {out_dir / 'yue'}")


@voice_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per clip.")
@pass_state
def list_command(state: CliState, as_json: bool) -> None:
    """List every clip with where it will be played from (recorded, rendered or missing)."""
    config = state.config
    rendered = rendered_voice_dir(config.terminal.resolved_data_dir())
    recorded = recorded_voice_dir(config.ui.voice_dir)
    for clip in all_clips(Catalogue.load()):
        path = clip_path(clip.clip_id, rendered, recorded)
        source = "missing" if path is None else ("recorded" if recorded and path.parent == recorded else "rendered")
        if as_json:
            click.echo(json.dumps({"clip": clip.clip_id, "source": source, "text": clip.text}, ensure_ascii=False))
        else:
            click.echo(f"{source:9} {clip.clip_id:40} {clip.text}")


@voice_command.command("say")
@click.argument("prompt")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A date (YYYY-MM-DD) or a count for the prompt; repeatable.")
def say_command(prompt: str, params: tuple[str, ...]) -> None:
    """Print the clips, in order, that say PROMPT (for checking a recorded clip set)."""
    values: dict[str, object] = {}
    for item in params:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--param")
        values[name] = _parse_value(raw)
    for clip in speech_clips(Catalogue.load(), prompt, values):
        click.echo(f"{clip.clip_id:40} {clip.text}")


def _parse_value(raw: str) -> object:
    if raw.isascii() and raw.isdigit():  # isdigit() alone takes '²' (int() raises) and other scripts' digits
        return int(raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return raw  # next_step values are plain words
