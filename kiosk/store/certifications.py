"""Certification records, their outbox rows for the centre, and encrypted evidence images.

A record and its outbox row are written in one transaction (and, for a certification, the
pensioner's last certified date too): after a crash either all of it is there or none of it.
Outbox rows are never deleted: a record the centre rejected is set aside for a technician.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import date, datetime
from typing import Any

from kiosk.errors import KeyUnavailableError, StorageError
from kiosk.store.base import StoreBase, day_or_none, local_day, parse_utc, utc_text
from kiosk.reasons import is_code
from kiosk.store.chain import FIRST_PREV_HASH, UNREADABLE_PREV_HASH, link_hash
from kiosk.store.models import CertificationRecord, OutboxItem, RecordId

log = logging.getLogger(__name__)

OUTBOX_STATES = ("pending", "sent", "rejected")
RECORD_FIELDS = tuple(item.name for item in fields(CertificationRecord) if item.name != "evidence_jpeg")
"""The decision record's fields, each a ``certifications`` column of the same name: every field of
:class:`CertificationRecord` but the evidence image, which is kept apart and encrypted
(``tests/test_wire_contract.py`` checks the table against this)."""
_RECORD_COLUMNS = ", ".join(RECORD_FIELDS)
# Column values of the fields that are not stored as they are (instants as UTC text, days as ISO dates).
_TO_COLUMN: dict[str, Callable[[Any], Any]] = {
    "occurred_at": utc_text, "valid_until": lambda day: day.isoformat() if day is not None else None}
_FROM_COLUMN: dict[str, Callable[[Any], Any]] = {"occurred_at": parse_utc, "valid_until": day_or_none}


def _record_row(record: CertificationRecord) -> list[Any]:
    """The ``certifications`` values of a record, in :data:`RECORD_FIELDS` order."""
    return [_TO_COLUMN.get(name, _same)(getattr(record, name)) for name in RECORD_FIELDS]


def _record_from_row(row: Sequence[Any]) -> CertificationRecord:
    """The record of a ``certifications`` row selected as :data:`RECORD_FIELDS` (no evidence image).

    Raises ValueError / TypeError when the row does not form a valid record.
    """
    return CertificationRecord(**{name: _FROM_COLUMN.get(name, _same)(value)
                                  for name, value in zip(RECORD_FIELDS, row, strict=True)})


def _same(value: Any) -> Any:
    return value


def _evidence_aad(record_id: str) -> bytes:
    return f"evidence:{record_id}".encode()


class CertificationsMixin(StoreBase):
    """Records, outbox and evidence (part of :class:`kiosk.store.Store`)."""

    evidence_retention_days: int = 0
    send_face_images: bool = False

    def _keeps_evidence(self) -> bool:
        return self.evidence_retention_days > 0 or self.send_face_images

    def record_attempt(self, record: CertificationRecord) -> RecordId:
        """Stores one attempt with its outbox row, atomically; returns the record id.

        When the outcome is ``certified`` the pensioner's last certified date becomes the local day
        of ``occurred_at`` in the same transaction (never moved backwards). The evidence image is
        kept, encrypted, only when the configuration keeps evidence or sends face images; without
        a device key it is dropped (logged) and the record is still stored.
        Raises StorageError (also for a record id stored before), StorageFullError when the disk
        is full (nothing of this record is then kept, everything earlier is).
        """
        evidence_blob = None
        if record.evidence_jpeg is not None and self._keeps_evidence():
            evidence_blob = self._seal_evidence(record.record_id, record.evidence_jpeg)
        now = self._now_text()
        day = local_day(record.occurred_at)
        with self.transaction():
            if self._one("SELECT 1 FROM certifications WHERE record_id = ?", (record.record_id,)):
                raise StorageError(f"record {record.record_id} is already stored", code="storage_duplicate_record")
            record = self._chained(record)
            self._db.execute(
                f"INSERT INTO certifications ({_RECORD_COLUMNS}, local_day) "
                f"VALUES ({', '.join('?' * (len(RECORD_FIELDS) + 1))})",
                [*_record_row(record), day.isoformat()],
            )
            self._db.execute(
                "INSERT INTO outbox (record_id, state, created_at, next_attempt_at) VALUES (?, 'pending', ?, ?)",
                (record.record_id, now, now),
            )
            if evidence_blob is not None and self._key is not None:
                self._db.execute(
                    "INSERT INTO evidence (record_id, created_at, key_id, ciphertext) VALUES (?, ?, ?, ?)",
                    (record.record_id, now, self._key.key_id, evidence_blob),
                )
            if record.certified:
                self._db.execute(
                    "UPDATE pensioners SET last_certified = ?, updated_at = ? WHERE id_number = ? "
                    "AND (last_certified IS NULL OR last_certified < ?)",
                    (day.isoformat(), now, record.id_number, day.isoformat()),
                )
        log.info("record %s stored (outcome %s)", record.record_id, record.outcome)
        return record.record_id

    def _chained(self, record: CertificationRecord) -> CertificationRecord:
        """``record`` with the next number of the trail and the link hash of the last record (call
        inside the writing transaction: SQLite's write lock keeps the numbers one line)."""
        last = self._one(f"SELECT {_RECORD_COLUMNS} FROM certifications WHERE chain_seq = "
                         "(SELECT max(chain_seq) FROM certifications)")
        if last is None:
            return replace(record, chain_seq=1, prev_hash=FIRST_PREV_HASH)
        number = int(last[RECORD_FIELDS.index("chain_seq")])
        try:
            previous = link_hash(_record_from_row(last))
        except (ValueError, TypeError):
            # A stored row that no longer forms a record (damaged, edited): the link says so.
            log.warning("the record before chain number %d is unreadable; its link is marked broken", number + 1)
            previous = UNREADABLE_PREV_HASH
        return replace(record, chain_seq=number + 1, prev_hash=previous)

    def _seal_evidence(self, record_id: str, jpeg: bytes) -> bytes | None:
        if self._key is None:
            log.warning("record %s: no device key, evidence image not kept", record_id)
            return None
        return self._key.seal(jpeg, _evidence_aad(record_id))

    def get_record(self, record_id: str) -> CertificationRecord | None:
        """A stored record (``occurred_at`` in UTC; no evidence image), None when unknown."""
        row = self._one(f"SELECT {_RECORD_COLUMNS} FROM certifications WHERE record_id = ?", (record_id,))
        return None if row is None else _record_from_row(row)

    def evidence_jpeg(self, record_id: str) -> bytes | None:
        """The decrypted evidence image of a record, None when none is kept.

        Raises KeyUnavailableError when it was sealed with another key. Never log the bytes.
        """
        row = self._one("SELECT ciphertext FROM evidence WHERE record_id = ?", (record_id,))
        if row is None:
            return None
        return self._require_key().open(row[0], _evidence_aad(record_id))

    def counts_for_day(self, day: date) -> dict[str, int]:
        """Attempts of one local calendar day, by outcome (for the technician page)."""
        rows = self._all(
            "SELECT outcome, count(*) FROM certifications WHERE local_day = ? GROUP BY outcome", (day.isoformat(),)
        )
        return {outcome: int(count) for outcome, count in rows}

    # -- outbox -------------------------------------------------------------------------------

    def pending_outbox(self, limit: int, now: datetime) -> list[OutboxItem]:
        """Up to ``limit`` pending records whose next attempt is due at ``now``, oldest first.

        Each item carries the typed decision record (who, when, where, outcome, reason code,
        scores); its face image (``evidence_jpeg``) is set only when ``sync.send_face_images`` is on
        and evidence for the record is kept and readable. A row that no longer forms a valid record
        comes without one (see :class:`OutboxItem`) rather than failing the whole batch.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rows = self._all(
            f"SELECT {', '.join('c.' + name for name in RECORD_FIELDS)}, o.attempts, o.last_error "
            "FROM outbox o JOIN certifications c ON c.record_id = o.record_id "
            "WHERE o.state = 'pending' AND o.next_attempt_at <= ? ORDER BY o.created_at, o.rowid LIMIT ?",
            (utc_text(now), limit),
        )
        items = []
        width = len(RECORD_FIELDS)
        for row in rows:
            record_id = RecordId(row[0])
            try:
                record: CertificationRecord | None = _record_from_row(row[:width])
                unreadable = None
                if self.send_face_images:
                    record = self._with_face_image(record)
            except (ValueError, TypeError) as exc:
                record, unreadable = None, type(exc).__name__
                log.warning("record %s in the outbox is not a valid record (%s)", record_id, unreadable)
            items.append(OutboxItem(record_id, record, int(row[width]), row[width + 1], unreadable))
        return items

    def _with_face_image(self, record: CertificationRecord) -> CertificationRecord:
        """The hook for regions that send face images (consent or a legal basis, see domain.md)."""
        try:
            jpeg = self.evidence_jpeg(record.record_id)
        except KeyUnavailableError:
            log.warning("record %s: evidence does not open, sent without image", record.record_id)
            return record
        return record if jpeg is None else replace(record, evidence_jpeg=jpeg)

    def mark_sent(self, record_ids: list[str]) -> int:
        """Marks pending records as accepted by the centre; returns how many changed."""
        if not record_ids:
            return 0
        now = self._now_text()
        changed = 0
        with self.transaction():
            for start in range(0, len(record_ids), 500):  # SQLite's parameter limit
                chunk = list(record_ids[start : start + 500])
                changed += self._db.execute(
                    f"UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL "
                    f"WHERE state = 'pending' AND record_id IN ({', '.join('?' * len(chunk))})",
                    [now, *chunk],
                ).rowcount
        return changed

    def mark_retry(self, record_id: str, error_code: str, next_attempt_at: datetime) -> None:
        """Records a failed send (``error_code``: a reason code) and when to try again.

        Raises ValueError for a bad code, StorageError (code ``storage_unknown_record``) when the
        record is not pending.
        """
        if not is_code(error_code):
            raise ValueError("error_code must be a snake_case reason code")
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                "WHERE record_id = ? AND state = 'pending'",
                (error_code, utc_text(next_attempt_at), record_id),
            )
            if cursor.rowcount == 0:
                raise StorageError(f"record {record_id} is not pending in the outbox", code="storage_unknown_record")

    def mark_rejected(self, record_id: str, reason: str) -> None:
        """Sets a record the centre refused aside: never retried, never deleted.

        ``reason``: the centre's reason (truncated to 200 characters; must carry no personal data).
        """
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE outbox SET state = 'rejected', rejected_reason = ? WHERE record_id = ? AND state = 'pending'",
                (reason[:200], record_id),
            )
            if cursor.rowcount == 0:
                raise StorageError(f"record {record_id} is not pending in the outbox", code="storage_unknown_record")

    def outbox_counts(self) -> dict[str, int]:
        """Rows by state: ``pending``, ``sent``, ``rejected`` (always all three keys)."""
        counts = dict.fromkeys(OUTBOX_STATES, 0)
        for state, count in self._all("SELECT state, count(*) FROM outbox GROUP BY state"):
            counts[state] = int(count)
        return counts

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest record still waiting for the centre was stored (None when none waits)."""
        row = self._one("SELECT min(created_at) FROM outbox WHERE state = 'pending'")
        return parse_utc(row[0]) if row and row[0] else None
