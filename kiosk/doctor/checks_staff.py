"""Doctor checks of the hall's staff side (issue 17): staff calls that could not reach the hall
console, and whether anyone can certify face to face here.

None is required: the terminal certifies without them. Read-only on the database (the doctor never
creates a database or a key as a side effect). The findings travel in the heartbeat's checks, so the
hall console sees a terminal whose staff calls are stuck.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status
from kiosk.store import DB_FILE_NAME

STUCK_AFTER_S = 120
"""A staff call not delivered after this long means staff are not being reached (seconds)."""


def _read(config: KioskConfig, sql: str, params: tuple = ()) -> list[tuple] | CheckResult:
    path = config.terminal.resolved_data_dir() / DB_FILE_NAME
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return []  # a database from before the staff tables: nothing to report yet
        return CheckResult(Status.WARNING, f"the database cannot be read ({exc})", "see the storage checks above")


def _undelivered_calls(config: KioskConfig) -> CheckResult:
    cutoff = (datetime.now(timezone.utc) - timedelta(seconds=STUCK_AFTER_S)).isoformat(timespec="microseconds")
    rows = _read(config, "SELECT coalesce(last_error, 'not_sent_yet') FROM staff_calls "
                         "WHERE state = 'pending' AND raised_at < ?", (cutoff,))
    if isinstance(rows, CheckResult):
        return rows
    if not rows:
        return CheckResult(Status.OK, "every staff call reached the hall console")
    errors = sorted({error for (error,) in rows})
    return CheckResult(Status.WARNING, f"{len(rows)} staff call(s) not delivered ({', '.join(errors)})",
                       "staff calls wait and are retried: check the network and the centre (see the sync checks); "
                       "meanwhile the terminal tells people to go to the service window")


def _staff_accounts(config: KioskConfig) -> CheckResult:
    rows = _read(config, "SELECT count(*) FROM staff_accounts WHERE disabled = 0 AND roles LIKE '%verifier%'")
    if isinstance(rows, CheckResult):
        return rows
    count = rows[0][0] if rows else 0
    if not count:
        return CheckResult(Status.WARNING, "no staff account may certify face to face here",
                           "add one: kiosk staff add --number N --name NAME --role verifier")
    return CheckResult(Status.OK, f"{count} staff member(s) may certify face to face")


CHECKS: list[Check] = [
    Check("staff calls delivered", _undelivered_calls, required=False, order=86),
    Check("staff accounts", _staff_accounts, required=False, order=87),
]
