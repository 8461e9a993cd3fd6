"""Request and record signatures of the sync protocol (docs/sync-protocol.yaml), bytes in, values out.

Two layers, both shared by the terminal (``kiosk/sync/``) and the reference centre (``center/``):

* **Request authentication**: every request carries ``X-Kiosk-Device``, ``X-Kiosk-Timestamp`` (Unix
  seconds), ``X-Kiosk-Nonce`` (32 hex digits) and ``X-Kiosk-Signature``, the HMAC-SHA256 with the
  device secret of :func:`canonical_request` (method, path with query, timestamp, nonce, SHA-256 of
  the body). The centre refuses a timestamp further than its window from its own clock (stale) and a
  nonce it has already seen within that window (replayed).
* **Record signatures**: each certification result is also signed with the terminal's Ed25519 key
  (generated on the terminal at enrolment; only the public half is sent). An HMAC with the shared
  secret could have been forged by the centre itself; an asymmetric signature lets the centre prove
  to a third party which terminal produced a record (non-repudiation).

Pure functions, no I/O, thread-safe. Nothing here logs; secrets and keys never appear in exceptions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wire.canonical import canonical_json

SCHEME = "KIOSK-HMAC-SHA256"
HEADER_DEVICE = "X-Kiosk-Device"
HEADER_TIMESTAMP = "X-Kiosk-Timestamp"
HEADER_NONCE = "X-Kiosk-Nonce"
HEADER_SIGNATURE = "X-Kiosk-Signature"
NONCE_HEX_DIGITS = 32
# Secrets are 32 random bytes, written as 64 hex digits; shorter ones are refused at enrolment so
# that a typo'd or truncated secret fails loudly rather than weakening the HMAC.
MIN_SECRET_HEX_DIGITS = 32


@dataclass(frozen=True)
class SignedHeaders:
    """The four authentication headers of one request."""

    device_id: str
    timestamp: int
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        """The headers as sent on the wire."""
        return {
            HEADER_DEVICE: self.device_id,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: self.signature,
        }


class HeadersInvalid(ValueError):
    """The authentication headers of a request are missing or malformed (the message names which,
    never their values)."""


def signed_headers_from(headers: Mapping[str, str]) -> SignedHeaders:
    """The four authentication headers of a received request (``headers`` looked up by name; an
    HTTP framework's case-insensitive mapping works). Raises :class:`HeadersInvalid` when one is
    absent, the timestamp is not an integer or the nonce is not :data:`NONCE_HEX_DIGITS` lower-case
    hex digits."""
    try:
        device_id = headers[HEADER_DEVICE]
        timestamp = int(headers[HEADER_TIMESTAMP])
        nonce = headers[HEADER_NONCE]
        signature = headers[HEADER_SIGNATURE]
    except (KeyError, ValueError):
        raise HeadersInvalid(f"every request needs {HEADER_DEVICE}, {HEADER_TIMESTAMP} (Unix seconds), "
                             f"{HEADER_NONCE} and {HEADER_SIGNATURE}") from None
    if len(nonce) != NONCE_HEX_DIGITS or any(c not in "0123456789abcdef" for c in nonce):
        raise HeadersInvalid(f"{HEADER_NONCE} must be {NONCE_HEX_DIGITS} lower-case hex digits")
    return SignedHeaders(device_id, timestamp, nonce, signature)


def is_fresh(timestamp: int, now_s: float, window_s: int) -> bool:
    """Whether a request timestamp (Unix seconds) is within ``window_s`` of the receiver's clock."""
    return abs(now_s - timestamp) <= window_s


def new_secret() -> str:
    """A fresh device secret: 32 random bytes as 64 lower-case hex digits."""
    return secrets.token_hex(32)


def new_nonce() -> str:
    """A fresh request nonce (128 random bits, 32 hex digits)."""
    return secrets.token_hex(NONCE_HEX_DIGITS // 2)


def body_digest(body: bytes) -> str:
    """SHA-256 of the request body as hex (the empty body has a digest too)."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes, device_id: str) -> bytes:
    """The exact bytes the request HMAC covers.

    ``path`` is the raw path including the query string as sent (``/v1/roster?cursor=5&limit=100``).
    The device id is covered too, so a signature cannot be moved to another device's header.
    """
    lines = [SCHEME, method.upper(), path, str(int(timestamp)), nonce, device_id, body_digest(body)]
    return "\n".join(lines).encode("utf-8")


def sign_request(secret: str, device_id: str, method: str, path: str, body: bytes, timestamp: int,
                 nonce: str | None = None) -> SignedHeaders:
    """Signs one request; ``timestamp`` is Unix seconds (already corrected for known clock skew)."""
    nonce = nonce or new_nonce()
    message = canonical_request(method, path, timestamp, nonce, body, device_id)
    signature = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SignedHeaders(device_id, int(timestamp), nonce, signature)


def verify_request(secret: str, headers: SignedHeaders, method: str, path: str, body: bytes) -> bool:
    """True when ``headers.signature`` is the HMAC of this request (constant-time comparison).

    Freshness (timestamp window) and replay (nonce seen) are checked by the caller, which owns
    the clock and the nonce store.
    """
    message = canonical_request(method, path, headers.timestamp, headers.nonce, body, headers.device_id)
    expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.signature)


# --- record signatures (Ed25519) -------------------------------------------------------------------

def canonical_record(record: Mapping[str, Any]) -> bytes:
    """The bytes a record signature covers: the record without ``signature``, as canonical JSON.

    Canonical: see :mod:`wire.canonical`.
    """
    return canonical_json({key: value for key, value in record.items() if key != "signature"})


def new_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 key for this terminal's record signatures."""
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte private key as base64 (for the 0600 credentials file only)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    return base64.b64encode(raw).decode("ascii")


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """Inverse of :func:`private_key_to_text`; raises ValueError on anything else."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 private key has 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key as base64 (sent to the centre at enrolment)."""
    from cryptography.hazmat.primitives import serialization

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key_b64: str) -> str:
    """A short stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(base64.b64decode(public_key_b64, validate=True)).hexdigest()[:16]


def sign_record(key: Ed25519PrivateKey, record: Mapping[str, Any]) -> str:
    """The Ed25519 signature (base64) of :func:`canonical_record` of ``record``."""
    return base64.b64encode(key.sign(canonical_record(record))).decode("ascii")


def verify_record(public_key_b64: str, record: Mapping[str, Any]) -> bool:
    """True when ``record["signature"]`` is a valid signature by this public key; never raises."""
    try:
        raw_key = base64.b64decode(public_key_b64, validate=True)
        signature = base64.b64decode(str(record.get("signature", "")), validate=True)
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, canonical_record(record))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
