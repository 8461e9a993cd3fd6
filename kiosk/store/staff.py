"""The hall's staff in the store: accounts, staff calls and their answer times, the centre's review
decisions, and today's failure figures for the technician page.

Privacy: a staff account holds a name and a staff number (the staff member's, not a pensioner's), a
scrypt hash of the PIN and the SHA-256 of a card number, never the PIN or the card. A staff call
holds no personal data at all (the screen and why). A review decision is kept with the person's ID
number, like the roster it corrects.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kiosk.clock import CHINA_STANDARD_TIME
from kiosk.errors import StorageError
from kiosk.reasons import CERTIFYING_OUTCOMES, Outcome
from kiosk.store.base import StoreBase, parse_utc, utc_text

STAFF_ROLES = frozenset({"verifier", "technician", "supervisor"})
"""What a staff account may do at the terminal: ``verifier`` certifies people face to face,
``technician`` may use the technician pages, ``supervisor`` manages staff accounts there."""

CALL_STATES = ("pending", "open", "acknowledged")
"""A staff call in the store: ``pending`` (not yet delivered to the centre), ``open`` (the centre has
it, nobody acknowledged yet), ``acknowledged`` (by the console or at the terminal)."""

NOT_FAILURES = frozenset({*CERTIFYING_OUTCOMES, Outcome.MANUAL_REVIEW_REQUESTED})
"""Outcomes that are not a failure of the person's attempt (the failure figures leave them out)."""


def card_digest(card_number: str) -> str:
    """The SHA-256 (hex) a staff card is kept as; the number itself is never stored."""
    return hashlib.sha256(card_number.strip().encode()).hexdigest()


@dataclass(frozen=True)
class StaffAccount:
    """A staff member of this hall. ``pin_hash``: see :func:`kiosk.technician.hash_pin`."""

    staff_number: str
    name: str
    pin_hash: str
    roles: frozenset[str]
    disabled: bool = False
    has_card: bool = False

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"StaffAccount(staff_number={self.staff_number!r}, roles={sorted(self.roles)!r}, disabled={self.disabled})"


@dataclass(frozen=True)
class StaffCall:
    """One staff call and its answer times (UTC instants; None until it happened)."""

    call_id: str
    raised_at: datetime
    screen: str
    reason: str
    state: str
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_to_send: bool
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's decision on a manual-review request, as the roster delta delivered it.

    ``verified``: the centre's signature was checked against its public key (False while the key is
    not known yet; checked again when it is). ``signed_json``: the review object exactly as it
    arrived (JSON), so that its signature can be checked later."""

    record_id: str
    id_number: str
    decision: str
    reason: str
    reviewer: str
    decided_at: datetime
    signature: str
    verified: bool
    signed_json: str = "{}"


@dataclass(frozen=True)
class FailureFigures:
    """One local day's failed attempts: ``by_reason`` (reason -> count) and ``by_hour`` (local hour
    0-23 -> reason -> count), for the technician page: staff fix the hall (light, camera height)."""

    day: date
    by_reason: dict[str, int]
    by_hour: dict[int, dict[str, int]]

    @property
    def total(self) -> int:
        """Failed attempts of the day."""
        return sum(self.by_reason.values())


_CALL_COLUMNS = ("call_id, raised_at, screen, reason, state, delivered_at, acknowledged_at, acknowledged_by, "
                 "ack_to_send, attempts, last_error")


def _call(row: tuple[Any, ...]) -> StaffCall:
    def instant(text: str | None) -> datetime | None:
        return parse_utc(text) if text else None

    return StaffCall(call_id=row[0], raised_at=parse_utc(row[1]), screen=row[2], reason=row[3], state=row[4],
                     delivered_at=instant(row[5]), acknowledged_at=instant(row[6]), acknowledged_by=row[7],
                     ack_to_send=bool(row[8]), attempts=int(row[9]), last_error=row[10])


class StaffMixin(StoreBase):
    """Staff accounts, staff calls, review decisions and failure figures (see the module docstring)."""

    # -- accounts -----------------------------------------------------------------------------

    def add_staff(self, staff_number: str, name: str, pin_hash: str, roles: frozenset[str],
                  card_number: str | None = None) -> None:
        """Adds a staff account. Raises ValueError for an unknown role or an empty name,
        StorageError (``storage_duplicate_staff``) when the number or the card is taken."""
        if not roles or not roles <= STAFF_ROLES:
            raise ValueError(f"roles must be some of {', '.join(sorted(STAFF_ROLES))}")
        if not name.strip() or len(name) > 64 or not staff_number:
            raise ValueError("a staff account needs a name (1-64 characters) and a staff number")
        now = self._now_text()
        card = card_digest(card_number) if card_number else None
        with self.transaction():
            if self._one("SELECT 1 FROM staff_accounts WHERE staff_number = ? OR (card_sha256 IS NOT NULL AND "
                         "card_sha256 = ?)", (staff_number, card)):
                raise StorageError("that staff number or card is already registered", code="storage_duplicate_staff")
            self._db.execute(
                "INSERT INTO staff_accounts (staff_number, name, pin_hash, card_sha256, roles, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (staff_number, name.strip(), pin_hash, card, ",".join(sorted(roles)),
                                                 now, now))

    def staff_accounts(self, *, include_disabled: bool = True) -> list[StaffAccount]:
        """Every staff account, by staff number."""
        where = "" if include_disabled else "WHERE disabled = 0"
        rows = self._all("SELECT staff_number, name, pin_hash, roles, disabled, card_sha256 IS NOT NULL "
                         f"FROM staff_accounts {where} ORDER BY staff_number")
        return [StaffAccount(r[0], r[1], r[2], frozenset(filter(None, r[3].split(","))), bool(r[4]), bool(r[5]))
                for r in rows]

    def staff_account(self, staff_number: str) -> StaffAccount | None:
        """One account (disabled ones too), None when unknown."""
        return next((a for a in self.staff_accounts() if a.staff_number == staff_number), None)

    def staff_by_card(self, card_number: str) -> StaffAccount | None:
        """The account a staff card belongs to, None when none."""
        row = self._one("SELECT staff_number FROM staff_accounts WHERE card_sha256 = ?", (card_digest(card_number),))
        return self.staff_account(row[0]) if row else None

    def set_staff_disabled(self, staff_number: str, disabled: bool = True) -> bool:
        """Disables (or enables again) an account; False when there is no such account."""
        with self.transaction():
            changed = self._db.execute("UPDATE staff_accounts SET disabled = ?, updated_at = ? WHERE staff_number = ?",
                                       (int(disabled), self._now_text(), staff_number)).rowcount
        return bool(changed)

    # -- staff calls --------------------------------------------------------------------------

    def add_staff_call(self, call_id: str, raised_at: datetime, screen: str, reason: str) -> None:
        """Records a new call (``pending``); a call id already stored is left as it is."""
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO staff_calls (call_id, raised_at, screen, reason, state) "
                             "VALUES (?, ?, ?, ?, 'pending')", (call_id, utc_text(raised_at), screen, reason))

    def staff_call(self, call_id: str) -> StaffCall | None:
        """One call, None when unknown."""
        row = self._one(f"SELECT {_CALL_COLUMNS} FROM staff_calls WHERE call_id = ?", (call_id,))
        return _call(row) if row else None

    def staff_calls(self, *, since: datetime | None = None, limit: int = 200) -> list[StaffCall]:
        """Calls raised at or after ``since`` (all when None), newest first."""
        rows = self._all(f"SELECT {_CALL_COLUMNS} FROM staff_calls WHERE raised_at >= ? "
                         "ORDER BY raised_at DESC LIMIT ?", (utc_text(since) if since else "", int(limit)))
        return [_call(row) for row in rows]

    def unfinished_staff_calls(self) -> list[StaffCall]:
        """Calls still to deliver, to watch for an acknowledgement, or whose terminal-side
        acknowledgement is still to send; oldest first (what a restarted terminal picks up again)."""
        rows = self._all(f"SELECT {_CALL_COLUMNS} FROM staff_calls WHERE state != 'acknowledged' OR ack_to_send = 1 "
                         "ORDER BY raised_at")
        return [_call(row) for row in rows]

    def note_staff_call_error(self, call_id: str, error_code: str) -> None:
        """A delivery (or acknowledgement) attempt failed with ``error_code``."""
        with self.transaction():
            self._db.execute("UPDATE staff_calls SET attempts = attempts + 1, last_error = ? WHERE call_id = ?",
                             (error_code, call_id))

    def mark_staff_call_delivered(self, call_id: str, at: datetime) -> None:
        """The centre has the call (keeps the first delivery time; never undoes an acknowledgement)."""
        with self.transaction():
            self._db.execute("UPDATE staff_calls SET state = CASE state WHEN 'pending' THEN 'open' ELSE state END, "
                             "delivered_at = coalesce(delivered_at, ?), attempts = attempts + 1, last_error = NULL "
                             "WHERE call_id = ?", (utc_text(at), call_id))

    def mark_staff_call_acknowledged(self, call_id: str, at: datetime, by: str | None, *, here: bool) -> None:
        """Someone acknowledged the call: on the console (``here`` False) or at this terminal (``here``
        True: the acknowledgement is still to be sent to the centre). The first acknowledgement wins."""
        with self.transaction():
            self._db.execute(
                "UPDATE staff_calls SET state = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, ?), "
                "acknowledged_by = CASE WHEN acknowledged_at IS NULL THEN ? ELSE acknowledged_by END, "
                "ack_to_send = CASE WHEN acknowledged_at IS NULL THEN ? ELSE ack_to_send END WHERE call_id = ?",
                (utc_text(at), by, int(here), call_id))

    def mark_staff_call_ack_sent(self, call_id: str) -> None:
        """The centre has the terminal's acknowledgement."""
        with self.transaction():
            self._db.execute("UPDATE staff_calls SET ack_to_send = 0, last_error = NULL WHERE call_id = ?", (call_id,))

    # -- review decisions ---------------------------------------------------------------------

    def save_review_decision(self, decision: ReviewDecision) -> None:
        """Keeps a decision (a newer one for the same record replaces it)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO review_decisions (record_id, id_number, decision, reason, reviewer, decided_at, signature, "
                "signed_json, verified, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(record_id) "
                "DO UPDATE SET decision = excluded.decision, reason = excluded.reason, reviewer = excluded.reviewer, "
                "decided_at = excluded.decided_at, signature = excluded.signature, signed_json = excluded.signed_json, "
                "verified = excluded.verified",
                (decision.record_id, decision.id_number, decision.decision, decision.reason, decision.reviewer,
                 utc_text(decision.decided_at), decision.signature, decision.signed_json, int(decision.verified),
                 self._now_text()))

    def latest_review_decision(self, id_number: str) -> ReviewDecision | None:
        """The person's most recent review decision, None when none."""
        rows = self.review_decisions(id_number=id_number, limit=1)
        return rows[0] if rows else None

    def review_decisions(self, *, id_number: str | None = None, unverified_only: bool = False,
                         limit: int = 1000) -> list[ReviewDecision]:
        """Decisions, newest first (of one person; or only those whose signature is not checked yet)."""
        where, params = [], []
        if id_number is not None:
            where.append("id_number = ?")
            params.append(id_number)
        if unverified_only:
            where.append("verified = 0")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all("SELECT record_id, id_number, decision, reason, reviewer, decided_at, signature, verified, "
                         f"signed_json FROM review_decisions {clause} ORDER BY decided_at DESC LIMIT ?",
                         [*params, int(limit)])
        return [ReviewDecision(r[0], r[1], r[2], r[3], r[4], parse_utc(r[5]), r[6], bool(r[7]), r[8]) for r in rows]

    def drop_review_decision(self, record_id: str) -> None:
        """Forgets a decision (its signature did not verify)."""
        with self.transaction():
            self._db.execute("DELETE FROM review_decisions WHERE record_id = ?", (record_id,))

    def mark_review_verified(self, record_id: str) -> None:
        """The decision's signature has been checked with the centre's key."""
        with self.transaction():
            self._db.execute("UPDATE review_decisions SET verified = 1 WHERE record_id = ?", (record_id,))

    # -- failure figures ----------------------------------------------------------------------

    def failure_figures(self, day: date) -> FailureFigures:
        """Failed attempts of one local day by reason and by local hour (technician page, item 6 of
        issue 17). The reason is the record's finer ``reason_code`` (too dark, no face, mismatch,
        attack ...), else its outcome; certifications and review requests are not failures."""
        rows = self._all("SELECT occurred_at, outcome, reason_code FROM certifications WHERE local_day = ?",
                         (day.isoformat(),))
        by_reason: Counter[str] = Counter()
        by_hour: dict[int, Counter[str]] = {}
        for occurred_at, outcome, reason in rows:
            if outcome in NOT_FAILURES:
                continue
            code = reason or outcome
            hour = _local_hour(parse_utc(occurred_at))
            by_reason[code] += 1
            by_hour.setdefault(hour, Counter())[code] += 1
        return FailureFigures(day, dict(by_reason.most_common()),
                              {hour: dict(counts) for hour, counts in sorted(by_hour.items())})


def _local_hour(moment: datetime) -> int:
    """The hall's hour (China Standard Time, like :func:`~kiosk.store.base.local_day`)."""
    return moment.astimezone(CHINA_STANDARD_TIME).hour
