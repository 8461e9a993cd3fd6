"""Wire models of the sync protocol as the centre validates them (pydantic 2).

Field names and limits match ``docs/sync-protocol.yaml``. Unknown fields are refused (a misspelt
field is a clear error, not silently dropped data). Models are immutable and hold no I/O.
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiosk.sync.protocol import CODE_PATTERN, MAX_FACE_IMAGE_BYTES, MAX_RECORDS_PER_BATCH, RecordVerdict

_STRICT = ConfigDict(extra="forbid", frozen=True)
Code = Annotated[str, Field(pattern=CODE_PATTERN)]


def explain_errors(errors: Iterable[Mapping[str, Any]], *, whole: str, max_chars: int, prefix: str = "") -> str:
    """pydantic validation errors as ``field.path: message; ...`` (``whole`` names an error without a
    location), cut to ``max_chars``. Locations and messages only: pydantic's default text would echo
    the (personal) input."""
    parts = [f"{'.'.join(str(part) for part in error.get('loc', ())) or whole}: {error.get('msg', 'invalid')}"
             for error in errors]
    return (prefix + "; ".join(parts))[:max_chars]


class EnrolRequest(BaseModel):
    """A terminal registers the public half of its record-signing key."""

    model_config = _STRICT
    public_key: str = Field(min_length=44, max_length=44, description="raw Ed25519 public key, base64")
    software_version: str = Field(default="", max_length=40)

    @field_validator("public_key")
    @classmethod
    def _is_key(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("public_key is not base64") from None
        if len(raw) != 32:
            raise ValueError("public_key must be 32 raw bytes (Ed25519)")
        return value


class EnrolResponse(BaseModel):
    """The device as the centre knows it."""

    device_id: str
    key_id: str
    server_time: datetime


class ResultRecord(BaseModel):
    """One certification decision as signed by the terminal (the signature covers every field)."""

    model_config = _STRICT
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


class ResultBatch(BaseModel):
    """A batch of result records; each is validated on its own so one bad record spoils nothing else."""

    model_config = _STRICT
    records: list[dict] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)


class RecordReceipt(BaseModel):
    """The centre's answer for one record."""

    record_id: str
    status: RecordVerdict
    reason: str = ""
    message: str = ""


class ResultBatchResponse(BaseModel):
    """One receipt per submitted record, in the order submitted."""

    receipts: list[RecordReceipt]


class RosterChange(BaseModel):
    """One roster delta entry: an upsert with the full row, or a removal (tombstone)."""

    seq: int
    op: Literal["upsert", "remove"]
    id_number: str
    name: str | None = None
    region_code: str | None = None
    last_certified: date | None = None
    templates: list[str] = Field(default_factory=list, description="base64 little-endian float32 x 128")
    template_source: str = ""


class RosterPage(BaseModel):
    """A page of roster changes after a cursor."""

    changes: list[RosterChange]
    next_cursor: int
    has_more: bool


class Heartbeat(BaseModel):
    """The terminal's health, without any personal data."""

    model_config = _STRICT
    software_version: str = Field(default="", max_length=40)
    pending: int = Field(ge=0)
    rejected: int = Field(ge=0)
    last_success_at: datetime | None = None
    clock_skew_s: float | None = None
    checks: dict[Code, Literal["ok", "warning", "failed"]] = Field(default_factory=dict, max_length=64)


class HeartbeatResponse(BaseModel):
    """The centre's clock, for the terminal's skew estimate."""

    server_time: datetime


class ErrorBody(BaseModel):
    """``{"error": {"code": ..., "message": ...}}`` of every non-2xx answer."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The envelope of an error answer."""

    error: ErrorBody
