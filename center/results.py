"""Receipt of certification results: validate, verify the terminal's signature, store once.

Idempotent by ``record_id``: a record already stored with the same content is answered ``duplicate``
(the terminal then marks it sent); the same id with different content is ``rejected`` as a conflict,
because two different decisions must never share an id. Record ids are compared in their canonical
form (lower-case UUID), so an upper-case spelling of a stored id is the same record. Each record is
judged on its own, so one bad record in a batch never holds back the others.

Times are checked at the door (``record_time_out_of_range``): ``occurred_at`` not before the device
was added at the centre (less :data:`~wire.api.MAX_RECORD_BEFORE_DEVICE_S` for a terminal clock set
wrong at installation) and not more than the clock-skew allowance in the future; ``certified_until`` (``record_certified_until_out_of_range``) not before the day of
``occurred_at`` and at most :data:`~wire.api.MAX_CERTIFIED_DAYS` after it (one cycle).

An accepted ``certified`` or ``staff_verified`` record counts for the cycle rules: the roster row of
its person (when on the roster) gets ``last_certified`` = the record's day in China Standard Time
when that is later, and a new ``seq``, so that every terminal learns it in its next roster delta
(the person certified at one hall is not asked again at another). On PostgreSQL :func:`center.db.next_seq`
locks the roster table; it is taken before the records are inserted, so that a results request
always locks roster then certifications (a second connection inserting the same record ids waits
for the first, never the other way round); only when a row may move, so most batches never lock.

Thread rules: called from a request worker thread with that request's session.
"""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from center.db import Certification, Device, DeviceKey, Pensioner, next_seq, utcnow
from wire.api import MAX_CERTIFIED_DAYS, MAX_RECORD_BEFORE_DEVICE_S, SKEW_WINDOW_S
from wire.codes import RecordRejection, RecordVerdict
from wire.roster_csv import CHINA_STANDARD_TIME
from wire.review import CERTIFYING_OUTCOMES
from wire.result_record import RecordReceipt, ResultRecord, chain_hash, content_digest
from wire.schemas import explain_errors
from wire.signing import verify_record

log = logging.getLogger(__name__)


def receive_batch(session: Session, device: Device, records: list[dict]) -> list[RecordReceipt]:
    """Judges and stores a batch; returns one receipt per record in order.

    Writes in the caller's transaction, which commits (before answering: an ``accepted`` receipt
    must be durable).
    """
    # Only the device's current key: a terminal signs its records when it sends them, with the key
    # that signs the request. A record signed with a retired key is no record of this terminal now.
    keys = {key.key_id: key.public_key for key in session.scalars(
        select(DeviceKey).where(DeviceKey.device_id == device.device_id, DeviceKey.retired_at.is_(None)))}
    ids = [canonical_record_id(raw.get("record_id")) for raw in records if isinstance(raw, dict)]
    existing = dict(session.execute(select(Certification.record_id, Certification.content_digest)
                                    .where(Certification.record_id.in_(ids))).all())
    receipts: list[RecordReceipt] = []
    fresh: list[dict[str, Any]] = []
    seen_in_batch: dict[str, str] = {}
    for raw in records:
        receipt, row = _judge(raw, device, keys, existing, seen_in_batch)
        receipts.append(receipt)
        if row is not None:
            fresh.append(row)
            seen_in_batch[row["record_id"]] = row["content_digest"]
    if fresh:
        # A read without the lock may skip the lock: last_certified only ever moves forward.
        first_seq = next_seq(session) if _rows_to_move(session, _certified_days(fresh)) else None
        receipts = _store_new(session, fresh, receipts)
        if first_seq is not None:
            accepted = {receipt.record_id for receipt in receipts if receipt.status is RecordVerdict.ACCEPTED}
            _count_for_cycle(session, [row for row in fresh if row["record_id"] in accepted], first_seq)
        check_links(session, device.device_id, [row["chain_seq"] for row in fresh if row["chain_seq"] is not None])
    return receipts


def _certified_days(rows: list[dict[str, Any]]) -> dict[str, date]:
    """Person -> the latest day (China Standard Time) of the rows that certify them for the cycle."""
    days: dict[str, date] = {}
    for row in rows:
        if row["outcome"] in CERTIFYING_OUTCOMES and row["id_number"]:
            day = row["occurred_at"].astimezone(CHINA_STANDARD_TIME).date()
            if day > days.get(row["id_number"], date.min):
                days[row["id_number"]] = day
    return days


def _rows_to_move(session: Session, days: dict[str, date]) -> list[Pensioner]:
    """The roster rows (not removed) whose last_certified is before the day in ``days``, read afresh."""
    if not days:
        return []
    rows = session.scalars(select(Pensioner).where(Pensioner.id_number.in_(days), Pensioner.removed.is_(False))
                           .order_by(Pensioner.id_number).execution_options(populate_existing=True))
    return [row for row in rows if row.last_certified is None or row.last_certified < days[row.id_number]]


def _count_for_cycle(session: Session, accepted: list[dict[str, Any]], first_seq: int) -> int:
    """Moves last_certified of the people the accepted rows certified (under the roster lock that
    :func:`~center.db.next_seq` took, which numbered ``first_seq``); returns how many rows moved."""
    days = _certified_days(accepted)
    moved = _rows_to_move(session, days)
    now = utcnow()
    for offset, pensioner in enumerate(moved):
        pensioner.last_certified = days[pensioner.id_number]
        pensioner.seq = first_seq + offset
        pensioner.updated_at = now
    if moved:
        session.flush()
        log.info("%d roster rows certified for the cycle by results", len(moved))
    return len(moved)


def check_links(session: Session, device_id: str, numbers: list[int]) -> int:
    """Verifies the links of newly stored chain numbers with their neighbours already received (in
    whatever order they came); logs each broken one (device and numbers only) and returns how many.
    The full report is ``kiosk-center audit``. Nothing is refused for it: a record that breaks a
    link is signed evidence, and the audit needs it."""
    if not numbers:
        return 0
    wanted = sorted({n for number in numbers for n in (number - 1, number, number + 1) if n >= 1})
    rows = session.execute(select(Certification.chain_seq, Certification.prev_hash, Certification.record_hash)
                           .where(Certification.device_id == device_id, Certification.chain_seq.in_(wanted))).all()
    by_number: dict[int, list[tuple[str | None, str | None]]] = {}
    for number, prev_hash, record_hash in rows:
        by_number.setdefault(int(number), []).append((prev_hash, record_hash))
    broken = 0
    for number in sorted({n for number in numbers for n in (number, number + 1)}):
        before, after = by_number.get(number - 1), by_number.get(number)
        if before and after and any(prev != own for prev, _ in after for _, own in before):
            broken += 1
            log.warning("device %s: the chain link from record %d to %d is broken", device_id, number - 1, number)
    return broken


def _judge(raw: Any, device: Device, keys: dict[str, str], existing: dict[str, str],
           seen_in_batch: dict[str, str]) -> tuple[RecordReceipt, dict[str, Any] | None]:
    record_id = str(raw.get("record_id", "")) if isinstance(raw, dict) else ""
    try:
        record = ResultRecord.model_validate(raw)
    except ValidationError as exc:
        return _rejected(record_id, RecordRejection.INVALID, explain_errors(exc.errors(include_input=False),
                                                                     whole="record", max_chars=500)), None
    if record.device_id != device.device_id:
        return _rejected(record.record_id, RecordRejection.DEVICE_MISMATCH,
                         "device_id in the record is not the device that sent it"), None
    public_key = keys.get(record.key_id)
    if public_key is None:
        return _rejected(record.record_id, RecordRejection.KEY_UNKNOWN,
                         "key_id is not this device's current key"), None
    if not verify_record(public_key, raw):
        return _rejected(record.record_id, RecordRejection.SIGNATURE_INVALID,
                         "record signature does not verify with the device's key"), None
    refusal = _out_of_range(record, device)
    if refusal is not None:
        return refusal, None
    # The digest of the record with its canonical id: a resend spelt in upper case is the same decision.
    digest = content_digest({**raw, "record_id": record.record_id})
    known = existing.get(record.record_id) or seen_in_batch.get(record.record_id)
    if known is not None:
        return _repeat_or_conflict(record.record_id, same=known == digest), None
    image = base64.b64decode(record.face_image_jpeg) if record.face_image_jpeg else None
    stored = {key: value for key, value in raw.items() if key != "face_image_jpeg"}
    # occurred_at in UTC: SQLite keeps a datetime's wall-clock digits and drops its offset.
    row = {"record_id": record.record_id, "device_id": device.device_id, "key_id": record.key_id,
           "id_number": record.id_number, "occurred_at": record.occurred_at.astimezone(timezone.utc),
           "outcome": record.outcome,
           "reason_code": record.reason_code, "content_digest": digest, "record": stored, "face_image": image,
           "received_at": utcnow(), "chain_seq": record.chain_seq, "prev_hash": record.prev_hash,
           "record_hash": chain_hash(raw) if record.chain_seq is not None else None}
    return RecordReceipt(record_id=record.record_id, status=RecordVerdict.ACCEPTED), row


def canonical_record_id(value: Any) -> str:
    """A record id as stored and looked up: the lower-case hyphenated UUID, or the text as given when it
    is no UUID (such a record is refused as invalid anyway)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value or "")


def _out_of_range(record: ResultRecord, device: Device, now: datetime | None = None) -> RecordReceipt | None:
    """The refusal of a record whose times no genuine terminal could have written, else None."""
    now = now or utcnow()
    allowance = timedelta(seconds=SKEW_WINDOW_S)
    added = device.created_at if device.created_at.tzinfo else device.created_at.replace(tzinfo=timezone.utc)
    if record.occurred_at < added - timedelta(seconds=MAX_RECORD_BEFORE_DEVICE_S):
        return _rejected(record.record_id, RecordRejection.TIME_OUT_OF_RANGE,
                         "occurred_at is before the device was added at the centre")
    if record.occurred_at > now + allowance:
        return _rejected(record.record_id, RecordRejection.TIME_OUT_OF_RANGE,
                         f"occurred_at is more than {SKEW_WINDOW_S} s after the centre's clock (check the terminal's clock)")
    if record.certified_until is not None:
        day = record.occurred_at.astimezone(CHINA_STANDARD_TIME).date()
        if not day <= record.certified_until <= day + timedelta(days=MAX_CERTIFIED_DAYS):
            return _rejected(record.record_id, RecordRejection.CERTIFIED_UNTIL_OUT_OF_RANGE,
                             f"certified_until is not within {MAX_CERTIFIED_DAYS} days after the day of occurred_at")
    return None


def _store_new(session: Session, rows: list[dict[str, Any]], receipts: list[RecordReceipt]) -> list[RecordReceipt]:
    """Inserts the rows with ``ON CONFLICT (record_id) DO NOTHING``; a row another request stored
    between our read and this insert (the same terminal retrying on a second connection, another
    worker process) becomes ``duplicate`` or a conflict. The database decides who was first: on
    PostgreSQL the insert waits for the other transaction and then sees its row; SQLite's write lock
    serialises requests. Nothing is rolled back, so the request's nonce and other writes stay.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Certification).on_conflict_do_nothing(index_elements=["record_id"])
    inserted = set(session.scalars(statement.returning(Certification.record_id), rows))
    lost = [row for row in rows if row["record_id"] not in inserted]
    if not lost:
        return receipts
    stored = dict(session.execute(select(Certification.record_id, Certification.content_digest).where(
        Certification.record_id.in_([row["record_id"] for row in lost]))).all())
    verdicts = {row["record_id"]: _repeat_or_conflict(row["record_id"], same=stored.get(row["record_id"]) == row["content_digest"])
                for row in lost}
    return [verdicts.get(receipt.record_id, receipt) if receipt.status is RecordVerdict.ACCEPTED else receipt
            for receipt in receipts]


def _repeat_or_conflict(record_id: str, *, same: bool) -> RecordReceipt:
    """The receipt for an id already stored: ``duplicate`` when the content is the same, else a conflict."""
    if same:
        return RecordReceipt(record_id=record_id, status=RecordVerdict.DUPLICATE, message="already received")
    return _rejected(record_id, RecordRejection.CONFLICT, "a different record with this record_id was already received")


def _rejected(record_id: str, reason: RecordRejection, message: str) -> RecordReceipt:
    log.info("record %s rejected: %s", record_id or "(no id)", reason.value)
    return RecordReceipt(record_id=record_id, status=RecordVerdict.REJECTED, reason=reason.value, message=message)
