"""``kiosk faces evaluate``: FAR / FRR / FTA of the configured matcher on a labelled image set.

Counts as ISO/IEC 19795-1 does (see :mod:`camera.matching.evaluation`): FTA over images, FAR and
FRR over the pairs whose two images were acquired. Writes a DET plot (matplotlib, Agg backend: no
display needed). Prints rates and counts only, never a template.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from kiosk.cli import CliState, pass_state
from kiosk.errors import from_device_error


@click.group()
def faces_command() -> None:
    """Face matching accuracy on labelled images."""


@faces_command.command("evaluate")
@click.argument("labels_csv", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), default=Path("det.png"),
              show_default=True, help="Where to write the DET plot (PNG).")
@click.option("--group", "groups", multiple=True,
              help="Also report pairs within this group (first folder under faces/, e.g. casia); repeatable.")
@click.option("--jitters", type=click.IntRange(0, 100), default=None,
              help="Jitters per reference encoding (default: match.reference_jitters).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Encoder processes (default: every core).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@pass_state
def evaluate_command(state: CliState, labels_csv: Path, plot_path: Path, groups: tuple[str, ...], jitters: int | None,
                     workers: int | None, as_json: bool) -> None:
    """FAR/FRR/FTA at match.max_distance and over a range of cuts, with a DET plot.

    LABELS_CSV has the columns path,identity (relative paths from the csv's folder or its parent).
    """
    from camera.matching.batch import encode_files  # noqa: PLC0415 - dlib only when the command runs
    from camera.matching.errors import MatchError  # noqa: PLC0415
    from camera.matching.evaluation import pair_scores, read_labels, summary_line  # noqa: PLC0415

    try:
        images = read_labels(labels_csv)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="LABELS_CSV") from None
    if len({i.identity for i in images}) < 2:
        raise click.BadParameter("need at least two identities to form impostor pairs", param_hint="LABELS_CSV")
    settings = state.config.match
    if jitters is not None:
        settings = settings.model_copy(update={"reference_jitters": jitters})
    paths = [str(i.path) for i in images]
    try:
        # As at the kiosk: each image is encoded once as a reference (with reference_jitters) and
        # once as a live frame (live_jitters); a pair compares the reference of one with the live
        # encoding of the other. Jittering both sides measured a higher FAR (docs/matching.md, 3b).
        references = encode_files(paths, settings, workers=workers, reference=True)
        lives = encode_files(paths, settings, workers=workers, reference=False)
    except MatchError as exc:
        raise from_device_error(exc) from None
    templates = [references[p].vector for p in paths]
    live = [lives[p].vector for p in paths]
    identities = [i.identity for i in images]
    threshold = settings.max_distance
    sets = {"all": pair_scores(templates, identities, live=live)}
    labels = np.array([i.group for i in images])
    for group in groups:
        inside = labels == group
        if not inside.any():
            raise click.BadParameter(f"no image is in group {group!r}", param_hint="--group")
        sets[group] = pair_scores(templates, identities, keep=inside[:, None] & inside[None, :], live=live)
        sets[group] = type(sets[group])(sets[group].genuine, sets[group].impostor, int(inside.sum()),
                                        int(sum(1 for t, g in zip(templates, labels) if g == group and t is None)))
    cuts = np.round(np.arange(0.30, 0.62, 0.02), 2)
    _plot(sets, threshold, plot_path)
    if as_json:
        click.echo(json.dumps({
            "threshold": threshold,
            "reference_jitters": settings.reference_jitters,
            "live_jitters": settings.live_jitters,
            "det_plot": str(plot_path),
            "sets": {name: {"far": s.far(threshold), "frr": s.frr(threshold), "fta": s.fta,
                            "genuine_pairs": int(s.genuine.size), "impostor_pairs": int(s.impostor.size),
                            "threshold_for_far_0.1%": s.threshold_for_far(0.001),
                            "range": [{"cut": float(c), "far": s.far(c), "frr": s.frr(c)} for c in cuts]}
                     for name, s in sets.items()},
        }))
        return
    click.echo(f"{len(images)} images, {len(set(identities))} identities; references with {settings.reference_jitters} "
               f"jitters against live encodings with {settings.live_jitters}")
    click.echo("At the configured operating point (match.max_distance):")
    for name, scores in sets.items():
        click.echo("  " + summary_line(name, scores, threshold))
    for name, scores in sets.items():
        click.echo(f"Over a range of cuts ({name}; largest cut with FAR <= 0.1 %: {scores.threshold_for_far(0.001):.4f}):")
        click.echo("  cut    FAR %     FRR %")
        for cut in cuts:
            click.echo(f"  {cut:.2f}  {100 * scores.far(cut):7.3f}  {100 * scores.frr(cut):7.2f}")
    click.echo(f"DET plot: {plot_path}")


def _plot(sets: dict, threshold: float, path: Path) -> None:
    """DET curves (FRR against FAR, log axes) with the operating point marked."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(6, 5), dpi=100)
    floor = 1e-5
    for name, scores in sets.items():
        _, far, frr = scores.det_curve(400)
        shown = (far > 0) & (frr > 0)  # a log axis has no zero: the curve ends where a rate reaches it
        (line,) = axes.plot(far[shown], frr[shown], label=name)  # may be empty: keeps the legend entry
        axes.plot([max(scores.far(threshold), floor)], [max(scores.frr(threshold), floor)], "o", color=line.get_color())
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false accept rate (FAR)")
    axes.set_ylabel("false reject rate (FRR)")
    axes.set_title(f"DET, dots: match.max_distance = {threshold}")
    axes.axvline(1e-3, color="grey", linestyle=":", linewidth=1)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    except OSError as exc:
        raise click.FileError(str(path), hint=str(exc)) from None
    finally:
        plt.close(figure)
