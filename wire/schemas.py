"""Wire models of the sync protocol other than the result record (pydantic 2): enrolment, roster
pages, heartbeats, error bodies. The result record is :mod:`wire.result_record`.

Field names and limits match ``docs/sync-protocol.yaml``. Requests refuse unknown fields (a misspelt
field is a clear error, not silently dropped data); answers ignore them (a newer centre may add
some). Models are immutable and hold no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wire.codes import CODE_PATTERN
from wire.review import ReviewDecision

_STRICT = ConfigDict(extra="forbid", frozen=True)
Code = Annotated[str, Field(pattern=CODE_PATTERN)]
"""A reason code as a pydantic field type."""


def explain_errors(errors: Iterable[Mapping[str, Any]], *, whole: str, max_chars: int, prefix: str = "") -> str:
    """pydantic validation errors as ``field.path: message; ...`` (``whole`` names an error without a
    location), cut to ``max_chars``. Locations and messages only: pydantic's default text would echo
    the (personal) input."""
    parts = [f"{'.'.join(str(part) for part in error.get('loc', ())) or whole}: {error.get('msg', 'invalid')}"
             for error in errors]
    return (prefix + "; ".join(parts))[:max_chars]


def _public_key(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError("public_key is not base64") from None
    if len(raw) != 32:
        raise ValueError("public_key must be 32 raw bytes (Ed25519)")
    return value


class EnrolRequest(BaseModel):
    """A terminal's first contact: the one-time enrolment code and the public half of the key pair it
    generated. The request is signed with that new key (proof that the terminal holds it)."""

    model_config = _STRICT
    enrolment_code: str = Field(min_length=16, max_length=40, description="as printed by `kiosk-center device add`")
    public_key: str = Field(min_length=44, max_length=44, description="raw Ed25519 public key, base64")
    software_version: str = Field(default="", max_length=40)

    _key = field_validator("public_key")(classmethod(lambda cls, value: _public_key(value)))


class KeyRotation(BaseModel):
    """A terminal replaces its key: the request is signed with the current key, and the new key
    signs :func:`wire.signing.rotation_statement` (``possession``)."""

    model_config = _STRICT
    public_key: str = Field(min_length=44, max_length=44, description="the new raw Ed25519 public key, base64")
    possession: str = Field(min_length=1, max_length=100, description="the new key's signature of the rotation statement")

    _key = field_validator("public_key")(classmethod(lambda cls, value: _public_key(value)))


class EnrolResponse(BaseModel):
    """The device as the centre knows it, with the key now registered as its credential."""

    device_id: str
    key_id: str
    server_time: datetime
    center_public_key: str | None = Field(default=None, description="Ed25519 key review decisions are signed with")


class RosterChange(BaseModel):
    """One roster delta entry: an upsert with the full row, or a removal (tombstone)."""

    seq: int
    op: Literal["upsert", "remove"]
    id_number: str
    name: str | None = None
    region_code: str | None = None
    last_certified: date | None = None
    templates: list[str] = Field(default_factory=list, description="base64 little-endian float32 x 128 (dlib) or x 256 (dlib + SFace)")
    template_source: str = ""
    review: ReviewDecision | None = Field(
        default=None, description="the centre's latest signed decision on this person's review request")


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
    """The centre's clock, for the terminal's skew estimate, and its review-signing key: a terminal
    enrolled by ``kiosk enroll-device`` (which keeps no store) learns the key here at its first
    sync round, so that the review decisions in its roster delta can be verified."""

    server_time: datetime
    center_public_key: str | None = Field(default=None, description="Ed25519 key review decisions are signed with")


class ErrorBody(BaseModel):
    """``{"error": {"code": ..., "message": ...}}`` of every non-2xx answer."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The envelope of an error answer."""

    error: ErrorBody
