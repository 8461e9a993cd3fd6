"""Outcome and next-step codes of a certification session, and the registry of every reason code.

Codes are stable strings (they go into records, the outbox and the message catalogue). Only
``ui/`` turns them into words, from ``config/prompts.toml``.
"""

from __future__ import annotations

from enum import StrEnum

# The shape of every reason code (flat snake_case, at most 64 characters) and its test: codes travel
# in records and heartbeats, so the wire contract defines them.
from wire.codes import CODE_PATTERN, is_code  # noqa: F401 - re-exported: kiosk code imports them from here


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


class SyncReason(StrEnum):
    """Why a sync round stopped, or why a record or a setting was refused on the terminal.

    Technician-facing (``SyncError.code``, ``SyncStatus.last_error_code``, ``SyncReport.error``;
    the doctor gives each a hint). The centre's own codes (``WireError``, ``RecordRejection`` in
    :mod:`wire.codes`) reach the terminal inside these: a set-aside record keeps the centre's code.
    """

    CENTER_UNREACHABLE = "center_unreachable"  # no network, refused, dropped, timed out: retried
    CENTER_ERROR = "center_error"  # 5xx, garbage, a 4xx that is not the protocol's: retried
    CENTER_CERTIFICATE_INVALID = "center_certificate_invalid"  # TLS does not verify: a technician acts
    CENTER_REFUSED_REQUEST = "center_refused_request"  # 413/422 for a whole request (a batch is split)
    AUTH_FAILED = "auth_failed"  # unknown device, key not current (re-enrol), disabled, code refused
    CLOCK_SKEW = "clock_skew"  # refused as stale even after correcting by the measured skew
    NOT_ENROLLED = "not_enrolled"  # no credentials in the data folder
    RECORD_REJECTED = "record_rejected"  # a record set aside without a reason from the centre
    RECORD_UNSENDABLE = "record_unsendable"  # a stored record lacks a field the protocol needs
    CREDENTIALS_INVALID = "sync_credentials_invalid"  # credentials file damaged or readable by others
    URL_INVALID = "sync_url_invalid"
    DEVICE_ID_INVALID = "sync_device_id_invalid"
    ENROLMENT_CODE_INVALID = "sync_enrolment_code_invalid"
    CA_FILE_INVALID = "sync_ca_file_invalid"
    INTERNAL_ERROR = "sync_internal_error"  # a bug: the worker logged it and carries on


def kiosk_error_codes() -> set[str]:
    """The ``code`` of every error class in :mod:`kiosk.errors` (they reach the result screen through
    DeviceFailed and RecordFailed). Errors of technician tools defined elsewhere (the voice render,
    the catalogue) are shown to technicians, not to the person, so they are not listed here."""
    import kiosk.errors

    return {value.code for value in vars(kiosk.errors).values()
            if isinstance(value, type) and issubclass(value, kiosk.errors.KioskError)}


def all_reason_codes() -> dict[str, set[str]]:
    """Every reason code a person can be shown, by registry name (for catalogue completeness).

    Plain imports of the enums that define the codes: a registry that moves or disappears is an
    ImportError here, never a silently smaller set. Imported when called, since the device
    packages load OpenCV and numpy, which the store and the CLI's quick commands do not need.
    """
    from camera.errors import CameraReason
    from camera.matching.errors import MatchReason
    from reader.errors import ReaderReason
    from reader.idnumber import IdNumberProblem

    registries: dict[str, set[str]] = {"Outcome": {str(code) for code in Outcome}}
    for enum in (ReaderReason, IdNumberProblem, CameraReason, MatchReason):
        registries[enum.__name__] = {str(code) for code in enum}
    registries["KioskError"] = kiosk_error_codes()
    return registries
