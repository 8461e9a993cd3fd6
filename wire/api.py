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
PATH_KEYS = f"{API_PREFIX}/keys"

# A request older or newer than this (by the centre's clock) is refused as stale; nonces are kept
# for twice as long so that a replay can never slip in after its nonce was forgotten.
SKEW_WINDOW_S = 300
# Largest request body the centre reads (bytes): what a batch can need. A decision record is about
# 1 KB, so a full batch of decision records is about 1 MB; a face image adds at most 700 KB of base64.
# A batch with images larger than this is refused (413) and the terminal splits it in halves.
MAX_BODY_BYTES = 8 * 1024 * 1024
# An enrolment or key rotation is a public key and a code: it is read before anything is trusted.
MAX_SMALL_BODY_BYTES = 4 * 1024
# A body must arrive within this time (seconds) once its headers have passed, or the request is
# refused (408): a slow sender must not hold a worker.
BODY_TIMEOUT_S = 30.0
MAX_RECORDS_PER_BATCH = 1_000
MAX_ROSTER_PAGE = 5_000
DEFAULT_ROSTER_PAGE = 1_000
MAX_FACE_IMAGE_BYTES = 512 * 1024
# A roster cursor is a sequence number the centre handed out: it fits the centre's `pensioners.seq`,
# a signed 32-bit INTEGER on PostgreSQL (2.1 billion roster changes). A larger one is refused (422)
# rather than reaching the database as an out-of-range parameter (a 500).
MAX_ROSTER_CURSOR = 2**31 - 1
# How long an enrolment code from `kiosk-center device add` stays usable (hours), by default.
ENROLMENT_CODE_HOURS = 72
# A record may say it occurred this long before its device was added at the centre (seconds): a
# terminal's clock can be hours wrong (a time zone of UTC instead of China Standard Time is 8 hours)
# when it is enrolled, and its first records must not be refused for it. Earlier is no record of it.
MAX_RECORD_BEFORE_DEVICE_S = 24 * 3600
# A certification is due again within 365 days (domain: the rolling cycle); a leap day makes 366.
# `certified_until` further than this after the day of `occurred_at` is refused.
MAX_CERTIFIED_DAYS = 366
# What a terminal's device id may be (the centre assigns it, the terminal is enrolled with it).
DEVICE_ID_RULE = "1-64 ASCII letters, digits, '-', '_' or '.'"


def valid_device_id(device_id: str) -> bool:
    """Whether ``device_id`` follows :data:`DEVICE_ID_RULE`."""
    # ASCII only: the id travels in HTTP headers, and str.isalnum() alone takes any script's
    # letters and digits (a second spelling of one id).
    return 1 <= len(device_id) <= 64 and device_id.isascii() and all(c.isalnum() or c in "-_." for c in device_id)
