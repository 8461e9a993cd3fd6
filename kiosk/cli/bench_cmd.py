"""``kiosk bench``: runs every benchmark module in :mod:`kiosk.benchmarks` and prints numbers."""

from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import asdict
from pathlib import Path

import click

import kiosk.benchmarks as benchmarks
from kiosk.paths import resource_root


def _modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(benchmarks.__path__))


@click.command()
@click.option("--only", multiple=True, help="Run only these areas (repeatable).")
@click.option("--media", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Shared media folder (default: ../shared/media beside the project).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per measurement.")
def bench_command(only: tuple[str, ...], media: Path | None, as_json: bool) -> None:
    """Measure speed and memory of each building block (numbers only, no pass/fail)."""
    media = media or resource_root().parent / "shared" / "media"
    media_dir = media if media.is_dir() else None
    for name in _modules():
        if only and name not in only:
            continue
        module = importlib.import_module(f"kiosk.benchmarks.{name}")
        if not as_json:
            click.echo(f"== {name}")
        for measurement in module.run(media_dir):
            click.echo(json.dumps({"area": name, **asdict(measurement)}) if as_json else measurement.line())
