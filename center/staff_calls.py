"""Staff calls at the centre: a terminal raises one, staff acknowledge it (console or terminal).

Every call is kept with the terminal's time of raising it, the centre's time of receiving it and the
time and person of its answer, so that a hall can see how long people waited. Raising is idempotent
on ``call_id`` (a terminal retries until it has an answer); acknowledging an acknowledged call keeps
the first answer (two members of staff walking over at once is one answer, the earlier).

Thread rules: functions take a session owned by the calling thread; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.auth import ApiError
from center.db import Device, StaffCall, utcnow
from wire.codes import WireError
from wire.staff import StaffCallAnswer, StaffCallRequest, StaffCallStatus

VIA_CONSOLE = "console"
VIA_TERMINAL = "terminal"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the centre stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def answer(call: StaffCall) -> StaffCallAnswer:
    """The wire answer for ``call``."""
    acknowledged = call.acknowledged_at is not None
    return StaffCallAnswer(call_id=call.call_id,
                           status=StaffCallStatus.ACKNOWLEDGED if acknowledged else StaffCallStatus.OPEN,
                           acknowledged_by=call.acknowledged_by,
                           acknowledged_at=as_utc(call.acknowledged_at) if acknowledged else None)


def raise_call(session: Session, device: Device, request: StaffCallRequest) -> StaffCall:
    """Stores a new call, or returns the one already stored under this id by the same terminal.

    Raises 409 ``request_invalid`` when another terminal already used the id.
    """
    existing = session.get(StaffCall, request.call_id)
    if existing is not None:
        if existing.device_id != device.device_id:
            raise ApiError(409, WireError.REQUEST_INVALID, "this call_id belongs to another terminal")
        return existing
    call = StaffCall(call_id=request.call_id, device_id=device.device_id, hall=device.hall, screen=request.screen,
                     reason=str(request.reason), raised_at=request.raised_at.astimezone(timezone.utc),
                     received_at=utcnow())
    session.add(call)
    session.flush()
    return call


def call_of(session: Session, device: Device, call_id: str) -> StaffCall:
    """The terminal's own call; 404 ``request_not_found`` for an unknown id or another terminal's."""
    call = session.get(StaffCall, call_id)
    if call is None or call.device_id != device.device_id:
        raise ApiError(404, WireError.NOT_FOUND, "no such staff call from this terminal")
    return call


def acknowledge(call: StaffCall, *, staff_number: str | None, at: datetime, via: str) -> bool:
    """Marks ``call`` answered unless it already is; returns whether this was the answer."""
    if call.acknowledged_at is not None:
        return False
    call.acknowledged_at = at.astimezone(timezone.utc)  # SQLite keeps no offset: store UTC only
    call.acknowledged_by = staff_number
    call.acknowledged_via = via
    return True


def open_calls(session: Session, hall: str | None) -> list[StaffCall]:
    """Unanswered calls, oldest first, of one hall (None: every hall)."""
    query = select(StaffCall).where(StaffCall.acknowledged_at.is_(None)).order_by(StaffCall.received_at)
    if hall is not None:
        query = query.where(StaffCall.hall == hall)
    return list(session.scalars(query))
