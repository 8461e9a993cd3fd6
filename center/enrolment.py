"""A terminal's credential: one-time enrolment codes, first contact, key rotation.

The terminal's Ed25519 key pair is its only long-term credential. The centre keeps public keys and,
until first contact, the SHA-256 of a one-time, expiring enrolment code; nothing it holds lets
anyone sign as a terminal. A key becomes a device's current key in exactly two ways:

* **first contact** (:func:`enrol`): the request carries the code printed by
  ``kiosk-center device add`` (or ``device reenrol``, the operator's approval of a new key for a
  terminal that lost its own) and is signed with the new key; the code dies with that use;
* **rotation** (:func:`rotate`): the request is signed with the current key and the new key signs
  :func:`wire.signing.rotation_statement`.

Either way the previous key is retired, not deleted: it still verifies the records it signed, and
its lifetime tells the audit which key was the device's when (:mod:`center.audit`).

Thread rules: functions take the request's session; callers commit.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.auth import ApiError
from center.db import Device, DeviceKey, utcnow
from wire.codes import WireError
from wire.schemas import EnrolRequest, KeyRotation
from wire.signing import (SignedHeaders, enrolment_code_hash, key_id, new_enrolment_code, rotation_statement,
                          verify_bytes, verify_request)

log = logging.getLogger(__name__)

_REFUSED = ("this device id and enrolment code do not form a valid, unused, unexpired code "
            "(ask the centre for a new one: `kiosk-center device reenrol`)")


def issue_code(device: Device, hours: float) -> str:
    """A fresh one-time code for ``device``, valid for ``hours``; only its hash is kept. A code issued
    before and not yet used stops working."""
    code = new_enrolment_code()
    device.enrolment_code_sha256 = enrolment_code_hash(code)
    device.enrolment_expires_at = utcnow() + timedelta(hours=hours)
    return code


def current_key(session: Session, device_id: str) -> DeviceKey | None:
    """The device's current key, None before first contact."""
    return session.scalars(select(DeviceKey).where(DeviceKey.device_id == device_id,
                                                   DeviceKey.retired_at.is_(None))).first()


def enrol(session: Session, headers: SignedHeaders, request: EnrolRequest, method: str, path: str) -> DeviceKey:
    """First contact: registers the request's key as the device's current one and consumes the code.

    The request must be signed with the key it registers. A repeat by a terminal whose key is
    already current (its answer was lost) is answered again without a code. Every refusal is the
    same 401 ``enrolment_refused`` (no answer tells a stranger whether a device id exists).
    """
    kid = key_id(request.public_key)
    if kid != headers.key_id or not verify_request(request.public_key, headers, method, path):
        raise ApiError(401, WireError.ENROLMENT_REFUSED, _REFUSED)
    device = session.get(Device, headers.device_id)
    present = session.get(DeviceKey, kid)
    if device is not None and present is not None and present.device_id == device.device_id \
            and present.retired_at is None:
        return present  # the same terminal again: its first answer was lost on the way
    try:
        offered = enrolment_code_hash(request.enrolment_code)
    except ValueError:
        offered = ""
    if device is None or device.disabled or present is not None or not device.enrolment_code_sha256 \
            or not hmac.compare_digest(offered, device.enrolment_code_sha256) \
            or _aware(device.enrolment_expires_at) < utcnow():
        raise ApiError(401, WireError.ENROLMENT_REFUSED, _REFUSED)
    now = utcnow()
    _retire_current(session, device.device_id, now)
    key = DeviceKey(key_id=kid, device_id=device.device_id, public_key=request.public_key, created_at=now,
                    origin="enrolment_code")
    session.add(key)
    device.enrolment_code_sha256, device.enrolment_expires_at, device.enrolled_at = None, None, now
    log.info("device %s enrolled key %s", device.device_id, kid)
    return key


def rotate(session: Session, device_id: str, signing_key_id: str, rotation: KeyRotation) -> DeviceKey:
    """Replaces the device's current key (which signed the request) with a new one that proves itself.

    Raises 422 ``key_rotation_invalid`` when the new key's signature of the rotation statement does
    not verify or the key is registered already.
    """
    statement = rotation_statement(device_id, signing_key_id, rotation.public_key)
    if not verify_bytes(rotation.public_key, rotation.possession, statement):
        raise ApiError(422, WireError.KEY_ROTATION_INVALID, "possession is not the new key's signature of the "
                                                            "rotation statement")
    kid = key_id(rotation.public_key)
    if session.get(DeviceKey, kid) is not None:
        raise ApiError(422, WireError.KEY_ROTATION_INVALID, "this key is registered already; generate a new one")
    now = utcnow()
    _retire_current(session, device_id, now)
    key = DeviceKey(key_id=kid, device_id=device_id, public_key=rotation.public_key, created_at=now, origin="rotation")
    session.add(key)
    log.info("device %s rotated to key %s", device_id, kid)
    return key


def _retire_current(session: Session, device_id: str, now: datetime) -> None:
    for key in session.scalars(select(DeviceKey).where(DeviceKey.device_id == device_id,
                                                       DeviceKey.retired_at.is_(None))):
        key.retired_at = now


def _aware(moment: datetime | None) -> datetime:
    """SQLite hands back naive datetimes; the centre stores UTC. None (no expiry) is the distant past."""
    if moment is None:
        return datetime.min.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
