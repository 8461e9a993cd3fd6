"""Staff accounts of the hall console: who may sign in, with which role, and how a PIN is checked.

Roles: ``hall_staff`` sees its own hall (terminals, staff calls, today's figures; ID numbers masked),
``reviewer`` sees the review queue and decides requests (and every hall's overview), ``admin`` sees
everything. A PIN (or password) of 6-64 characters is stored only as scrypt (n=2^14, r=8, p=1, a
16-byte salt; about 50 ms a check, so guessing is slow), and five wrong PINs in a row lock the account
for five minutes.

Thread rules: functions take a session owned by the calling thread; the caller commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy.orm import Session

from center.db import ConsoleUser, utcnow


class Role(StrEnum):
    """What a console user may see and do."""

    HALL_STAFF = "hall_staff"
    REVIEWER = "reviewer"
    ADMIN = "admin"


MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=5)
STAFF_NUMBER_RULE = "1-32 ASCII letters, digits, '-' or '_'"
_STAFF_NUMBER = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AccountError(ValueError):
    """An account that cannot be made as asked (message names the rule)."""


def valid_staff_number(staff_number: str) -> bool:
    """Whether ``staff_number`` follows :data:`STAFF_NUMBER_RULE`."""
    return bool(_STAFF_NUMBER.match(staff_number))


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$digest`` (base64) of a PIN or password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "$".join(["scrypt", str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"]),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def secret_matches(stored: str, secret: str) -> bool:
    """Whether ``secret`` is the one ``stored`` was made from; False for a damaged hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(secret.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def add_user(session: Session, staff_number: str, name: str, role: Role | str, secret: str,
             hall: str | None = None) -> ConsoleUser:
    """A new account (flushed). Raises :class:`AccountError` for a bad field or an existing number."""
    if not valid_staff_number(staff_number):
        raise AccountError(f"staff number: {STAFF_NUMBER_RULE}")
    if not 1 <= len(name.strip()) <= 80:
        raise AccountError("name: 1-80 characters")
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"role: one of {', '.join(Role)}") from None
    if role is Role.HALL_STAFF and not hall:
        raise AccountError("hall staff need --hall (the hall they look after)")
    if not 6 <= len(secret) <= 64:
        raise AccountError("PIN or password: 6-64 characters")
    if session.get(ConsoleUser, staff_number) is not None:
        raise AccountError(f"staff number {staff_number} already has an account")
    user = ConsoleUser(staff_number=staff_number, name=name.strip(), role=str(role), hall=hall or None,
                       secret_hash=hash_secret(secret))
    session.add(user)
    session.flush()
    return user


def check_sign_in(session: Session, staff_number: str, secret: str, *, now: datetime | None = None) -> ConsoleUser | None:
    """The user when the PIN is right and the account usable; counts failures and locks (flushes).

    The same None for an unknown number, a wrong PIN, a disabled or a locked account: the sign-in page
    says no more than "wrong staff number or PIN, or locked".
    """
    now = now or utcnow()
    user = session.get(ConsoleUser, staff_number) if valid_staff_number(staff_number) else None
    if user is None:
        hash_secret(secret)  # the same time as a real check: unknown numbers are not told apart
        return None
    locked_until = user.locked_until
    if locked_until is not None and (locked_until if locked_until.tzinfo else locked_until.replace(tzinfo=timezone.utc)) > now:
        return None
    if user.disabled or not secret_matches(user.secret_hash, secret):
        user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
        if user.failed_sign_ins >= MAX_FAILED_SIGN_INS:
            user.locked_until, user.failed_sign_ins = now + LOCKOUT, 0
        session.flush()
        return None
    user.failed_sign_ins, user.locked_until = 0, None
    session.flush()
    return user


def mask_id_number(id_number: str | None) -> str:
    """An ID number as hall staff see it: the first 6 and last 4 characters (``110101********001X``)."""
    if not id_number:
        return "—"
    if len(id_number) <= 10:
        return id_number[:2] + "*" * (len(id_number) - 2)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
