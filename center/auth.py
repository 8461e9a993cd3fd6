"""Request authentication at the centre: size limit, HMAC, freshness window and nonce replay.

Order of checks (each refusal is an :class:`ApiError` with a stable code):
1. body larger than the limit -> 413 ``request_too_large`` (read in chunks, never buffered past it);
2. missing or malformed headers -> 401 ``auth_headers_missing``;
3. unknown / disabled device -> 401 / 403;
4. timestamp outside the window -> 401 ``auth_request_stale`` (the ``Date`` header of the answer lets
   the terminal measure its skew and retry);
5. wrong HMAC -> 401 ``auth_signature_invalid``;
6. nonce already seen -> 401 ``auth_nonce_replayed``. Nonces are only stored after the signature
   is verified, so strangers cannot fill the table.

Thread rules: :func:`read_body` runs on the event loop; :func:`authenticate` runs in a worker thread
with its own session.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from center.db import Device, Nonce
from wire.codes import WireError
from wire.signing import HeadersInvalid, SignedHeaders, is_fresh, signed_headers_from, verify_request


class ApiError(Exception):
    """An error answer: HTTP status, stable code, and an English message without personal data."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, WireError.REQUEST_TOO_LARGE, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, WireError.REQUEST_TOO_LARGE, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def signed_headers(request: Request) -> SignedHeaders:
    """The authentication headers; raises 401 ``auth_headers_missing`` when one is absent or malformed."""
    try:
        return signed_headers_from(request.headers)
    except HeadersInvalid as exc:
        raise ApiError(401, WireError.HEADERS_MISSING, str(exc)) from None


def authenticate(session: Session, request: Request, body: bytes, window_s: int,
                 now: Callable[[], float] = time.time) -> Device:
    """Checks steps 2-6 above and records the nonce (flushed; the caller commits); returns the device."""
    headers = signed_headers(request)
    device = session.get(Device, headers.device_id)
    if device is None:
        raise ApiError(401, WireError.DEVICE_UNKNOWN, "unknown device: enrol it with `kiosk-center device add`")
    if device.disabled:
        raise ApiError(403, WireError.DEVICE_DISABLED, "this device has been disabled at the centre")
    current = now()
    if not is_fresh(headers.timestamp, current, window_s):
        raise ApiError(401, WireError.REQUEST_STALE,
                       f"request timestamp is {headers.timestamp - current:+.0f} s from the centre's clock "
                       f"(window ±{window_s} s); correct the clock or retry with the Date header's time")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not verify_request(device.secret, headers, request.method, path, body):
        raise ApiError(401, WireError.SIGNATURE_INVALID, "request signature does not match (wrong secret?)")
    session.add(Nonce(device_id=device.device_id, nonce=headers.nonce, seen_at=int(current)))
    try:
        # Flushed, not committed: the route commits the nonce together with its own writes, one
        # fsync per request. A request that fails leaves no nonce, and had no effect to replay.
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ApiError(401, WireError.NONCE_REPLAYED, "this request was already received (replayed nonce)") from None
    return device


def purge_nonces(session: Session, window_s: int, now: Callable[[], float] = time.time) -> int:
    """Forgets nonces older than twice the window (a request that old is refused as stale anyway)."""
    result = session.execute(delete(Nonce).where(Nonce.seen_at < int(now()) - 2 * window_s))
    session.commit()
    return int(result.rowcount or 0)
