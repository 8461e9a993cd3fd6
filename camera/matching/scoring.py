"""Pure scoring functions: template checks, distances, score-level fusion of live frames.

No models here: numpy arrays in, floats out, so the decision rules are tested without dlib.

Cohort (AS-norm) normalisation was measured and not adopted: see ``docs/matching.md`` step 5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DESCRIPTOR_SIZE = 128
#: A template is dlib's descriptor alone (128 floats: every template stored before SFace came in)
#: or dlib's descriptor followed by SFace's unit embedding (256 floats). A part that could not be
#: computed (the model missing, or its detector found no face) is all zeros: no real descriptor is.
TEMPLATE_SIZES = (DESCRIPTOR_SIZE, 2 * DESCRIPTOR_SIZE)


def as_template(vector: np.ndarray) -> np.ndarray:
    """Checks and returns a template as float32 (128,) or (256,); raises ``ValueError`` otherwise."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.size not in TEMPLATE_SIZES or not np.all(np.isfinite(array)) or not np.any(array):
        raise ValueError(f"a face template is 128 or 256 finite floats, got shape {np.shape(vector)}")
    return array


def join_parts(dlib_part: np.ndarray | None, sface_part: np.ndarray | None) -> np.ndarray:
    """The template of the parts computed (see :data:`TEMPLATE_SIZES`); raises ``ValueError`` when
    neither is given."""
    if dlib_part is None and sface_part is None:
        raise ValueError("a template needs at least one descriptor")
    if sface_part is None:
        return np.asarray(dlib_part, np.float32).reshape(-1).copy()
    first = np.zeros(DESCRIPTOR_SIZE, np.float32) if dlib_part is None else np.asarray(dlib_part, np.float32).reshape(-1)
    return np.concatenate([first, np.asarray(sface_part, np.float32).reshape(-1)])


def split_parts(template: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dlib part, SFace part) of a template, None for a part that is absent or all zeros."""
    array = np.asarray(template, np.float32).reshape(-1)
    dlib_part = array[:DESCRIPTOR_SIZE]
    sface_part = array[DESCRIPTOR_SIZE:] if array.size == 2 * DESCRIPTOR_SIZE else None
    return (dlib_part if np.any(dlib_part) else None,
            sface_part if sface_part is not None and np.any(sface_part) else None)


def sface_distance(a: np.ndarray, b: np.ndarray) -> float:
    """SFace's score as a distance: 1 - cosine (0 identical, about 0.6-1.0 for strangers)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return max(0.0, 1.0 - float(a64 @ b64) / norm) if norm > 0 else 1.0


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (0 identical; dlib's usual cut is 0.6)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def fused_distance(live: Sequence[np.ndarray], reference: np.ndarray) -> float:
    """Score-level fusion of several live frames: the mean of their distances to one reference.

    Why the mean of distances and not the distance of the mean descriptor: averaging descriptors
    pulls every face toward the population centre, so impostors come closer too and the cut
    calibrated on single images no longer holds (measured with 3 photos per live side: CASIA FAR
    0.26 % even at a stricter 0.34 cut, against 0.065 % at 0.36 for the mean of distances). The mean of distances keeps the single-image scale, so one
    ``match.max_distance`` serves 1 to N frames, and it still averages out per-frame noise.
    Raises ``ValueError`` on an empty list.
    """
    if not live:
        raise ValueError("no live frame to compare")
    return float(np.mean([distance(v, reference) for v in live]))
