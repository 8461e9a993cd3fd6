"""``kiosk verify``: compare two face images (1:1), or a file of pairs, with the configured matcher.

For technicians and scripts, never for the person at the terminal (who is told pass/fail only).
Paths are printed back as given; templates are never printed or written.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kiosk.cli import CliState, pass_state
from kiosk.errors import from_device_error

_MALFORMED = "pair_line_malformed"


def _read_pairs(file: Path) -> list[tuple[int, str, str] | tuple[int, None, None]]:
    """(line number, path a, path b) per non-blank, non-comment line; (n, None, None) when malformed."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {file}: {exc}", param_hint="--pairs") from None
    pairs: list = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            pairs.append((number, None, None))
        else:
            pairs.append((number, fields[0].strip(), fields[1].strip()))
    return pairs


def _resolve(base: Path, path: str) -> str:
    candidate = Path(path).expanduser()
    return str(candidate if candidate.is_absolute() else base / candidate)


@click.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A file of lines 'pathA<TAB>pathB' (relative paths: from the file's folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per pair).")
@click.option("--jitters", type=click.IntRange(0, 100), default=None,
              help="Jitters per image (default: match.reference_jitters, as references are encoded).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Encoder processes (default: every core).")
@pass_state
def verify_command(state: CliState, images: tuple[Path, ...], pairs_file: Path | None, as_json: bool,
                   jitters: int | None, workers: int | None) -> None:
    """Compare two face images (A B) or every pair in --pairs FILE: distance, match, faces found.

    A pair matches when its distance is at most the cut of the model that compared it (JSON key
    model: sface, distance 1 - cosine, cut match.sface_max_distance; or dlib, Euclidean, cut
    match.max_distance). A side with no usable face gives an error code instead of a match (exit
    status 1 for a single pair).
    """
    from camera.matching.batch import encode_files  # noqa: PLC0415 - dlib only when the command runs
    from camera.matching.errors import MatchError, MatchReason  # noqa: PLC0415
    from camera.matching.matcher import score_templates  # noqa: PLC0415

    if pairs_file is None and len(images) != 2:
        raise click.UsageError("give two images (kiosk verify A B) or --pairs FILE")
    if pairs_file is not None and images:
        raise click.UsageError("give either two images or --pairs FILE, not both")
    settings = state.config.match
    if jitters is not None:
        settings = settings.model_copy(update={"reference_jitters": jitters})
    if pairs_file is None:
        pairs = [(0, str(images[0]), str(images[1]))]
        paths = {str(images[0]): str(images[0]), str(images[1]): str(images[1])}
    else:
        pairs = _read_pairs(pairs_file)
        paths = {p: _resolve(pairs_file.parent, p) for _, a, b in pairs if a for p in (a, b)}
    try:
        encodings = encode_files(paths.values(), settings, workers=1 if pairs_file is None else workers, reference=True)
    except MatchError as exc:
        raise from_device_error(exc) from None
    failed = False
    for number, a, b in pairs:
        if a is None:
            failed = True
            _emit({"line": number, "error": _MALFORMED}, as_json)
            continue
        ea, eb = encodings[paths[a]], encodings[paths[b]]
        row: dict = {"a": a, "b": b}
        if ea.vector is None or eb.vector is None:
            failed = True
            bad = ea if ea.vector is None else eb
            row.update(error=bad.error, side="a" if bad is ea else "b")
            if bad.detail:
                row["detail"] = bad.detail
        else:
            # The cut as FaceMatcher.decide applies it to one live frame (b) against one reference (a).
            scored = score_templates([eb.vector], ea.vector, settings, use_sface=settings.model == "sface")
            if scored is None:  # cannot happen for two encodings of one run; kept as an honest error
                failed = True
                row.update(error=MatchReason.NO_REFERENCE.value, side="a")
            else:
                margin, gap, model = scored
                row.update(distance=round(gap, 4), match=margin <= 0, model=model)
        row.update(faces_a=ea.faces_found, faces_b=eb.faces_found)
        _emit(row, as_json, single=pairs_file is None,
              threshold={"dlib": settings.max_distance, "sface": settings.sface_max_distance})
    if failed and pairs_file is None:
        raise SystemExit(1)


def _emit(row: dict, as_json: bool, single: bool = False, threshold: dict | None = None) -> None:
    threshold = threshold or {}
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False))
    elif single:
        click.echo(f"a          {row['a']}  (faces found: {row['faces_a']})")
        click.echo(f"b          {row['b']}  (faces found: {row['faces_b']})")
        if "error" in row:
            click.echo(f"error      {row['error']} on side {row['side']}" + (f" ({row['detail']})" if "detail" in row else ""))
        else:
            click.echo(f"model      {row['model']}")
            click.echo(f"distance   {row['distance']:.4f}  (match when <= {threshold[row['model']]})")
            click.echo(f"match      {'true' if row['match'] else 'false'}")
    elif "line" in row:
        click.echo(f"line {row['line']}: {row['error']}")
    else:
        outcome = row["error"] if "error" in row else f"{row['distance']:.4f}\t{'true' if row['match'] else 'false'}"
        click.echo(f"{row['a']}\t{row['b']}\t{outcome}")
