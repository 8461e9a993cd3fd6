#!/usr/bin/env python3
"""Calibrates and measures the face matcher on ../shared/media/faces (labels.csv).

Encodes every labelled image once per pipeline variant (cached as .npz outside the repository,
default /tmp/kiosk-match-calibration: the cache holds biometric templates of the media's people and
must never be committed), then prints the table of docs/matching.md:

- baseline (HOG + 5 points + ResNet, no gates) against the usual 0.6 cut and against a cut chosen
  for FAR <= 0.1 %;
- each accuracy step: quality gates, reference jitter, multi-frame fusion of the live side,
  cohort (score) normalisation;
- references downscaled to the 102x126 chip photo size;
- every threshold is chosen on some identities and measured on others (k-fold cross-validation by
  identity), so no number is measured on the identities that chose it.

Usage: .venv/bin/python scripts/calibrate_matching.py [--media ../shared/media] [--cache DIR]
Uses both cores (one encoder process per core).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camera.matching.encoding import Encoder  # noqa: E402
from camera.matching.errors import MatchError  # noqa: E402
from camera.matching.evaluation import LabelledImage, PairScores, distance_matrix, read_labels  # noqa: E402
from camera.matching.scoring import DESCRIPTOR_SIZE  # noqa: E402
from camera.matching.templates import read_image  # noqa: E402
from camera.settings import MatchSettings  # noqa: E402

TARGET_FAR = 0.001
CHIP_W, CHIP_H = 102, 126  # the second-generation ID card chip photo
QUALITY_FIELDS = ("face_width_px", "sharpness", "yaw_ratio", "visible_ratio", "detection_score", "brightness")

_encoder: Encoder | None = None


def _settings() -> MatchSettings:
    from kiosk.config import load_config  # noqa: PLC0415 - the script may use the kiosk's defaults

    return load_config().match


def _init(settings_json: str) -> None:
    global _encoder  # noqa: PLW0603 - one encoder per worker process
    _encoder = Encoder(MatchSettings.model_validate_json(settings_json))


def _chip_photo(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """An ID-chip-like reference: face about 62 % of the width, 102x126 px, area-downscaled."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    width = (box[2] - box[0]) / 0.62
    height = width * CHIP_H / CHIP_W
    left, top = int(round(cx - width / 2)), int(round(cy - height * 0.45))
    pad = int(max(width, height))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[top + pad: top + pad + int(height), left + pad: left + pad + int(width)]
    return cv2.resize(crop, (CHIP_W, CHIP_H), interpolation=cv2.INTER_AREA)


def _encode_one(job: tuple[str, int, bool]) -> tuple[np.ndarray | None, str, list[float], tuple]:
    path, jitters, chip = job
    assert _encoder is not None
    try:
        image = read_image(Path(path))  # bytes first: cv2.imread fails on non-ASCII paths
    except MatchError:
        return None, "image_unreadable", [np.nan] * len(QUALITY_FIELDS), ()
    try:
        if chip:
            first = _encoder.encode(image, jitters=0, require_usable=False)
            image = _chip_photo(image, first.box)
        encoding = _encoder.encode(image, jitters=jitters, require_usable=False)
    except MatchError as exc:
        return None, exc.code.value + (f":{exc.detail}" if exc.detail else ""), [np.nan] * len(QUALITY_FIELDS), ()
    return encoding.vector, ",".join(encoding.issues), [getattr(encoding.quality, f) for f in QUALITY_FIELDS], encoding.box


def encode_variant(images: list[LabelledImage], settings: MatchSettings, name: str, jitters: int, chip: bool,
                   cache: Path) -> dict[str, np.ndarray]:
    """Encodes every image (cached in ``cache/name.npz``); returns vectors, ok mask, issues, quality."""
    file = cache / f"{name}.npz"
    if file.exists():
        data = dict(np.load(file, allow_pickle=False))
        if len(data["ok"]) == len(images):
            return data
    jobs = [(str(image.path), jitters, chip) for image in images]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=_init,
                             initargs=(settings.model_dump_json(),)) as pool:
        results = list(pool.map(_encode_one, jobs, chunksize=8))
    data = {
        "vectors": np.stack([r[0] if r[0] is not None else np.zeros(DESCRIPTOR_SIZE, np.float32) for r in results]),
        "ok": np.array([r[0] is not None for r in results]),
        "issues": np.array([r[1] for r in results]),
        "quality": np.array([r[2] for r in results], dtype=np.float64),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, **data)
    return data


# ---------------------------------------------------------------- scoring

def snorm(d: np.ndarray, a_cohort: np.ndarray, b_cohort: np.ndarray, top: int) -> np.ndarray:
    """Adaptive symmetric normalisation of distances ``d`` (i x j) given each side's cohort distances.

    Each side's statistics come from its ``top`` nearest cohort templates (the impostors that
    look most like it); the score is how many of those standard deviations the pair is closer than
    them, negated so that lower still means more alike.
    """
    def stats(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nearest = np.sort(c, axis=1)[:, :top]
        return nearest.mean(axis=1), np.maximum(nearest.std(axis=1), 1e-6)

    ma, sa = stats(a_cohort)
    mb, sb = stats(b_cohort)
    return 0.5 * ((d - ma[:, None]) / sa[:, None] + (d - mb[None, :]) / sb[None, :])


def folds_by_identity(identities: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Fold number per image: identities dealt round-robin within each group, so folds mix groups."""
    fold = np.zeros(len(identities), dtype=int)
    for group in np.unique(groups):
        names = sorted(set(identities[groups == group]))
        for n, name in enumerate(names):
            fold[identities == name] = n % k
    return fold


def scores_all(vectors: np.ndarray, mode: str, cohort_mask: np.ndarray, top: int) -> np.ndarray:
    """Pairwise score matrix: plain distance or s-norm against the cohort rows."""
    d = distance_matrix(vectors, vectors)
    if mode == "distance":
        return d
    cohort = vectors[cohort_mask]
    c = distance_matrix(vectors, cohort)
    return snorm(d, c, c, top)


def cross_validated(data_vectors: np.ndarray, ok: np.ndarray, identities: np.ndarray, groups: np.ndarray,
                    mode: str = "distance", k: int = 5, top: int = 30, fuse: int = 0, ref: np.ndarray | None = None) -> dict[str, PairScores | float]:
    """Held-out genuine/impostor scores: each fold's threshold is chosen on the other folds.

    Returns the pooled held-out scores shifted by each fold's own threshold (score - threshold, so
    the operating point is 0 for every pair), for the whole set and per group.
    """
    fold = folds_by_identity(identities, groups, k)
    result_g: dict[str, list[np.ndarray]] = {}
    result_i: dict[str, list[np.ndarray]] = {}
    thresholds = []
    for f in range(k):
        train, test = (fold != f) & ok, (fold == f) & ok
        # Threshold: scores among training identities; s-norm cohort for a training pair = training
        # images of identities other than the pair's (approximated by all training images minus the
        # pair's own two rows' identities through masking below).
        train_scores = trials(data_vectors, identities, groups, train, train, mode, top, fuse, ref)
        # The operating point must hold overall AND on the served population alone: take the
        # stricter of the two thresholds (the Chinese set's impostors are the harder ones).
        thr = min(PairScores(*train_scores[name], 0, 0).threshold_for_far(TARGET_FAR) for name in ("all", "casia"))
        thresholds.append(thr)
        test_scores = trials(data_vectors, identities, groups, test, train, mode, top, fuse, ref)
        for name, (g, i) in test_scores.items():
            result_g.setdefault(name, []).append(g - thr)
            result_i.setdefault(name, []).append(i - thr)
    out: dict[str, PairScores | float] = {
        name: PairScores(np.concatenate(result_g[name]), np.concatenate(result_i[name]), int(ok.size), int((~ok).sum()))
        for name in result_g
    }
    out["threshold_mean"] = float(np.mean(thresholds))
    out["threshold_min"] = float(np.min(thresholds))
    return out


def _pairs(v: np.ndarray, identities: np.ndarray, groups: np.ndarray, rows: np.ndarray, cohort: np.ndarray,
           mode: str, top: int, ref: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    idx = np.flatnonzero(rows)
    d = distance_matrix((v if ref is None else ref)[idx], v[idx])
    if mode == "snorm":
        cidx = np.flatnonzero(cohort)
        c = distance_matrix(v[idx], v[cidx])
        # Never let an image's own identity sit in its cohort (it would look like an impostor).
        same_id = identities[idx][:, None] == identities[cidx][None, :]
        c = np.where(same_id, np.inf, c)
        d = snorm(d, c, c, top)
    upper = np.triu(np.ones(d.shape, dtype=bool), k=1)
    same = identities[idx][:, None] == identities[idx][None, :]
    out = {"all": (d[upper & same], d[upper & ~same])}
    for group in np.unique(groups[idx]):
        both = (groups[idx][:, None] == group) & (groups[idx][None, :] == group)
        out[group] = (d[upper & same & both], d[upper & ~same & both])
    return out


def trials(v: np.ndarray, identities: np.ndarray, groups: np.ndarray, rows: np.ndarray, cohort: np.ndarray,
           mode: str, top: int, fuse: int, ref: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Genuine/impostor scores among ``rows``; ``fuse`` > 0 simulates multi-frame live fusion.

    With fusion (as the matcher does it: score level, the mean of the per-frame distances), each
    usable image in turn is the reference; the live side of identity J is up to ``fuse`` other
    images of J. Distances only (``mode`` must be ``distance``).
    """
    if fuse <= 0:
        return _pairs(v, identities, groups, rows, cohort, mode, top, ref)
    if mode != "distance":
        raise ValueError("fusion trials are measured on distances")
    idx = np.flatnonzero(rows)
    d = distance_matrix((v if ref is None else ref)[idx], v[idx])  # reference x live image
    position = {image: n for n, image in enumerate(idx)}
    members = {name: [position[m] for m in idx[identities[idx] == name]] for name in sorted(set(identities[idx]))}
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r, image in enumerate(idx):
        own = identities[image]
        for name, live in members.items():
            chosen = [m for m in live if m != r][:fuse]
            if not chosen:
                continue
            score = float(d[r, chosen].mean())
            genuine = name == own
            for group in ("all", groups[image]):
                if group != "all" and groups[idx[chosen[0]]] != group:
                    continue
                out.setdefault(group, ([], []))[0 if genuine else 1].append(score)
    return {g: (np.array(a), np.array(b)) for g, (a, b) in out.items()}


def row(name: str, scores: dict, groups: tuple[str, ...] = ("all", "casia")) -> str:
    """A table row: FAR / FRR at the held-out operating point (0 after shifting) per group."""
    cells = [f"{name:<44}"]
    for group in groups:
        s = scores[group]
        cells.append(f"{100 * s.far(0.0):6.3f} % {100 * s.frr(0.0):6.2f} % ({s.impostor.size}/{s.genuine.size})")
    cells.append(f"FTA {100 * scores['all'].fta:5.2f} %")
    return " | ".join(cells)


def fixed_row(name: str, vectors: np.ndarray, ok: np.ndarray, identities: np.ndarray, groups: np.ndarray,
              threshold: float) -> str:
    """FAR / FRR at one fixed distance threshold (no cross-validation)."""
    pairs = _pairs(vectors, identities, groups, ok, ok, "distance", 0)
    cells = [f"{name:<44}"]
    for group in ("all", "casia"):
        g, i = pairs[group]
        cells.append(f"{100 * np.mean(i <= threshold):6.3f} % {100 * np.mean(g > threshold):6.2f} % ({i.size}/{g.size})")
    cells.append(f"FTA {100 * (1 - ok.mean()):5.2f} %")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "media")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/kiosk-match-calibration"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    images = read_labels(args.media / "faces" / "labels.csv")
    identities = np.array([i.identity for i in images])
    groups = np.array([i.group for i in images])
    settings = _settings()
    base = encode_variant(images, settings, "base", 0, False, args.cache)
    print(f"{len(images)} images, {len(set(identities))} identities; settings from config/kiosk.toml")
    header = f"{'step':<44} | {'all: FAR     FRR   (imp/gen)':<34} | {'casia: FAR     FRR   (imp/gen)':<34} | FTA"
    print(header)
    detected = base["ok"]
    print(fixed_row("0 plain dlib, cut 0.6, no gates", base["vectors"], detected, identities, groups, 0.6))
    print(row("1 plain dlib, cut for FAR<=0.1% (CV)", cross_validated(base["vectors"], detected, identities, groups)))
    gated = detected & (base["issues"] == "")
    v = base["vectors"]
    print(row("2 + quality gates", cross_validated(v, gated, identities, groups)))
    jit = encode_variant(images, settings, "jitter10", 10, False, args.cache)
    gj = gated & jit["ok"]
    print(row("3 + 10 jitters, reference side only", cross_validated(v, gj, identities, groups, ref=jit["vectors"])))
    print(row("3b + 10 jitters on both sides", cross_validated(jit["vectors"], gj, identities, groups)))
    print(row("4 + live fusion of 3 (mean distance), ref jit", cross_validated(v, gj, identities, groups, fuse=3, ref=jit["vectors"])))
    print(row("4b live fusion of 3, no jitter", cross_validated(v, gated, identities, groups, fuse=3)))
    for top in (10, 30):
        print(row(f"5 cohort AS-norm top {top}, single image", cross_validated(v, gated, identities, groups, mode="snorm", top=top)))
    chip = encode_variant(images, settings, "chip102", 0, True, args.cache)
    gc = gated & chip["ok"] & (chip["issues"] == "")
    print(row("6 references downscaled to 102x126 (chip)", cross_validated(v, gc, identities, groups, ref=chip["vectors"])))
    # The blur gate measures the aligned chip, which a 102x126 photo can only fill by upscaling:
    # measure the chip references again with that one gate lifted.
    chip_issues = np.array([",".join(x for x in i.split(",") if x and x != "blur") for i in chip["issues"]])
    gcb = gated & chip["ok"] & (chip_issues == "")
    print(row("6b same, blur gate lifted for chip references", cross_validated(v, gcb, identities, groups, ref=chip["vectors"])))
    print(f"   chip-size references: {int((gated & ~gc).sum())} of {int(gated.sum())} usable photos lose their face "
          f"({', '.join(sorted(set(chip['issues'][gated & ~gc])))})")

    print("\nOperating point on all identities (pooled, gates on, 10-jitter references, single live image):")
    pooled = _pairs(v, identities, groups, gj, gj, "distance", 0, jit["vectors"])
    candidates = {g: PairScores(*pooled[g], 0, 0).threshold_for_far(TARGET_FAR) for g in ("all", "casia")}
    print("   largest cut with FAR <= 0.1 %: " + ", ".join(f"{g} {t:.4f}" for g, t in candidates.items()))
    cut = settings.max_distance
    print(f"   configured match.max_distance = {cut}")
    for group in ("all", "casia", "deepface", "orl", "misc"):
        if group in pooled:
            g, i = pooled[group]
            members = gj if group == "all" else gj[groups == group]
            print(f"   {group:<9} FAR {100 * np.mean(i <= cut):6.3f} % ({int(np.sum(i <= cut))}/{i.size})  "
                  f"FRR {100 * np.mean(g > cut):6.2f} % ({int(np.sum(g > cut))}/{g.size})  "
                  f"FTA {100 * (1 - members.mean()):5.2f} %")
    fused = trials(v, identities, groups, gj, gj, "distance", 0, 3, jit["vectors"])
    for group in ("all", "casia"):
        g, i = fused[group]
        print(f"   fused 3  {group:<6} FAR {100 * np.mean(i <= cut):6.3f} % ({int(np.sum(i <= cut))}/{i.size})  "
              f"FRR {100 * np.mean(g > cut):6.2f} % ({int(np.sum(g > cut))}/{g.size})")

if __name__ == "__main__":
    main()
