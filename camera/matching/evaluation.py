"""Verification accuracy on a labelled image set, as ISO/IEC 19795-1 counts it.

Pure numpy, no models: the caller encodes the images (``FaceMatcher`` or the worker pool) and
hands in one template per image, or ``None`` for an image with no usable face (a failure to
acquire). Pairs are every unordered pair of images: genuine when both carry the same identity,
impostor otherwise.

- FTA: fraction of images with no usable template.
- FAR / FRR: over the pairs whose two images were both acquired (acquisition failures are reported
  as FTA, not folded into FRR). A pair is accepted when its distance is <= the threshold.
- The "rule of three": with zero false accepts among N impostor pairs, the 95 % upper bound of the
  FAR is about 3 / N, so a FAR of 0.1 % can only be shown with several thousand impostor pairs.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LabelledImage:
    """One row of a ``labels.csv`` (``path,identity``); ``group`` is the first folder under faces/."""

    path: Path
    identity: str
    group: str


def read_labels(labels_csv: Path) -> list[LabelledImage]:
    """Reads ``path,identity`` rows; a relative path is taken from the csv's folder, else its parent.

    Raises ``ValueError`` naming the line for a row without both columns, ``OSError`` when the
    file cannot be read.
    """
    rows: list[LabelledImage] = []
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "identity"} <= set(reader.fieldnames):
            raise ValueError(f"{labels_csv}: the header must name the columns path and identity")
        for line, row in enumerate(reader, start=2):
            raw, identity = (row.get("path") or "").strip(), (row.get("identity") or "").strip()
            if not raw or not identity:
                raise ValueError(f"{labels_csv}:{line}: a row needs both a path and an identity")
            path = Path(raw)
            if not path.is_absolute():
                beside = labels_csv.parent / path
                path = beside if beside.exists() else labels_csv.parent.parent / path
            parts = Path(raw).parts
            if Path(raw).is_absolute():
                group = ""
            else:
                group = parts[1] if len(parts) > 2 and parts[0] == "faces" else (parts[0] if len(parts) > 1 else "")
            rows.append(LabelledImage(path=path, identity=identity, group=group))
    return rows


@dataclass(frozen=True)
class PairScores:
    """Distances of every acquired pair, split into genuine and impostor, with the FTA count."""

    genuine: np.ndarray
    impostor: np.ndarray
    images: int
    failed_images: int

    @property
    def fta(self) -> float:
        """Failure-to-acquire rate over images."""
        return self.failed_images / self.images if self.images else 0.0

    def far(self, threshold: float) -> float:
        """False-accept rate at ``threshold`` (accept when distance <= threshold)."""
        return float(np.mean(self.impostor <= threshold)) if self.impostor.size else 0.0

    def frr(self, threshold: float) -> float:
        """False-reject rate at ``threshold`` among acquired genuine pairs."""
        return float(np.mean(self.genuine > threshold)) if self.genuine.size else 0.0

    def threshold_for_far(self, target_far: float) -> float:
        """The largest threshold whose FAR is <= ``target_far`` (just below the k-th impostor)."""
        if not self.impostor.size:
            return float("inf")
        ordered = np.sort(self.impostor)
        allowed = int(np.floor(target_far * ordered.size))  # false accepts the target permits
        if allowed >= ordered.size:
            return float(ordered[-1])
        return float(np.nextafter(ordered[allowed], -np.inf))

    def det_curve(self, points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, FAR, FRR) over the range of observed distances, for a DET plot."""
        values = np.concatenate([self.genuine, self.impostor])
        if not values.size:
            return np.array([]), np.array([]), np.array([])
        thresholds = np.linspace(float(values.min()), float(values.max()), points)
        far = np.array([self.far(t) for t in thresholds])
        frr = np.array([self.frr(t) for t in thresholds])
        return thresholds, far, frr


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and ``b`` (computed in their dtype)."""
    squared_a, squared_b = np.sum(a**2, axis=1), np.sum(b**2, axis=1)
    return np.sqrt(np.maximum(squared_a[:, None] + squared_b[None, :] - 2 * a @ b.T, 0.0))


def pair_scores(templates: Sequence[np.ndarray | None], identities: Sequence[str],
                keep: np.ndarray | None = None, live: Sequence[np.ndarray | None] | None = None) -> PairScores:
    """Distances of all unordered pairs of acquired templates.

    ``keep`` (n x n bool) optionally restricts the pairs counted (for example to one group).
    ``live``: the same images encoded as live frames; then pair (i, j), i < j, compares the
    reference encoding of i with the live encoding of j, as the kiosk compares a jittered
    reference with an unjittered live frame.
    """
    live = templates if live is None else live
    acquired = [i for i, t in enumerate(templates) if t is not None and live[i] is not None]
    n = len(acquired)
    if n < 2:
        return PairScores(np.array([]), np.array([]), len(templates), len(templates) - n)
    matrix = np.stack([np.asarray(templates[i], dtype=np.float64) for i in acquired])
    other = np.stack([np.asarray(live[i], dtype=np.float64) for i in acquired])
    labels = np.array([identities[i] for i in acquired])
    distances = distance_matrix(matrix, other)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    if keep is not None:
        upper &= keep[np.ix_(acquired, acquired)]
    same = labels[:, None] == labels[None, :]
    return PairScores(distances[upper & same], distances[upper & ~same], len(templates), len(templates) - n)


def summary_line(name: str, scores: PairScores, threshold: float) -> str:
    """A one-line report: FAR, FRR, FTA and the pair counts at ``threshold``."""
    return (f"{name:<10} threshold {threshold:.3f}  FAR {100 * scores.far(threshold):6.3f} % "
            f"({int(np.sum(scores.impostor <= threshold))}/{scores.impostor.size})  "
            f"FRR {100 * scores.frr(threshold):6.2f} % ({int(np.sum(scores.genuine > threshold))}/{scores.genuine.size})  "
            f"FTA {100 * scores.fta:5.2f} % ({scores.failed_images}/{scores.images} images)")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm", ".pbm")


def read_folder_tree(root: Path) -> list[LabelledImage]:
    """Every image under ``root``: its identity is the folder holding it (relative to ``root``), its
    group the first folder under ``root``. An image directly in ``root`` is an identity of its own.
    A ``labels.csv`` in ``root`` wins over the folder names (see :func:`read_labels`)."""
    if (root / "labels.csv").is_file():
        return read_labels(root / "labels.csv")
    rows: list[LabelledImage] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        parts = path.relative_to(root).parts
        identity = "/".join(parts[:-1]) if len(parts) > 1 else path.stem
        rows.append(LabelledImage(path=path, identity=identity, group=parts[0] if len(parts) > 2 else (parts[0] if len(parts) == 2 else "")))
    return rows


def relabel(images: list[LabelledImage], corrections: Path) -> tuple[list[LabelledImage], int]:
    """``images`` with the identities of a ``path,identity`` corrections file (``#`` lines are
    comments; paths as in ``labels.csv``, matched by their ending); returns the count changed.
    Raises ``ValueError`` for a malformed file, ``OSError`` when it cannot be read."""
    lines = [line for line in corrections.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or not {"path", "identity"} <= set(reader.fieldnames):
        raise ValueError(f"{corrections}: the header must name the columns path and identity")
    fixes = {Path(row["path"].strip()).as_posix(): row["identity"].strip() for row in reader}
    out, changed = [], 0
    for image in images:
        posix = image.path.as_posix()
        identity = next((new for tail, new in fixes.items() if posix.endswith("/" + tail) or posix == tail), None)
        if identity is not None and identity != image.identity:
            changed += 1
            image = LabelledImage(image.path, identity, image.group)
        out.append(image)
    return out, changed
