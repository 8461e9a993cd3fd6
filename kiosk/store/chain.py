"""The tamper-evident trail on the terminal: every record numbered, each linked to the one before.

When a record is stored it gets the next ``chain_seq`` (1, 2, 3 ...) and, as ``prev_hash``, the
link hash of the record before it (``""`` for the first): :func:`wire.result_record.chain_hash` of
that record's wire form. Both travel inside the signed record, so the centre sees a deleted record
as a missing number and an edited one as a broken link, in whatever order the records arrive
(``kiosk-center audit``). The wire form of the decision is made here, once, for the hash and for
sending (:func:`kiosk.sync.wire_mapping.wire_record`), so the two cannot disagree.

Records stored before the trail existed (schema 0004) have no number and stay outside it.
Pure functions; thread-safe.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from kiosk.store.models import CertificationRecord
from wire.result_record import SCORE_NAMES, ResultRecord, chain_hash

FIRST_PREV_HASH = ""
"""``prev_hash`` of the first record of a terminal."""
UNREADABLE_PREV_HASH = "0" * 64
"""``prev_hash`` after a stored record that no longer forms a record: the link is shown broken."""


def decision_fields(record: CertificationRecord) -> dict[str, Any]:
    """The wire fields of the decision itself (no envelope: device, key, hall, image, signature), as
    Python values; None means "left out"."""
    scores = {name: float(getattr(record, name)) for name in SCORE_NAMES if getattr(record, name) is not None}
    return {"record_id": str(record.record_id), "session_id": record.session_id[:64],
            "occurred_at": record.occurred_at.astimezone(timezone.utc), "region_code": record.region_code,
            "outcome": record.outcome, "reason_code": record.reason_code or "", "attempt": record.attempt,
            "scores": scores, "id_number": record.id_number or None, "certified_until": record.valid_until,
            "chain_seq": record.chain_seq, "prev_hash": record.prev_hash}


def link_hash(record: CertificationRecord) -> str:
    """The hash the next record carries as ``prev_hash`` (the centre computes the same from the wire)."""
    fields = {name: value for name, value in decision_fields(record).items() if value is not None}
    return chain_hash(ResultRecord.model_construct(**fields).wire_dict())
