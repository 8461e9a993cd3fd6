"""Request authentication at the centre: headers and signature first, the body only after them.

Order of checks (each refusal is an :class:`ApiError` with a stable code):
1. missing or malformed headers -> 401 ``auth_headers_missing``;
2. timestamp outside the window -> 401 ``auth_request_stale`` (the ``Date`` header of the answer lets
   the terminal measure its skew and retry); judged on the clock alone, so it says nothing about
   whether the device exists;
3. the signature over the headers does not verify with the device's current key, the key is not
   the device's, or the device does not exist -> 401 ``auth_signature_invalid``, one answer for all
   three so that a stranger cannot learn which device ids exist;
4. a disabled device (it proved it is that device) -> 403 ``auth_device_disabled``;
5. nonce already seen -> 401 ``auth_nonce_replayed``. The nonce is committed in its own transaction
   before the request does anything, so no later rollback can lose it (a replay must never succeed);
6. only now is the body read: capped (413 ``request_too_large``), within a time limit (408
   ``request_timeout``), a sender that goes away is a 400 ``request_incomplete`` logged in one line;
   and it must be the body the signed ``X-Kiosk-Content-SHA256`` promised (401
   ``auth_signature_invalid``).

Thread rules: :func:`authenticate` and :func:`read_body` run on the event loop; the database work runs
in the thread pool, each call with its own session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from center.db import Device, DeviceKey, Nonce
from wire.codes import WireError
from wire.signing import (HeadersInvalid, SignedHeaders, body_matches, is_fresh, public_key_text,
                          signed_headers_from, verify_request)

log = logging.getLogger(__name__)

# Nonces are purged at most this often (seconds): a DELETE per request would be wasted work.
PURGE_INTERVAL_S = 60.0
# Verified against when the device or key is unknown, so that answer takes as long as a wrong signature.
_NOBODY_KEY = public_key_text(Ed25519PrivateKey.from_private_bytes(bytes(32)))
_NOT_VERIFIED = "request signature does not verify (unknown device, a key that is not the device's current one, " \
                "or a wrong signature)"


class ApiError(Exception):
    """An error answer: HTTP status, stable code, and an English message without personal data."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the device, the key that signed it, and the body it promised."""

    device_id: str
    key_id: str
    body: bytes


class Authenticator:
    """Checks requests against the devices and keys in ``sessions``' database (see the module text)."""

    def __init__(self, sessions: sessionmaker[Session], *, window_s: int, max_body_bytes: int, body_timeout_s: float,
                 now: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._window_s = window_s
        self._max_body_bytes = max_body_bytes
        self._body_timeout_s = body_timeout_s
        self._now = now
        self._last_purge = 0.0

    async def authenticate(self, request: Request) -> Caller:
        """Steps 1-6 above; returns the caller with its body."""
        headers = self.fresh_headers(request)
        await run_in_threadpool(self._verify_and_spend_nonce, headers, request.method, request_path(request))
        body = await read_body(request, self._max_body_bytes, self._body_timeout_s)
        if not body_matches(headers, body):
            raise ApiError(401, WireError.SIGNATURE_INVALID, "the body is not the one the signed headers describe")
        return Caller(headers.device_id, headers.key_id, body)

    def fresh_headers(self, request: Request) -> SignedHeaders:
        """Steps 1 and 2: the well-formed headers of a request made now."""
        headers = signed_headers(request)
        current = self._now()
        if not is_fresh(headers.timestamp, current, self._window_s):
            raise ApiError(401, WireError.REQUEST_STALE,
                           f"request timestamp is {headers.timestamp - current:+.0f} s from the centre's clock "
                           f"(window ±{self._window_s} s); correct the clock or retry with the Date header's time")
        return headers

    def spend_nonce(self, session: Session, headers: SignedHeaders) -> None:
        """Step 5 in ``session``: commits the nonce now; raises 401 ``auth_nonce_replayed``."""
        current = self._now()
        if current - self._last_purge > PURGE_INTERVAL_S:
            self._last_purge = current
            session.execute(delete(Nonce).where(Nonce.seen_at < int(current) - 2 * self._window_s))
        session.add(Nonce(device_id=headers.device_id, nonce=headers.nonce, seen_at=int(current)))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise ApiError(401, WireError.NONCE_REPLAYED, "this request was already received (replayed nonce)") from None

    def _verify_and_spend_nonce(self, headers: SignedHeaders, method: str, path: str) -> None:
        with self._sessions() as session:
            key = session.get(DeviceKey, headers.key_id)
            current = key is not None and key.device_id == headers.device_id and key.retired_at is None
            verified = verify_request(key.public_key if current and key else _NOBODY_KEY, headers, method, path)
            if not (current and verified):
                raise ApiError(401, WireError.SIGNATURE_INVALID, _NOT_VERIFIED)
            device = session.get(Device, headers.device_id)
            if device is None or device.disabled:
                raise ApiError(403, WireError.DEVICE_DISABLED, "this device has been disabled at the centre")
            self.spend_nonce(session, headers)


def request_path(request: Request) -> str:
    """The path with its query string, as the terminal signed it."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def signed_headers(request: Request) -> SignedHeaders:
    """The authentication headers; raises 401 ``auth_headers_missing`` when one is absent or malformed."""
    try:
        return signed_headers_from(request.headers)
    except HeadersInvalid as exc:
        raise ApiError(401, WireError.HEADERS_MISSING, str(exc)) from None


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body: refused with 413 as soon as it exceeds ``limit`` bytes, 408 when it has not
    all arrived within ``timeout_s`` seconds, 400 ``request_incomplete`` when the sender went away."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, WireError.REQUEST_TOO_LARGE, f"request body larger than {limit} bytes")

    async def chunks() -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, WireError.REQUEST_TOO_LARGE, f"request body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    try:
        return await asyncio.wait_for(chunks(), timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        raise ApiError(408, WireError.REQUEST_TIMEOUT, f"the body did not arrive within {timeout_s:.0f} s") from None
    except ClientDisconnect:
        raise ApiError(400, WireError.REQUEST_INCOMPLETE, "the sender went away before the body arrived") from None
