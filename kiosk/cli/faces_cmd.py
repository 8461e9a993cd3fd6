"""``kiosk faces evaluate``: FAR / FRR / FTA of dlib, SFace and their score fusion on labelled images.

Counts as ISO/IEC 19795-1 does: FTA over images (no usable face on either the reference or the live
encoding), FAR and FRR over the pairs whose two images were acquired. Each image is encoded once as
a reference (both descriptors, reference gates, dlib with ``match.reference_jitters``) and once as a
live frame (both descriptors, live gates); a pair compares the reference of one with the live
encoding of the other. The operating point of each model is chosen by identity-disjoint
cross-validation (:mod:`camera.matching.model_evaluation`) and the rates are those of the held-out
folds, per population, with 95 % intervals; the rates at the configured cuts are printed too.
Writes one DET plot per model. Prints rates and counts only, never a template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from kiosk.cli import CliState, pass_state
from kiosk.errors import from_device_error

if TYPE_CHECKING:  # camera is imported when a command runs: `kiosk --help` stays quick
    from camera.settings import MatchSettings

MODELS = ("dlib", "sface", "fusion")


@click.group()
def faces_command() -> None:
    """Face matching accuracy on labelled images."""


@faces_command.command("evaluate")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), default=Path("det.png"),
              show_default=True, help="DET plots: one PNG per model, named <stem>-<model>.png beside this path.")
@click.option("--group", "groups", multiple=True,
              help="Report only these populations (besides all); e.g. casia, elderly, east_asian. Repeatable.")
@click.option("--relabel", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="A path,identity file of identity corrections (e.g. scripts/media_same_person.csv).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Cross-validation folds (by identity).")
@click.option("--jitters", type=click.IntRange(0, 100), default=None,
              help="Jitters per dlib reference encoding (default: match.reference_jitters).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Encoder processes (default: every core).")
@click.option("--cache", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Keep the encodings in this .npz file and reuse them on the next run (it holds biometric "
                   "templates of the people in SOURCE: keep it outside the repository, e.g. under /tmp).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@pass_state
def evaluate_command(state: CliState, source: Path, plot_path: Path, groups: tuple[str, ...], relabel: Path | None,
                     folds: int, jitters: int | None, workers: int | None, cache: Path | None, as_json: bool) -> None:
    """Cross-validated FAR/FRR/FTA per population for dlib, SFace and their fusion, with DET plots.

    SOURCE is a labels CSV (columns path,identity; relative paths from the csv's folder or its parent)
    or a folder tree (one folder per identity; a labels.csv inside it wins).
    """
    from camera.matching import model_evaluation as me  # noqa: PLC0415
    from camera.matching.batch import encode_files  # noqa: PLC0415 - models only when the command runs
    from camera.matching.errors import MatchError  # noqa: PLC0415
    from camera.matching.evaluation import read_folder_tree, read_labels  # noqa: PLC0415
    from camera.matching.evaluation import relabel as apply_relabel  # noqa: PLC0415
    from camera.matching.scoring import split_parts  # noqa: PLC0415

    try:
        images = read_folder_tree(source) if source.is_dir() else read_labels(source)
        changed = 0
        if relabel is not None:
            images, changed = apply_relabel(images, relabel)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="SOURCE") from None
    if len({i.identity for i in images}) < 2:
        raise click.BadParameter("need at least two identities to form impostor pairs", param_hint="SOURCE")
    known = {i.group for i in images} | {"all", "elderly", "east_asian"}
    for group in groups:
        if group not in known:
            raise click.BadParameter(f"no image is in group {group!r}", param_hint="--group")
    settings = state.config.match.model_copy(update={"model": "sface"})  # load both; each is judged alone below
    if jitters is not None:
        settings = settings.model_copy(update={"reference_jitters": jitters})
    paths = [str(i.path) for i in images]
    cache_key = _cache_key(settings)
    vectors, acquired = _load_cache(cache, paths, cache_key)
    if vectors is None:
        try:
            references = encode_files(paths, settings, workers=workers, reference=True)
            lives = encode_files(paths, settings, workers=workers, reference=False, every_model=True)
        except MatchError as exc:
            raise from_device_error(exc) from None
        vectors, acquired = _parts(paths, references, lives, split_parts)
        _save_cache(cache, paths, cache_key, vectors)
    identities = np.array([i.identity for i in images])
    labels = np.array([i.group for i in images])
    if not acquired["sface"].any():
        click.echo("warning: SFace gave no encoding (model files missing?): its rows are empty", err=True)
    matrices = {
        "dlib": {0.0: me.distances("dlib", vectors["dlib_ref"], vectors["dlib_live"])},
        "sface": {0.0: me.distances("sface", vectors["sface_ref"], vectors["sface_live"])},
    }
    matrices["fusion"] = {w: matrices["sface"][0.0] + w * matrices["dlib"][0.0] for w in me.FUSION_WEIGHTS}
    acquired["fusion"] = acquired["dlib"] & acquired["sface"]
    configured = {"dlib": state.config.match.max_distance, "sface": state.config.match.sface_max_distance}
    report: dict = {"images": len(images), "identities": int(len(set(identities))), "relabelled": changed,
                    "folds": folds, "reference_jitters": settings.reference_jitters,
                    "configured_model": state.config.match.model, "models": {}}
    for model in MODELS:
        held_out = me.cross_validate(model, matrices[model], acquired[model], identities, labels, k=folds)
        weight, cut = me.suggested_cut(matrices[model], acquired[model], identities, labels)
        entry = {"cross_validated": _groups(held_out, groups), "fold_cuts": [round(c, 4) for c in held_out.cuts],
                 "suggested_cut": round(cut, 4)}
        if model == "fusion":
            entry.update(fold_weights=held_out.weights, suggested_weight=weight)
        if model in configured:
            at_cut = me.fixed_cut(model, matrices[model][0.0], acquired[model], identities, labels, configured[model])
            entry.update(configured_cut=configured[model], at_configured_cut=_groups(at_cut, groups))
        plot = plot_path.with_name(f"{plot_path.stem}-{model}{plot_path.suffix or '.png'}")
        _plot(plot, model, held_out, me)
        entry["det_plot"] = str(plot)
        report["models"][model] = entry
    if as_json:
        click.echo(json.dumps(report))
        return
    _print(report)


def _load_cache(cache: Path | None, paths: list[str], key: str) -> tuple[dict | None, dict]:
    """Encodings saved by an earlier run for the same paths and ``[match]`` settings (``key``, see
    :func:`_cache_key`), else (None, {}).

    The settings are part of the key because the gates decide at encoding time which images have
    no usable face: encodings made under other gates (or jitters) would report other rates.
    """
    if cache is None or not cache.is_file():
        return None, {}
    try:
        with np.load(cache) as data:
            if list(data["paths"]) != paths or "settings" not in data or str(data["settings"]) != key:
                click.echo(f"{cache} holds other images or was made under other [match] settings: encoding again",
                           err=True)
                return None, {}
            vectors = {name: data[name] for name in ("dlib_ref", "dlib_live", "sface_ref", "sface_live")}
    except (OSError, KeyError, ValueError) as exc:
        click.echo(f"{cache} cannot be read ({exc}): encoding again", err=True)
        return None, {}
    present = {name: np.any(value != 0, axis=1) for name, value in vectors.items()}
    return vectors, {m: present[f"{m}_ref"] & present[f"{m}_live"] for m in ("dlib", "sface")}


def _cache_key(settings: MatchSettings) -> str:
    """The settings that change an encoding (every ``[match]`` value but the cuts, which are applied later)."""
    return settings.model_copy(update={"max_distance": 1.0, "sface_max_distance": 1.0}).model_dump_json()


def _save_cache(cache: Path | None, paths: list[str], key: str, vectors: dict) -> None:
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as handle:
            np.savez(handle, paths=np.array(paths), settings=np.array(key), **vectors)
        cache.chmod(0o600)  # biometric templates
    except OSError as exc:
        click.echo(f"encodings not cached in {cache}: {exc}", err=True)


def _parts(paths: list[str], references: dict, lives: dict, split_parts) -> tuple[dict, dict]:  # noqa: ANN001
    """Per-model (n, 128) arrays of reference and live parts, and per-model acquired masks."""
    n = len(paths)
    vectors = {f"{m}_{side}": np.zeros((n, 128), np.float32) for m in ("dlib", "sface") for side in ("ref", "live")}
    present = {key: np.zeros(n, bool) for key in vectors}
    for row, path in enumerate(paths):
        for side, encodings in (("ref", references), ("live", lives)):
            vector = encodings[path].vector
            if vector is None:
                continue
            for model, part in zip(("dlib", "sface"), split_parts(vector), strict=True):
                if part is not None:
                    vectors[f"{model}_{side}"][row] = part
                    present[f"{model}_{side}"][row] = True
    acquired = {m: present[f"{m}_ref"] & present[f"{m}_live"] for m in ("dlib", "sface")}
    return vectors, acquired


def _groups(result, only: tuple[str, ...]) -> dict:  # noqa: ANN001 - ModelResult
    out = {}
    for name, rates in result.groups.items():
        if only and name != "all" and name not in only:
            continue
        out[name] = {
            "far": rates.far.value, "far_ci": list(rates.far.interval), "impostor_pairs": rates.far.trials,
            "false_accepts": rates.far.errors,
            "frr": rates.frr.value, "frr_ci": list(rates.frr.interval), "genuine_pairs": rates.frr.trials,
            "false_rejects": rates.frr.errors,
            "fta": rates.fta.value, "fta_ci": list(rates.fta.interval), "images": rates.fta.trials,
            "failed_images": rates.fta.errors,
        }
    return out


def _plot(path: Path, model: str, result, me) -> None:  # noqa: ANN001
    from kiosk.cli.det_plot import write_det_plot  # noqa: PLC0415

    far, frr = me.det_points(result.genuine, result.impostor)
    at_zero = (float(np.mean(result.impostor <= 0)) if result.impostor.size else 0.0,
               float(np.mean(result.genuine > 0)) if result.genuine.size else 0.0)
    try:
        write_det_plot(path, f"DET, {model}: held-out pairs, dot = each fold's cut", {model: (far, frr)}, {model: at_zero})
    except OSError as exc:
        raise click.FileError(str(path), hint=str(exc)) from None


def _rate(value: float, ci: list, errors: int, trials: int, digits: int) -> str:
    if not trials:
        return "n/a"
    return f"{100 * value:.{digits}f} % [{100 * ci[0]:.{digits}f}-{100 * ci[1]:.{digits}f}] ({errors}/{trials})"


def _table(groups: dict) -> None:
    for name, g in groups.items():
        click.echo(f"    {name:<12} FAR {_rate(g['far'], g['far_ci'], g['false_accepts'], g['impostor_pairs'], 3):<34} "
                   f"FRR {_rate(g['frr'], g['frr_ci'], g['false_rejects'], g['genuine_pairs'], 2):<32} "
                   f"FTA {_rate(g['fta'], g['fta_ci'], g['failed_images'], g['images'], 2)}")


def _print(report: dict) -> None:
    click.echo(f"{report['images']} images, {report['identities']} identities ({report['relabelled']} relabelled); "
               f"{report['folds']}-fold cross-validation by identity; references with {report['reference_jitters']} "
               f"dlib jitters; rates with 95 % Wilson intervals (errors/trials)")
    for model, entry in report["models"].items():
        extra = f", weights {entry['fold_weights']}" if "fold_weights" in entry else ""
        click.echo(f"{model}: held-out, cut per fold {entry['fold_cuts']}{extra}")
        _table(entry["cross_validated"])
        suggestion = f"  suggested cut (same rule on every pair): {entry['suggested_cut']}"
        if "suggested_weight" in entry:
            suggestion += f" with dlib weight {entry['suggested_weight']}"
        click.echo(suggestion)
        if "at_configured_cut" in entry:
            click.echo(f"  at the configured cut {entry['configured_cut']} (every pair, not held out):")
            _table(entry["at_configured_cut"])
        click.echo(f"  DET plot: {entry['det_plot']}")
    click.echo(f"configured model: {report['configured_model']}")
