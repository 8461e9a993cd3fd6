"""Doctor checks of sync: credentials, the centre, the last round, set-aside records, clock skew.

None is required: the terminal certifies offline and catches up later. They read the state the
worker persists (``sync/state.json``) and the outbox (read-only, so the doctor never creates a
database or a key as a side effect), and probe the centre with one cheap unauthenticated request.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime, timezone

import httpx

from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status
from kiosk.errors import KeyUnavailableError, SyncError
from kiosk.store import DB_FILE_NAME
from kiosk.sync.client import tls_verify
from kiosk.sync.credentials import credentials_path, load_credentials
from kiosk.reasons import SyncReason
from kiosk.sync.status import load_state
from wire.api import PATH_PING, SKEW_WINDOW_S

# A terminal that has not synced for a day is worth a technician's look; results still wait safely.
STALE_AFTER_S = 24 * 3600
# Beyond this the centre still accepts requests (they are corrected), but record times are off.
SKEW_WARNING_S = 60.0
PROBE_TIMEOUT_S = 5.0

# What a technician does about the error a sync round stopped with (``SyncStatus.last_error_code``).
_HINTS: dict[str, str] = {
    SyncReason.CENTER_UNREACHABLE: "check the network cable / Wi-Fi and the centre URL; results wait in the outbox",
    SyncReason.CENTER_ERROR: "the centre answered with an error; it is retried automatically, tell the centre if "
                             "it lasts",
    SyncReason.AUTH_FAILED: "the centre refuses this terminal's key (not enrolled, key retired, or disabled): finish "
                            "an interrupted `kiosk rotate-key` by running it again, or ask the centre for a code "
                            "(`kiosk-center device reenrol`) and run `kiosk enroll-device`",
    SyncReason.CLOCK_SKEW: "set the terminal's clock (NTP); the centre refuses requests whose time is off",
    SyncReason.NOT_ENROLLED: "enrol the terminal: `kiosk enroll-device --center URL --device-id ID --code CODE`",
    SyncReason.CENTER_CERTIFICATE_INVALID: "the centre's TLS certificate is not trusted: set sync.ca_file to the "
                                           "region's CA",
    SyncReason.CA_FILE_INVALID: "sync.ca_file cannot be read: fix the path or the PEM file",
    SyncReason.INTERNAL_ERROR: "an unexpected error in the sync worker: report it with the log file",
    SyncReason.CREDENTIALS_INVALID: "the credentials file is damaged, from before enrolment codes, or readable by "
                                    "others: enrol again with a code (`kiosk enroll-device`)",
    SyncReason.CENTER_REFUSED_REQUEST: "the centre refused a request as malformed or too large: tell the centre, "
                                       "with the log file",
    KeyUnavailableError.code: "the device key is missing: roster references cannot be stored (see kiosk doctor "
                              "storage)",
}


def _credentials(config: KioskConfig) -> CheckResult:
    data_dir = config.terminal.resolved_data_dir()
    try:
        credentials = load_credentials(data_dir)
    except SyncError as exc:
        return CheckResult(Status.FAILED, exc.message, _HINTS[SyncReason.AUTH_FAILED])
    if credentials is None:
        return CheckResult(Status.WARNING, "not enrolled with a centre; results wait in the outbox",
                           _HINTS[SyncReason.NOT_ENROLLED])
    registered = "registered" if credentials.key_registered else "not yet registered (at the next sync)"
    if credentials.device_id != config.terminal.device_id:
        return CheckResult(Status.WARNING, f"enrolled as {credentials.device_id}, but terminal.device_id is "
                           f"{config.terminal.device_id}; records go to the centre under the enrolled id",
                           "set terminal.device_id to the enrolled id so that local records and the centre agree")
    return CheckResult(Status.OK, f"device {credentials.device_id} at {credentials.center_url}, "
                                  f"signing key {credentials.key_id} {registered}; file {credentials_path(data_dir)} 0600")


def _reachable(config: KioskConfig) -> CheckResult:
    try:
        credentials = load_credentials(config.terminal.resolved_data_dir())
    except SyncError:
        credentials = None
    url = credentials.center_url if credentials else config.sync.center_url
    if not url:
        return CheckResult(Status.WARNING, "no centre configured", _HINTS[SyncReason.NOT_ENROLLED])
    try:
        response = httpx.get(url.rstrip("/") + PATH_PING, timeout=min(PROBE_TIMEOUT_S, config.sync.request_timeout_s),
                             verify=tls_verify(config.sync.ca_file))
    except SyncError as exc:
        return CheckResult(Status.FAILED, exc.message, "point sync.ca_file at the centre's CA certificate (PEM)")
    except httpx.HTTPError as exc:
        return CheckResult(Status.WARNING, f"{url} does not answer ({type(exc).__name__})",
                           _HINTS[SyncReason.CENTER_UNREACHABLE])
    if response.status_code != 200:
        return CheckResult(Status.WARNING, f"{url} answered {response.status_code}", _HINTS[SyncReason.CENTER_ERROR])
    return CheckResult(Status.OK, f"{url} answers")


def _last_sync(config: KioskConfig) -> CheckResult:
    state = load_state(config.terminal.resolved_data_dir())
    if state.last_attempt_at is None:
        return CheckResult(Status.WARNING, "no sync round has run yet", "run `kiosk sync --once` or start the kiosk")
    success = state.last_success_at.isoformat(timespec="seconds") if state.last_success_at else "never"
    if state.last_error_code:
        return CheckResult(Status.WARNING, f"last round failed [{state.last_error_code}] at "
                           f"{state.last_attempt_at.isoformat(timespec='seconds')}: {state.last_error_message}; "
                           f"last success {success}", _HINTS.get(state.last_error_code, "see the log"))
    age = (datetime.now(timezone.utc) - state.last_success_at).total_seconds() if state.last_success_at else None
    if age is not None and age > STALE_AFTER_S:
        return CheckResult(Status.WARNING, f"last success {success}, {age / 3600:.0f} h ago",
                           _HINTS[SyncReason.CENTER_UNREACHABLE])
    return CheckResult(Status.OK, f"last success {success}")


def _set_aside(config: KioskConfig) -> CheckResult:
    """Records the centre refused, by reason code (the backlog itself is ``outbox backlog``)."""
    path = config.terminal.resolved_data_dir() / DB_FILE_NAME
    if not path.exists():
        return CheckResult(Status.OK, "no records yet")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            rows = connection.execute("SELECT rejected_reason FROM outbox WHERE state = 'rejected'").fetchall()
    except sqlite3.Error as exc:
        return CheckResult(Status.WARNING, f"the outbox cannot be read ({exc})", "see the storage checks above")
    if not rows:
        return CheckResult(Status.OK, "none refused by the centre")
    # The stored reason is "<code>: <centre's message>"; the code alone is enough to group by.
    by_code = Counter((reason or "unknown").split(":", 1)[0] for (reason,) in rows)
    detail = ", ".join(f"{code} x{count}" for code, count in by_code.most_common())
    return CheckResult(Status.WARNING, f"{len(rows)} set aside: {detail}",
                       "kept on the terminal, never resent: tell the centre these reason codes (the record ids "
                       f"are the outbox rows with state 'rejected' in {DB_FILE_NAME})")


def _skew(config: KioskConfig) -> CheckResult:
    skew = load_state(config.terminal.resolved_data_dir()).clock_skew_s
    if skew is None:
        return CheckResult(Status.OK, "not measured yet (measured at every sync)")
    if abs(skew) > SKEW_WINDOW_S:
        return CheckResult(Status.FAILED, f"the clock is {skew:+.0f} s off the centre's; requests are corrected, "
                           "but record times and certification dates are wrong", _HINTS[SyncReason.CLOCK_SKEW])
    if abs(skew) > SKEW_WARNING_S:
        return CheckResult(Status.WARNING, f"the clock is {skew:+.0f} s off the centre's",
                           _HINTS[SyncReason.CLOCK_SKEW])
    return CheckResult(Status.OK, f"{skew:+.1f} s from the centre's clock")


CHECKS: list[Check] = [
    Check("sync credentials", _credentials, required=False, order=80),
    Check("center reachable", _reachable, required=False, order=81),
    Check("last sync", _last_sync, required=False, order=82),
    Check("records set aside", _set_aside, required=False, order=83),
    Check("clock vs centre", _skew, required=False, order=84),
]
