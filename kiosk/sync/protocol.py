"""Constants and small codecs of the sync protocol, shared by the terminal and the reference centre.

The protocol itself is written down in ``docs/sync-protocol.yaml`` (OpenAPI 3.1). This module holds
what both sides must agree on byte for byte: paths, limits, reason codes carried in error bodies and
the encoding of reference templates. Pure, no I/O, thread-safe.
"""

from __future__ import annotations

import base64
from enum import StrEnum

import numpy as np

# Reason codes and check names on the wire have the shape of every reason code (kiosk.reasons).
from kiosk.reasons import CODE_PATTERN  # noqa: F401 - part of the protocol's vocabulary

API_PREFIX = "/v1"
PATH_PING = f"{API_PREFIX}/ping"
PATH_ENROL = f"{API_PREFIX}/enrol"
PATH_ROSTER = f"{API_PREFIX}/roster"
PATH_RESULTS = f"{API_PREFIX}/results"
PATH_HEARTBEAT = f"{API_PREFIX}/heartbeat"

# A request older or newer than this (by the centre's clock) is refused as stale; nonces are kept
# for twice as long so that a replay can never slip in after its nonce was forgotten.
SKEW_WINDOW_S = 300
# Largest request body the centre reads (bytes). 500 records with a 100 KB JPEG each fit in 64 MiB;
# decision records alone are about 600 bytes each.
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_RECORDS_PER_BATCH = 1_000
MAX_ROSTER_PAGE = 5_000
DEFAULT_ROSTER_PAGE = 1_000
MAX_FACE_IMAGE_BYTES = 512 * 1024
# A reference template is dlib's 128-d descriptor; float32 on the wire (the rounding, ~1e-7, is far
# below any match threshold) keeps a 100,000-pensioner delta near 70 MB instead of 140 MB.
TEMPLATE_DIMENSIONS = 128
TEMPLATE_DTYPE = "<f4"
# What a terminal's device id may be (the centre assigns it, the terminal is enrolled with it).
DEVICE_ID_RULE = "1-64 letters, digits, '-', '_' or '.'"


class WireError(StrEnum):
    """Reason codes the centre puts in ``{"error": {"code": ...}}`` answers."""

    SIGNATURE_INVALID = "auth_signature_invalid"
    REQUEST_STALE = "auth_request_stale"
    NONCE_REPLAYED = "auth_nonce_replayed"
    DEVICE_UNKNOWN = "auth_device_unknown"
    DEVICE_DISABLED = "auth_device_disabled"
    HEADERS_MISSING = "auth_headers_missing"
    REQUEST_TOO_LARGE = "request_too_large"
    REQUEST_INVALID = "request_invalid"
    NOT_FOUND = "request_not_found"
    SERVER_ERROR = "centre_internal_error"


class RecordVerdict(StrEnum):
    """What the centre did with one submitted result record."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class RecordRejection(StrEnum):
    """Why the centre refused one record (set aside on the terminal, never retried)."""

    INVALID = "record_invalid"
    SIGNATURE_INVALID = "record_signature_invalid"
    KEY_UNKNOWN = "record_key_unknown"
    DEVICE_MISMATCH = "record_device_mismatch"
    IMAGE_TOO_LARGE = "record_image_too_large"
    CONFLICT = "record_conflict"


def valid_device_id(device_id: str) -> bool:
    """Whether ``device_id`` follows :data:`DEVICE_ID_RULE`."""
    return 1 <= len(device_id) <= 64 and all(c.isalnum() or c in "-_." for c in device_id)


def encode_template(template: np.ndarray) -> str:
    """A 128-d reference template as base64 of little-endian float32.

    Raises ValueError when the array is not 128 finite numbers.
    """
    array = np.asarray(template, dtype=np.float64).reshape(-1)
    if array.shape != (TEMPLATE_DIMENSIONS,) or not np.all(np.isfinite(array)):
        raise ValueError(f"a template is {TEMPLATE_DIMENSIONS} finite numbers")
    return base64.b64encode(array.astype(TEMPLATE_DTYPE).tobytes()).decode("ascii")


def decode_template(text: str) -> np.ndarray:
    """Inverse of :func:`encode_template`, as float64; raises ValueError on a malformed value."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("a template is base64 text") from exc
    if len(raw) != TEMPLATE_DIMENSIONS * 4:
        raise ValueError(f"a template is {TEMPLATE_DIMENSIONS} float32 values ({TEMPLATE_DIMENSIONS * 4} bytes)")
    array = np.frombuffer(raw, dtype=TEMPLATE_DTYPE).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("a template holds only finite numbers")
    return array
