"""Comparing matchers (dlib, SFace, their score fusion) on labelled images, with held-out cuts.

Pure numpy, no models: the caller encodes each image once as a reference and once as a live frame
per model and hands in (n, d) arrays with a row mask of acquired images. All scores are distances
(smaller is closer): dlib's Euclidean distance, SFace's 1 - cosine, and the fusion
``sface + weight * dlib`` (both are on comparable scales: impostors near 0.6-1.0 and 0.5-0.8).

The operating point is chosen by identity-disjoint k-fold cross-validation: identities are dealt
to folds within each group, the cut (and the fusion weight) is chosen on the pairs of k-1 folds as
the largest cut whose FAR is <= the target on **every** impostor population named in
``strict_groups`` (young Chinese, elderly Asian...), and measured on the held-out fold's pairs; the
reported rates pool the held-out pairs, each scored against its own fold's cut. Identities of a
held-out fold never chose the cut that judges them.

Populations (``group`` is the first folder under ``faces/``):
- ``<group>``: pairs whose two images are both in that group;
- ``elderly``: pairs of two images of :data:`ELDERLY_GROUP` (older East Asian faces, one image per
  person: impostor pairs only, no genuine pair exists for them, see ``docs/matching.md``);
- ``east_asian``: pairs within :data:`EAST_ASIAN_GROUPS` (the people served), cross-age included.

Confidence intervals are Wilson score intervals at 95 %; with zero errors among N trials the upper
bound is about 3/N (the rule of three), which is why a FAR of 0.1 % needs thousands of impostor pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ELDERLY_GROUP = "utk_asian50s"
EAST_ASIAN_GROUPS = ("casia", ELDERLY_GROUP)
TARGET_FAR = 0.001
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def wilson(errors: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate ``errors / trials`` ((0, 1) when there is no trial)."""
    if trials <= 0:
        return 0.0, 1.0
    p = errors / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """Errors among trials with its 95 % interval."""

    errors: int
    trials: int

    @property
    def value(self) -> float:
        return self.errors / self.trials if self.trials else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.errors, self.trials)

    def text(self) -> str:
        """``1.23 % [0.50-2.40] (3/244)``."""
        if not self.trials:
            return "n/a (no trial)"
        low, high = self.interval
        return f"{100 * self.value:.2f} % [{100 * low:.2f}-{100 * high:.2f}] ({self.errors}/{self.trials})"


@dataclass(frozen=True)
class GroupResult:
    """Held-out FAR, FRR and image-level FTA of one population at the chosen operating point."""

    far: Rate
    frr: Rate
    fta: Rate


@dataclass
class ModelResult:
    """One model's cross-validated result: per-population rates, the cuts chosen per fold, the
    fusion weights chosen per fold (fusion only), and the pooled held-out scores for a DET plot
    (each shifted by its fold's cut: the operating point is 0)."""

    name: str
    groups: dict[str, GroupResult]
    cuts: list[float]
    weights: list[float] = field(default_factory=list)
    genuine: np.ndarray = field(default_factory=lambda: np.array([]))
    impostor: np.ndarray = field(default_factory=lambda: np.array([]))


def folds_by_identity(identities: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Fold number per image: each group's identities dealt round-robin, so every fold mixes groups."""
    fold = np.zeros(len(identities), dtype=int)
    for group in np.unique(groups):
        names = sorted(set(identities[groups == group]))
        for n, name in enumerate(names):
            fold[identities == name] = n % k
    return fold


def distances(model: str, reference: np.ndarray, live: np.ndarray) -> np.ndarray:
    """(n, n) distance matrix, reference rows against live rows: ``dlib`` Euclidean, ``sface`` 1 - cosine."""
    a, b = np.asarray(reference, np.float64), np.asarray(live, np.float64)
    if model == "dlib":
        sq = np.sum(a**2, axis=1)[:, None] + np.sum(b**2, axis=1)[None, :] - 2 * a @ b.T
        return np.sqrt(np.maximum(sq, 0.0))
    if model == "sface":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return 1.0 - an @ bn.T
    raise ValueError(f"unknown model {model!r}")


def population_masks(identities: np.ndarray, groups: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(genuine mask, impostor mask) over the unordered pairs (i < j) of each population."""
    n = len(identities)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    same = identities[:, None] == identities[None, :]
    masks: dict[str, tuple[np.ndarray, np.ndarray]] = {"all": (upper & same, upper & ~same)}
    for group in sorted(set(groups)):
        both = (groups[:, None] == group) & (groups[None, :] == group)
        masks[group] = (upper & same & both, upper & ~same & both)
    old = groups == ELDERLY_GROUP
    if old.any():
        both = old[:, None] & old[None, :]
        masks["elderly"] = (upper & same & both, upper & ~same & both)
    asian = np.isin(groups, EAST_ASIAN_GROUPS)
    if asian.any():
        both = asian[:, None] & asian[None, :]
        masks["east_asian"] = (upper & same & both, upper & ~same & both)
    return masks


def cut_for_far(impostor: np.ndarray, target: float = TARGET_FAR) -> float:
    """The largest cut with FAR <= ``target`` over ``impostor`` distances (accept when <= cut)."""
    if not impostor.size:
        return float("inf")
    ordered = np.sort(impostor)
    allowed = int(math.floor(target * ordered.size))
    if allowed >= ordered.size:
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], -np.inf))


def _strict_cut(matrix: np.ndarray, pairs: np.ndarray, masks: dict, strict: Sequence[str], target: float) -> float:
    return min(cut_for_far(matrix[pairs & masks[name][1]], target) for name in strict if name in masks)


def cross_validate(name: str, matrices: dict[float, np.ndarray], acquired: np.ndarray, identities: np.ndarray,
                   groups: np.ndarray, *, k: int = 5, target: float = TARGET_FAR,
                   strict: Sequence[str] = ("all", "casia", "elderly", "east_asian")) -> ModelResult:
    """Held-out rates of one model. ``matrices`` maps a fusion weight to its distance matrix (one
    entry, any key, for a single model): each training fold picks the weight with the lowest
    training FRR at its own strict cut, then the held-out fold is judged with that weight and cut.
    ``acquired``: images with a usable encoding on both sides (others count as FTA only)."""
    identities, groups = np.asarray(identities), np.asarray(groups)
    masks = population_masks(identities, groups)
    fold = folds_by_identity(identities, groups, k)
    ok_pair = acquired[:, None] & acquired[None, :]
    errors: dict[str, list[int]] = {p: [0, 0, 0, 0] for p in masks}  # FA, impostors, FR, genuines
    cuts, weights, genuine_all, impostor_all = [], [], [], []
    for f in range(k):
        train = (fold != f)[:, None] & (fold != f)[None, :] & ok_pair
        test = (fold == f)[:, None] & (fold == f)[None, :] & ok_pair
        best: tuple[float, float, float] | None = None  # (train FRR, weight, cut)
        for weight, matrix in matrices.items():
            cut = _strict_cut(matrix, train, masks, strict, target)
            genuine = matrix[train & masks["all"][0]]
            frr = float(np.mean(genuine > cut)) if genuine.size else 1.0
            if best is None or frr < best[0]:
                best = (frr, weight, cut)
        assert best is not None
        _, weight, cut = best
        cuts.append(cut)
        weights.append(weight)
        matrix = matrices[weight]
        for population, (gen, imp) in masks.items():
            g, i = matrix[test & gen], matrix[test & imp]
            errors[population][0] += int(np.sum(i <= cut))
            errors[population][1] += int(i.size)
            errors[population][2] += int(np.sum(g > cut))
            errors[population][3] += int(g.size)
        genuine_all.append(matrix[test & masks["all"][0]] - cut)
        impostor_all.append(matrix[test & masks["all"][1]] - cut)
    results = {}
    for population in masks:
        members = _members(population, groups)
        fta = Rate(int(np.sum(members & ~acquired)), int(np.sum(members)))
        fa, imp, fr, gen = errors[population]
        results[population] = GroupResult(Rate(fa, imp), Rate(fr, gen), fta)
    return ModelResult(name, results, cuts, weights if len(matrices) > 1 else [],
                       np.concatenate(genuine_all), np.concatenate(impostor_all))


def fixed_cut(name: str, matrix: np.ndarray, acquired: np.ndarray, identities: np.ndarray, groups: np.ndarray,
              cut: float) -> ModelResult:
    """Rates of every pair at one given cut (the configured operating point), no cross-validation."""
    identities, groups = np.asarray(identities), np.asarray(groups)
    masks = population_masks(identities, groups)
    ok_pair = acquired[:, None] & acquired[None, :]
    results = {}
    for population, (gen, imp) in masks.items():
        g, i = matrix[ok_pair & gen], matrix[ok_pair & imp]
        members = _members(population, groups)
        results[population] = GroupResult(Rate(int(np.sum(i <= cut)), int(i.size)), Rate(int(np.sum(g > cut)), int(g.size)),
                                          Rate(int(np.sum(members & ~acquired)), int(np.sum(members))))
    return ModelResult(name, results, [cut], [], matrix[ok_pair & masks["all"][0]] - cut,
                       matrix[ok_pair & masks["all"][1]] - cut)


def _members(population: str, groups: np.ndarray) -> np.ndarray:
    if population == "all":
        return np.ones(groups.shape, dtype=bool)
    if population == "elderly":
        return groups == ELDERLY_GROUP
    if population == "east_asian":
        return np.isin(groups, EAST_ASIAN_GROUPS)
    return groups == population


def det_points(genuine: np.ndarray, impostor: np.ndarray, points: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) over the range of the (shifted) scores, for a DET plot (a fold without impostor
    pairs has an infinite cut: its scores are left out)."""
    genuine, impostor = genuine[np.isfinite(genuine)], impostor[np.isfinite(impostor)]
    values = np.concatenate([genuine, impostor])
    if not values.size:
        return np.array([]), np.array([])
    cuts = np.linspace(float(values.min()), float(values.max()), points)
    far = np.array([np.mean(impostor <= c) if impostor.size else 0.0 for c in cuts])
    frr = np.array([np.mean(genuine > c) if genuine.size else 0.0 for c in cuts])
    return far, frr


def suggested_cut(matrices: dict[float, np.ndarray], acquired: np.ndarray, identities: np.ndarray, groups: np.ndarray,
                  *, target: float = TARGET_FAR,
                  strict: Sequence[str] = ("all", "casia", "elderly", "east_asian")) -> tuple[float, float]:
    """(weight, cut) chosen by the cross-validation's rule on every pair: what to configure."""
    identities, groups = np.asarray(identities), np.asarray(groups)
    masks = population_masks(identities, groups)
    pairs = acquired[:, None] & acquired[None, :]
    best: tuple[float, float, float] | None = None
    for weight, matrix in matrices.items():
        cut = _strict_cut(matrix, pairs, masks, strict, target)
        genuine = matrix[pairs & masks["all"][0]]
        frr = float(np.mean(genuine > cut)) if genuine.size else 1.0
        if best is None or frr < best[0]:
            best = (frr, weight, cut)
    assert best is not None
    return best[1], best[2]
