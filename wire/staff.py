"""The staff call on the wire: a terminal asks for hall staff, the centre shows it on the hall console.

Three device-signed requests, each answered with the call's current state (:class:`StaffCallAnswer`):

* ``POST /v1/staff-calls`` with :class:`StaffCallRequest`: raise a call; idempotent on ``call_id``
  (a resend after a lost answer returns the current state, never a second call);
* ``GET /v1/staff-calls/{call_id}``: the terminal polls it (every ~2 s) while its call is open, to
  learn that a staff member acknowledged it on the console;
* ``POST /v1/staff-calls/{call_id}/ack`` with :class:`StaffCallAck`: a staff member acknowledged
  the call at the terminal itself.

No personal data travels: the screen the person is on and why the call was raised, never who.
Pure pydantic, no I/O.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wire.codes import CODE_PATTERN

PATH_STAFF_CALLS = "/v1/staff-calls"


def staff_call_path(call_id: str) -> str:
    """``/v1/staff-calls/{call_id}`` (the id is a UUID: nothing to escape)."""
    return f"{PATH_STAFF_CALLS}/{uuid.UUID(call_id)}"


def staff_call_ack_path(call_id: str) -> str:
    """``/v1/staff-calls/{call_id}/ack``."""
    return f"{staff_call_path(call_id)}/ack"


class StaffCallReason(StrEnum):
    """Why a terminal called staff."""

    HELP_PRESSED = "help_pressed"  # the person (or their helper) touched "请工作人员帮助"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # the face check failed on every attempt
    NO_REFERENCE = "no_reference"  # no reference face: staff must enrol or certify in person
    READER_PROBLEM = "reader_problem"
    CAMERA_PROBLEM = "camera_problem"


class StaffCallStatus(StrEnum):
    """A call as the centre knows it."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


_STRICT = ConfigDict(extra="forbid", frozen=True)
STAFF_NUMBER_PATTERN = r"^[0-9A-Za-z_-]{1,32}$"
"""A staff member's number (工号): ASCII letters, digits, '-' and '_'."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a UTC offset (RFC 3339)")
    return value


class StaffCallRequest(BaseModel):
    """A terminal raises a call. ``screen`` is the flow state name the person is on."""

    model_config = _STRICT
    call_id: str
    raised_at: datetime
    screen: str = Field(pattern=CODE_PATTERN)
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
        return _aware(value)


class StaffCallAck(BaseModel):
    """A staff member acknowledged the call at the terminal (``staff_number`` None: not signed in)."""

    model_config = _STRICT
    acknowledged_at: datetime
    staff_number: str | None = Field(default=None, pattern=STAFF_NUMBER_PATTERN)

    @field_validator("acknowledged_at")
    @classmethod
    def _ack_aware(cls, value: datetime) -> datetime:
        return _aware(value)


class StaffCallAnswer(BaseModel):
    """The centre's answer to every staff-call request: the call's current state.

    Answers ignore unknown fields (a newer centre may add some)."""

    model_config = ConfigDict(frozen=True)
    call_id: str
    status: Literal["open", "acknowledged"]
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
