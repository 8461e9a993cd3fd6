"""Outcome and next-step codes of a certification session, and the registry of every reason code.

Codes are stable strings (they go into records, the outbox and the message catalogue). Only
``ui/`` turns them into words, from ``config/prompts.toml``.
"""

from __future__ import annotations

import importlib
import re
from enum import StrEnum

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""The shape of every reason code: flat snake_case, at most 64 characters (records, outbox, protocol)."""

_CODE = re.compile(CODE_PATTERN)


def is_code(value: str) -> bool:
    """True when ``value`` has the shape of a reason code (:data:`CODE_PATTERN`)."""
    return bool(_CODE.match(value))



class Outcome(StrEnum):
    """How a session or an attempt ended, as stored in the record and shown (in words) to the person."""

    CERTIFIED = "certified"
    CARD_REMOVED = "card_removed"
    CARD_EXPIRED = "card_expired"
    NOT_IN_ROSTER = "not_in_roster"
    NO_REFERENCE = "no_reference"
    CONSENT_REFUSED = "consent_refused"
    POSITIONING_TIMEOUT = "positioning_timeout"
    LIVENESS_FAILED = "liveness_failed"
    MISMATCH = "mismatch"
    MATCHER_TIMEOUT = "matcher_timeout"
    SESSION_TIMEOUT = "session_timeout"
    MANUAL_REVIEW_REQUESTED = "manual_review_requested"
    DEVICE_ERROR = "device_error"


class NextStep(StrEnum):
    """What the person should do next; every failure screen names one."""

    NONE = "none"  # certified: nothing more to do
    RETRY = "retry"  # try the face check again now
    PLACE_CARD_AGAIN = "place_card_again"
    RENEW_CARD = "renew_card"  # the ID card has expired: certify at the counter, renew the card
    COUNTER = "counter"  # go to the service counter (人工窗口), or call 12333
    MANUAL_REVIEW = "manual_review"  # offered after the attempts run out
    STAFF_ENROLMENT = "staff_enrolment"  # no reference photo yet: staff take one
    ASK_STAFF = "ask_staff"  # a device problem: staff must look at the terminal


def all_reason_codes() -> dict[str, set[str]]:
    """Every reason code the project can produce, by registry name (for catalogue completeness).

    Device registries are included when their package provides one.
    """
    registries: dict[str, set[str]] = {"outcome": {str(code) for code in Outcome}}
    for module_name, enum_name in (
        ("reader.errors", "ReaderReason"),
        ("reader.idnumber", "IdNumberProblem"),
        ("camera.reasons", "CameraReason"),
        ("camera.matching", "MatchReason"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        enum = getattr(module, enum_name, None)
        if enum is not None:
            registries[enum_name] = {str(code) for code in enum}
    return registries
