"""The certification result record on the wire, its batch and its receipts (pydantic 2).

One definition for both sides: the terminal builds and signs a :class:`ResultRecord` from its stored
record (``kiosk/sync/wire_mapping.py``), the centre validates what it receives against the same class
(``center/results.py``). Field names and limits are those of ``ResultRecord`` in
``docs/sync-protocol.yaml``. Unknown fields are refused (a misspelt field is a clear error, not
silently dropped data).

What travels is exactly the fields the sender set (:meth:`ResultRecord.wire_dict`), and the
signature covers exactly those (:func:`wire.signing.canonical_record`). Instants are written with
microseconds and their offset (``2026-05-20T01:00:00.000000+00:00``), the form terminals have
always sent: a record resent after an upgrade must have the same content, or the centre would take
it for a conflicting one (:func:`content_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from wire.api import MAX_FACE_IMAGE_BYTES, MAX_RECORDS_PER_BATCH
from wire.canonical import canonical_json
from wire.codes import RecordVerdict
from wire.schemas import Code
from wire.signing import sign_record

SCORE_NAMES = ("liveness_score", "attack_score", "match_distance")
"""The audit scores a terminal puts in ``scores`` (never shown to the person): liveness and attack
scores in 0-1, the match distance in dlib descriptor space."""

ENVELOPE_FIELDS = frozenset({"device_id", "key_id", "hall_name", "proxy", "signature"})
"""Fields of a wire record that the terminal's stored decision does not hold: who sends it and how
it is signed (the enrolled device id, the key, the hall's name), and what the terminal never sets."""

CHAIN_FIELDS = ("record_id", "session_id", "occurred_at", "region_code", "id_number", "outcome", "reason_code",
                "attempt", "scores", "certified_until", "chain_seq", "prev_hash")
"""What a record's link hash covers (:func:`chain_hash`): the decision as the terminal stored it, with
its place in the chain. Named one by one, not "all but the envelope", so that a field added later
(and signed) cannot make the terminal and the centre hash different content."""

# Fields that may legitimately differ between two transmissions of the same decision: the key it was
# signed with (re-enrolment rotates it), the signature itself and the optional image.
NOT_CONTENT = frozenset({"signature", "key_id", "face_image_jpeg"})


class ResultRecord(BaseModel):
    """One certification decision as signed by the terminal (the signature covers every field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    record_id: str = Field(description="UUID the terminal gave the record; receipt is idempotent on it")
    device_id: str = Field(min_length=1, max_length=64)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    id_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{1,32}$",
                                  description="ID card number; absent when the card could not be read")
    session_id: str = Field(default="", max_length=64)
    occurred_at: datetime
    region_code: str = Field(pattern=r"^[0-9]{6}$")  # not \d: pydantic's Rust regex takes any script's digits
    hall_name: str = Field(default="", max_length=80)
    outcome: Code
    reason_code: Code | Literal[""] = ""
    attempt: int = Field(default=1, ge=1, le=100)
    proxy: bool = False
    scores: dict[Code, float] = Field(default_factory=dict, max_length=32)
    certified_until: date | None = None
    # The tamper-evident trail: the terminal numbers its records 1, 2, 3 ... and puts in each the
    # chain_hash of the one before ("" in the first). Absent in records made before the trail.
    chain_seq: int | None = Field(default=None, ge=1, le=2**31 - 1)
    prev_hash: str | None = Field(default=None, pattern=r"^([0-9a-f]{64})?$")
    face_image_jpeg: str | None = Field(default=None, description="base64 JPEG; only with the region's consent")
    signature: str = Field(min_length=1, max_length=200)

    @field_validator("record_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("record_id is not a UUID") from None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset (ISO 8601 with Z or +08:00)")
        return value

    @field_validator("scores")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        if not all(math.isfinite(score) for score in value.values()):
            raise ValueError("scores must be finite numbers")
        return value

    @field_validator("face_image_jpeg")
    @classmethod
    def _jpeg(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_FACE_IMAGE_BYTES * 4 // 3 + 4:
            raise ValueError(f"face_image_jpeg is larger than {MAX_FACE_IMAGE_BYTES} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("face_image_jpeg is not base64") from None
        if not raw.startswith(b"\xff\xd8"):
            raise ValueError("face_image_jpeg is not a JPEG")
        return value

    @field_serializer("occurred_at")
    def _instant(self, value: datetime) -> str:
        return value.isoformat(timespec="microseconds")

    def wire_dict(self) -> dict[str, Any]:
        """The JSON-ready record as it travels: the fields its sender set, none that is None."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True)


def signed_record(key: Ed25519PrivateKey, **fields: Any) -> ResultRecord:
    """The terminal's record from its fields (``signature`` aside), signed with ``key``.

    Not validated here: the centre is the one judge of a record, with one vocabulary of reasons
    (``record_invalid: region_code ...``), and the terminal sets aside what it refuses. A field
    given as None is left out. Raises ValueError / TypeError when a value cannot be written as JSON
    (a NaN score), AttributeError for a name that is no field of :class:`ResultRecord` (a bug, not
    a bad record: ``model_construct`` would drop it silently).
    """
    unknown = sorted((fields.keys() - ResultRecord.model_fields.keys()) | (fields.keys() & {"signature"}))
    if unknown:
        raise AttributeError(f"not fields of an unsigned ResultRecord: {', '.join(unknown)}")
    unsigned = ResultRecord.model_construct(**{name: value for name, value in fields.items() if value is not None})
    signature = sign_record(key, unsigned.wire_dict())
    return unsigned.model_copy(update={"signature": signature})


def chain_hash(record: Mapping[str, Any]) -> str:
    """The link hash of a wire record (JSON-ready, as sent): SHA-256 (hex) of the canonical JSON of its
    :data:`CHAIN_FIELDS`. The next record of the same terminal carries it as ``prev_hash``."""
    content = {name: record[name] for name in CHAIN_FIELDS if name in record}
    return hashlib.sha256(b"kiosk-chain-v1\n" + canonical_json(content)).hexdigest()


def content_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of the decision itself (see :data:`NOT_CONTENT`), for telling a repeat from a conflict:
    the canonical JSON of the record as sent without the fields that may differ between transmissions."""
    content = {key: value for key, value in record.items() if key not in NOT_CONTENT}
    return hashlib.sha256(canonical_json(content)).hexdigest()


class ResultBatch(BaseModel):
    """A batch of result records; each is validated on its own so one bad record spoils nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    records: list[dict] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)  # type: ignore[type-arg]


class RecordReceipt(BaseModel):
    """The centre's answer for one record. ``reason`` is a :class:`~wire.codes.RecordRejection` code
    when rejected; ``message`` is English for technicians and never echoes submitted values."""

    record_id: str
    status: RecordVerdict
    reason: str = ""
    message: str = ""


class ResultBatchResponse(BaseModel):
    """One receipt per submitted record, in the order submitted."""

    receipts: list[RecordReceipt]
