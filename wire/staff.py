"""Staff calls on the wire: a terminal asks for a member of staff, the centre answers who came.

``POST /v1/staff-calls`` raises a call (idempotent on ``call_id``: a terminal retries with the same
id until it has an answer), ``GET /v1/staff-calls/{call_id}`` is polled by the terminal (about every
2 s) to learn that someone acknowledged it, ``POST /v1/staff-calls/{call_id}/ack`` acknowledges it
from the terminal (a member of staff signed in there). All three are device-signed like every other
request and answer with :class:`StaffCallAnswer`. Pure, no I/O.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wire.api import API_PREFIX

PATH_STAFF_CALLS = f"{API_PREFIX}/staff-calls"


def staff_call_path(call_id: str) -> str:
    """The path of one call (GET polls it)."""
    return f"{PATH_STAFF_CALLS}/{call_id}"


def staff_call_ack_path(call_id: str) -> str:
    """The path that acknowledges one call."""
    return f"{PATH_STAFF_CALLS}/{call_id}/ack"


class StaffCallReason(StrEnum):
    """Why a terminal calls for staff."""

    HELP_PRESSED = "help_pressed"  # the person pressed 请工作人员帮助
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # three failed attempts
    NO_REFERENCE = "no_reference"  # no reference photo: staff must certify face to face
    READER_PROBLEM = "reader_problem"
    CAMERA_PROBLEM = "camera_problem"


class StaffCallStatus(StrEnum):
    """Where a call stands."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a UTC offset (RFC 3339 with Z or +00:00)")
    return value


class StaffCallRequest(BaseModel):
    """A terminal raises a call. ``screen`` is the flow state the person is on (no personal data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    call_id: str = Field(description="UUID 4 the terminal gave the call; the centre is idempotent on it")
    raised_at: datetime
    screen: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    reason: StaffCallReason

    @field_validator("call_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("call_id is not a UUID") from None

    @field_validator("raised_at")
    @classmethod
    def _raised_aware(cls, value: datetime) -> datetime:
        return _aware(value, "raised_at")


class StaffCallAck(BaseModel):
    """A terminal acknowledges a call (a member of staff at the terminal, or an anonymous tap: null)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acknowledged_at: datetime
    staff_number: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("acknowledged_at")
    @classmethod
    def _ack_aware(cls, value: datetime) -> datetime:
        return _aware(value, "acknowledged_at")


class StaffCallAnswer(BaseModel):
    """The centre's view of one call, the answer to all three requests."""

    call_id: str
    status: Literal["open", "acknowledged"]
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
