"""Reference face templates on the wire: base64 of little-endian float32.

A template is dlib's 128-d descriptor (every template before SFace came in) or dlib's descriptor
followed by SFace's 128-d embedding (256 values; a part that could not be computed is zeros; see
``camera/matching/scoring.py``). Terminals accept both; a centre sends what its matcher built.

float32 on the wire (the rounding, ~1e-7, is far below any match threshold) keeps a
100,000-pensioner roster delta near 70 MB instead of 140 MB. Pure, thread-safe.
"""

from __future__ import annotations

import base64

import numpy as np

TEMPLATE_DIMENSIONS = 128  # dlib's descriptor; SFace's embedding has as many values
ACCEPTED_DIMENSIONS = (TEMPLATE_DIMENSIONS, 2 * TEMPLATE_DIMENSIONS)
TEMPLATE_DTYPE = "<f4"


def encode_template(template: np.ndarray) -> str:
    """A 128-d or 256-d reference template as base64 of little-endian float32.

    Raises ValueError when the array is not 128 or 256 finite numbers.
    """
    array = np.asarray(template, dtype=np.float64).reshape(-1)
    if array.size not in ACCEPTED_DIMENSIONS or not np.all(np.isfinite(array)):
        raise ValueError(f"a template is {' or '.join(map(str, ACCEPTED_DIMENSIONS))} finite numbers")
    return base64.b64encode(array.astype(TEMPLATE_DTYPE).tobytes()).decode("ascii")


def decode_template(text: str) -> np.ndarray:
    """Inverse of :func:`encode_template`, as float64; raises ValueError on a malformed value."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("a template is base64 text") from exc
    if len(raw) not in tuple(4 * n for n in ACCEPTED_DIMENSIONS):
        raise ValueError(f"a template is {' or '.join(map(str, ACCEPTED_DIMENSIONS))} float32 values "
                         f"({' or '.join(str(4 * n) for n in ACCEPTED_DIMENSIONS)} bytes)")
    array = np.frombuffer(raw, dtype=TEMPLATE_DTYPE).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("a template holds only finite numbers")
    return array
