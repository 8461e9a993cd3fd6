"""Console sign-in sessions: a signed, HttpOnly, SameSite=Strict cookie and a CSRF token per session.

The cookie holds a random token and its HMAC-SHA256 under a secret derived from the centre's key
(:func:`center.center_key.cookie_secret`); the database keeps only the token's SHA-256, the staff
number, the session's CSRF token and its expiry, so signing out or disabling an account ends it at
once. Every POST form carries the CSRF token; the sign-in form, before there is a session, carries
the value of a short-lived signed ``kc_login`` cookie instead (double submit).

Thread rules: functions take a session owned by the calling thread; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.orm import Session

from center.db import ConsoleSession, ConsoleUser

SESSION_COOKIE = "kc_session"
LOGIN_COOKIE = "kc_login"
SESSION_LIFETIME = timedelta(hours=10)  # a working day; then sign in again
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class SignedIn:
    """The user behind a request and the CSRF token its forms must carry."""

    user: ConsoleUser
    csrf_token: str


def sign(secret: bytes, value: str) -> str:
    """``value.mac`` for a cookie."""
    return f"{value}.{hmac.new(secret, value.encode('ascii'), hashlib.sha256).hexdigest()}"


def unsign(secret: bytes, cookie: str | None) -> str | None:
    """The value of a cookie made by :func:`sign`, or None when absent or forged."""
    if not cookie or "." not in cookie:
        return None
    value, mac = cookie.rsplit(".", 1)
    try:
        # Bytes on both sides: compare_digest raises TypeError on a str with non-ASCII characters, and
        # a forged cookie may carry any (the server reads the header as Latin-1).
        given = mac.encode("ascii")
        expected = hmac.new(secret, value.encode("ascii"), hashlib.sha256).hexdigest().encode("ascii")
    except UnicodeEncodeError:
        return None
    return value if hmac.compare_digest(given, expected) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start(session: Session, user: ConsoleUser, now: datetime) -> str:
    """A new session for ``user``; returns the token (to be signed into the cookie). Flushes."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(token_sha256=_digest(token), staff_number=user.staff_number,
                               csrf_token=secrets.token_urlsafe(24), created_at=now, expires_at=now + SESSION_LIFETIME))
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    session.flush()
    return token


def current(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    """The signed-in user of ``token`` (from a verified cookie), or None: unknown, expired or disabled."""
    if not token:
        return None
    row = session.get(ConsoleSession, _digest(token))
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    user = session.get(ConsoleUser, row.staff_number)
    if expires <= now or user is None or user.disabled:
        return None
    return SignedIn(user=user, csrf_token=row.csrf_token)


def end(session: Session, token: str | None) -> None:
    """Forgets the session of ``token`` (sign-out). Flushes."""
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_sha256 == _digest(token)))
        session.flush()


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a form's token is the session's."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
