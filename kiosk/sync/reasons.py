"""Every reason code the terminal's sync side can report (``SyncError.code``, ``SyncStatus.last_error_code``,
``SyncReport.error``), in one registry so that the technician page can give each one words.

The centre's own codes (``WireError``, ``RecordRejection`` in :mod:`wire.codes`) reach the
terminal inside these: a set-aside record keeps the centre's code as its reason.
"""

from __future__ import annotations

from enum import StrEnum


class SyncReason(StrEnum):
    """Why a sync round stopped, or why a record or a setting was refused on the terminal."""

    CENTRE_UNREACHABLE = "centre_unreachable"  # no network, refused, dropped, timed out: retried
    CENTRE_ERROR = "centre_error"  # 5xx, garbage, a 4xx that is not the protocol's: retried
    CENTRE_CERTIFICATE_INVALID = "centre_certificate_invalid"  # TLS does not verify: a technician acts
    CENTRE_REFUSED_REQUEST = "centre_refused_request"  # 413/422 for a whole request (a batch is split)
    AUTH_FAILED = "auth_failed"  # wrong id or secret, unknown or disabled device
    CLOCK_SKEW = "clock_skew"  # refused as stale even after correcting by the measured skew
    NOT_ENROLLED = "not_enrolled"  # no credentials in the data folder
    RECORD_REJECTED = "record_rejected"  # a record set aside without a reason from the centre
    RECORD_UNSENDABLE = "record_unsendable"  # a stored record lacks a field the protocol needs
    CREDENTIALS_INVALID = "sync_credentials_invalid"  # credentials file damaged or readable by others
    URL_INVALID = "sync_url_invalid"
    DEVICE_ID_INVALID = "sync_device_id_invalid"
    SECRET_INVALID = "sync_secret_invalid"
    CA_FILE_INVALID = "sync_ca_file_invalid"
    INTERNAL_ERROR = "sync_internal_error"  # a bug: the worker logged it and carries on
