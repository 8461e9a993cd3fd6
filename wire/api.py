"""Paths and limits of the sync protocol, and the rule for a device id.

What both sides must agree on number for number (``docs/sync-protocol.yaml``). Pure, no I/O.
"""

from __future__ import annotations

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
# What a terminal's device id may be (the centre assigns it, the terminal is enrolled with it).
DEVICE_ID_RULE = "1-64 ASCII letters, digits, '-', '_' or '.'"


def valid_device_id(device_id: str) -> bool:
    """Whether ``device_id`` follows :data:`DEVICE_ID_RULE`."""
    # ASCII only: the id travels in HTTP headers, and str.isalnum() alone takes any script's
    # letters and digits (a second spelling of one id).
    return 1 <= len(device_id) <= 64 and device_id.isascii() and all(c.isalnum() or c in "-_." for c in device_id)
