"""Reason codes on the wire: their shape, and the codes the centre answers with.

Pure, no I/O, no pydantic (the kiosk core imports this module early). The kiosk's own reason
codes (``kiosk.reasons``) have the same shape: it imports :data:`CODE_PATTERN` and :func:`is_code`
from here, since a terminal's codes travel in records and heartbeats. :func:`reason_code` is the one
place that reads the code of an error, for the kiosk (re-exported by ``kiosk.errors``), the centre
and this package alike.
"""

from __future__ import annotations

import re
from enum import StrEnum

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""The shape of every reason code: flat snake_case, at most 64 characters (records, outbox, protocol)."""

_CODE = re.compile(CODE_PATTERN)


def is_code(value: str) -> bool:
    """True when ``value`` has the shape of a reason code (:data:`CODE_PATTERN`)."""
    return bool(_CODE.match(value))


def reason_code(exc: BaseException, default: str | None = None) -> str:
    """The stable reason code of any error, for logs, audits, reports and the person's screen.

    A ``KioskError`` and the errors of the device packages carry a ``code``; anything else (a bug,
    an OSError) gives ``default``, or its class name. Never the message: it may hold a path or data
    of a card.
    """
    code = getattr(exc, "code", None)  # the one place that asks: the packages share no base class
    return str(code) if code else (default or type(exc).__name__)


class WireError(StrEnum):
    """Reason codes the centre puts in ``{"error": {"code": ...}}`` answers."""

    SIGNATURE_INVALID = "auth_signature_invalid"
    REQUEST_STALE = "auth_request_stale"
    NONCE_REPLAYED = "auth_nonce_replayed"
    DEVICE_DISABLED = "auth_device_disabled"
    HEADERS_MISSING = "auth_headers_missing"
    ENROLMENT_REFUSED = "enrolment_refused"
    KEY_ROTATION_INVALID = "key_rotation_invalid"
    REQUEST_TOO_LARGE = "request_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    REQUEST_INCOMPLETE = "request_incomplete"
    REQUEST_INVALID = "request_invalid"
    NOT_FOUND = "request_not_found"
    SERVER_ERROR = "center_internal_error"


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
    TIME_OUT_OF_RANGE = "record_time_out_of_range"
    CERTIFIED_UNTIL_OUT_OF_RANGE = "record_certified_until_out_of_range"
