"""The audit of the terminals' tamper-evident trails (``kiosk-center audit``).

Every terminal numbers its records 1, 2, 3 ... and puts in each the link hash of the one before
(:mod:`kiosk.store.chain`, :func:`wire.result_record.chain_hash`), inside the signed content. Over
the records the centre holds, in whatever order they arrived, the audit lists per device:

* **missing numbers**: a number below the highest received that never arrived: a record deleted on
  the terminal (or one still waiting in its outbox, or one the centre refused: the terminal lists
  those as set aside);
* **broken links**: record *n* whose ``prev_hash`` is not the hash of the record numbered *n-1* as
  received: record *n-1* was edited after *n* was made (or *n*'s link itself), and ``1`` whose
  ``prev_hash`` is not empty;
* **duplicate numbers**: two different records with one number;
* **records signed by a key that was not the device's at that time**: the record's key is unknown,
  another device's, or was not the device's current key when the centre received the record
  (records are signed when they are sent). Received records only get in with the current key, so
  such a row was put into the database some other way.

Records from before the trail (no number) are counted, not judged. Pure reads; thread rules: the
caller's session.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.db import Certification, Device, DeviceKey


@dataclass
class DeviceAudit:
    """What the audit found for one device (JSON keys as :meth:`as_dict`)."""

    device_id: str
    records: int = 0
    chained: int = 0
    highest: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges
    broken_links: list[dict[str, Any]] = field(default_factory=list)
    duplicate_numbers: list[dict[str, Any]] = field(default_factory=list)
    wrong_key: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No finding."""
        return not (self.missing or self.broken_links or self.duplicate_numbers or self.wrong_key)

    def missing_numbers(self) -> list[int]:
        """The missing numbers one by one (the ranges expanded; use :attr:`missing` for huge gaps)."""
        return [number for first, last in self.missing for number in range(first, last + 1)]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``missing`` as ``[first, last]`` ranges; the other findings name record ids."""
        return {"device_id": self.device_id, "records": self.records, "chained": self.chained,
                "highest_number": self.highest, "missing": [list(span) for span in self.missing],
                "broken_links": self.broken_links, "duplicate_numbers": self.duplicate_numbers,
                "wrong_key": self.wrong_key, "clean": self.clean}


def audit(session: Session, device_id: str | None = None) -> list[DeviceAudit]:
    """The audit of every device (or one), ordered by device id."""
    devices = [device_id] if device_id else list(session.scalars(select(Device.device_id).order_by(Device.device_id)))
    keys = {key.key_id: key for key in session.scalars(select(DeviceKey))}
    return [_audit_device(session, device, keys) for device in devices]


def _audit_device(session: Session, device_id: str, keys: dict[str, DeviceKey]) -> DeviceAudit:
    result = DeviceAudit(device_id)
    rows = session.execute(select(Certification.record_id, Certification.chain_seq, Certification.prev_hash,
                                  Certification.record_hash, Certification.key_id, Certification.received_at)
                           .where(Certification.device_id == device_id)).all()
    by_number: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        result.records += 1
        problem = _key_problem(keys.get(row.key_id), device_id, _aware(row.received_at))
        if problem:
            result.wrong_key.append({"record_id": row.record_id, "key_id": row.key_id, "problem": problem})
        if row.chain_seq is not None:
            by_number[int(row.chain_seq)].append(row)
    result.chained = sum(len(found) for found in by_number.values())
    result.highest = max(by_number, default=0)
    result.missing = _gaps(sorted(by_number))
    for number in sorted(by_number):
        found = by_number[number]
        if len(found) > 1:
            result.duplicate_numbers.append({"chain_seq": number, "record_ids": sorted(r.record_id for r in found)})
        for record in found:
            if number == 1 and record.prev_hash:
                result.broken_links.append({"chain_seq": 1, "record_id": record.record_id, "previous_record_id": None})
            for previous in by_number.get(number - 1, []):
                if record.prev_hash != previous.record_hash:
                    # The record before no longer hashes to what this one says: it (or this link) was edited.
                    result.broken_links.append({"chain_seq": number, "record_id": record.record_id,
                                                "previous_record_id": previous.record_id})
    return result


def _gaps(numbers: list[int]) -> list[tuple[int, int]]:
    gaps, expected = [], 1
    for number in numbers:
        if number > expected:
            gaps.append((expected, number - 1))
        expected = number + 1
    return gaps


def _key_problem(key: DeviceKey | None, device_id: str, received_at: datetime) -> str:
    if key is None:
        return "key_unknown"
    if key.device_id != device_id:
        return "key_of_another_device"
    if received_at < _aware(key.created_at) or (key.retired_at is not None and received_at > _aware(key.retired_at)):
        return "key_not_current_then"
    return ""


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the centre stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
