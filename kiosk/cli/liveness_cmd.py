"""``kiosk liveness``: replay a clip through the liveness check offline.

It replays the clip with :func:`camera.liveness.replay` through a
:class:`camera.liveness.LivenessSession` built from the configuration, the same session the kiosk
runs on its camera, so the verdict printed here is the verdict the terminal would give. Prompts are
fixed at media times (``--prompt blink@3.0``); ``--events`` lists what was seen without prompting
anything.
The output carries no image and no personal data: times, codes and counts only.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import click

from camera import challenge
from camera.errors import CameraError
from camera.settings import Action
from kiosk.cli import CliState, pass_state
from kiosk.errors import from_device_error

def parse_prompt(text: str) -> tuple[Action, float]:
    """``ACTION@SECONDS`` -> (action, seconds); raises click.BadParameter with the allowed forms."""
    try:
        return challenge.parse_prompt(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prompt") from None


def _human(document: dict[str, Any], events_only: bool) -> list[str]:
    lines: list[str] = []
    if not events_only:
        lines.append(f"verdict   {document['verdict']} ({document['reason']})")
        for action in document["actions"]:
            done = "-" if action["done_s"] is None else f"{action['done_s']:.2f} s"
            lines.append(f"  {action['action']:<11} prompted {action['prompt_s']:6.2f} s  done {done:>8}  "
                         f"{'passed' if action['passed'] else 'FAILED'}")
    lines.append(f"events    {len(document['events'])}")
    for event in document["events"]:
        lines.append(f"  {event['kind']:<11} {event['t_s']:6.2f} s .. {event['end_s']:6.2f} s")
    lines.append(f"frames    {document['frames']}  per-frame p50 {document['processing_ms_p50']:.1f} ms, "
                 f"p95 {document['processing_ms_p95']:.1f} ms")
    return lines


@click.command()
@click.argument("clip", type=click.Path(path_type=Path, exists=True))
@click.option("--prompt", "prompts", multiple=True, metavar="ACTION@SECONDS",
              help=f"Prompt an action at a media time (repeatable; actions: {', '.join(challenge.ACTIONS)}).")
@click.option("--events", "events_only", is_flag=True, help="Only list the blinks, mouth openings and turns seen.")
@click.option("--seed", type=int, default=None, help="Seed for the random action plan when no --prompt is given.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def liveness_command(state: CliState, clip: Path, prompts: tuple[str, ...], events_only: bool,
                     seed: int | None, as_json: bool) -> None:
    """Replay CLIP (a video, an image or a folder of images) through the kiosk's liveness check.

    With --prompt the actions are asked at the given media times; without it the session positions,
    measures the baseline and draws its own actions, exactly as at the terminal.
    """
    from camera.liveness import replay  # heavy (mediapipe): only when used

    if events_only and prompts:
        raise click.UsageError("--events lists events without prompts; leave out --prompt")
    fixed = [parse_prompt(text) for text in prompts]
    config = state.config
    session_prompts: list[tuple[Action, float]] | None = [] if events_only else (fixed or None)
    try:
        report = replay(clip, config.camera, config.quality, config.liveness, config.antispoof,
                        random.Random(seed) if seed is not None else random.SystemRandom(), session_prompts)
    except CameraError as exc:
        raise from_device_error(exc) from exc
    document = report.to_json(events_only=events_only)
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        for line in _human(document, events_only):
            click.echo(line)
