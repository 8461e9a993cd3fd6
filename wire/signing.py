"""Request and record signatures of the sync protocol (docs/sync-protocol.yaml), bytes in, values out.

One credential, two uses, both shared by the terminal (``kiosk/sync/``) and the reference centre
(``center/``): the terminal's Ed25519 key pair, generated on the terminal at enrolment (only the
public half ever leaves it).

* **Request signatures**: every request carries ``X-Kiosk-Device``, ``X-Kiosk-Key`` (the key id),
  ``X-Kiosk-Timestamp`` (Unix seconds), ``X-Kiosk-Nonce`` (32 hex digits),
  ``X-Kiosk-Content-SHA256`` (of the body) and ``X-Kiosk-Signature``, the Ed25519 signature of
  :func:`canonical_request`. Because the body's digest is a header, the centre verifies the
  signature before it reads a byte of the body, and a stranger can make it read nothing.
* **Record signatures**: each certification result is signed with the same key, so the centre can
  prove to a third party which terminal produced a record (non-repudiation).

Why signatures and not an HMAC: a shared secret sits at the centre too, and whoever reads the
centre's database could then act as any terminal. With Ed25519 the centre stores public keys only,
and nothing it holds lets anyone sign. Why request signatures and not mutual TLS: a province
terminates TLS at its load balancer or gateway, so a client certificate would not reach the
application (or would arrive as a header anyone behind the gateway could set); a signature covers
the method, path, time, nonce and body end to end through any proxy, needs no CA, certificate
expiry or revocation list on thousands of mostly-offline terminals, and is the same key that signs
the records. TLS still protects confidentiality and authenticates the centre.

Enrolment codes (:func:`new_enrolment_code`) are one-time, expiring, and kept by the centre only as
a hash (:func:`enrolment_code_hash`).

Pure functions, no I/O, thread-safe. Nothing here logs; keys and codes never appear in exceptions.
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

SCHEME = "KIOSK-ED25519"
HEADER_DEVICE = "X-Kiosk-Device"
HEADER_KEY = "X-Kiosk-Key"
HEADER_TIMESTAMP = "X-Kiosk-Timestamp"
HEADER_NONCE = "X-Kiosk-Nonce"
HEADER_CONTENT = "X-Kiosk-Content-SHA256"
HEADER_SIGNATURE = "X-Kiosk-Signature"
NONCE_HEX_DIGITS = 32
KEY_ID_HEX_DIGITS = 16
# Enrolment codes: 16 characters of Crockford's base32 (no I, L, O, U: nothing to misread when a code
# is read out over the phone), 80 random bits, shown in groups of four.
ENROLMENT_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENROLMENT_CODE_CHARS = 16
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class SignedHeaders:
    """The six authentication headers of one request."""

    device_id: str
    key_id: str
    timestamp: int
    nonce: str
    content_sha256: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        """The headers as sent on the wire."""
        return {
            HEADER_DEVICE: self.device_id,
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: str(self.timestamp),
            HEADER_NONCE: self.nonce,
            HEADER_CONTENT: self.content_sha256,
            HEADER_SIGNATURE: self.signature,
        }


class HeadersInvalid(ValueError):
    """The authentication headers of a request are missing or malformed (the message names which,
    never their values)."""


def signed_headers_from(headers: Mapping[str, str]) -> SignedHeaders:
    """The authentication headers of a received request (``headers`` looked up by name; an HTTP
    framework's case-insensitive mapping works). Raises :class:`HeadersInvalid` when one is absent,
    the timestamp is not an integer, or the nonce, key id or content digest is not lower-case hex of
    its length. The device id is not judged here (the caller answers an unknown one like a bad
    signature)."""
    try:
        device_id = headers[HEADER_DEVICE]
        key = headers[HEADER_KEY]
        timestamp = int(headers[HEADER_TIMESTAMP])
        nonce = headers[HEADER_NONCE]
        content = headers[HEADER_CONTENT]
        signature = headers[HEADER_SIGNATURE]
    except (KeyError, ValueError):
        raise HeadersInvalid(f"every request needs {HEADER_DEVICE}, {HEADER_KEY}, {HEADER_TIMESTAMP} (Unix seconds), "
                             f"{HEADER_NONCE}, {HEADER_CONTENT} and {HEADER_SIGNATURE}") from None
    for name, value, digits in ((HEADER_NONCE, nonce, NONCE_HEX_DIGITS), (HEADER_KEY, key, KEY_ID_HEX_DIGITS),
                                (HEADER_CONTENT, content, 64)):
        if len(value) != digits or not set(value) <= _HEX:
            raise HeadersInvalid(f"{name} must be {digits} lower-case hex digits")
    if not 1 <= len(signature) <= 100:
        raise HeadersInvalid(f"{HEADER_SIGNATURE} must be a base64 Ed25519 signature")
    return SignedHeaders(device_id, key, timestamp, nonce, content, signature)


def is_fresh(timestamp: int, now_s: float, window_s: int) -> bool:
    """Whether a request timestamp (Unix seconds) is within ``window_s`` of the receiver's clock."""
    return abs(now_s - timestamp) <= window_s


def new_nonce() -> str:
    """A fresh request nonce (128 random bits, 32 hex digits)."""
    return secrets.token_hex(NONCE_HEX_DIGITS // 2)


def body_digest(body: bytes) -> str:
    """SHA-256 of the request body as hex (the empty body has a digest too)."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, timestamp: int, nonce: str, device_id: str, key_id: str,
                      content_sha256: str) -> bytes:
    """The exact bytes a request signature covers.

    ``path`` is the raw path including the query string as sent (``/v1/roster?cursor=5&limit=100``).
    The device id and key id are covered too, so a signature cannot be moved to another device.
    """
    lines = [SCHEME, method.upper(), path, str(int(timestamp)), nonce, device_id, key_id, content_sha256]
    return "\n".join(lines).encode("utf-8")


def sign_request(key: Ed25519PrivateKey, device_id: str, method: str, path: str, body: bytes, timestamp: int,
                 nonce: str | None = None) -> SignedHeaders:
    """Signs one request with the terminal's key; ``timestamp`` is Unix seconds (already corrected
    for known clock skew)."""
    nonce = nonce or new_nonce()
    kid = key_id(public_key_text(key))
    content = body_digest(body)
    message = canonical_request(method, path, timestamp, nonce, device_id, kid, content)
    signature = base64.b64encode(key.sign(message)).decode("ascii")
    return SignedHeaders(device_id, kid, int(timestamp), nonce, content, signature)


def verify_request(public_key_b64: str, headers: SignedHeaders, method: str, path: str) -> bool:
    """True when ``headers.signature`` is the key's signature of this request's headers; never raises.

    The body is not needed: its digest is a signed header, which the caller compares with the body
    it then reads (:func:`body_matches`). Freshness and replay are checked by the caller, which owns
    the clock and the nonce store.
    """
    message = canonical_request(method, path, headers.timestamp, headers.nonce, headers.device_id, headers.key_id,
                                headers.content_sha256)
    return _verify(public_key_b64, headers.signature, message)


def body_matches(headers: SignedHeaders, body: bytes) -> bool:
    """Whether ``body`` is the body the signed headers promised (constant-time comparison)."""
    return hmac.compare_digest(body_digest(body), headers.content_sha256)


# --- enrolment codes and key rotation -----------------------------------------------------------

def new_enrolment_code() -> str:
    """A fresh one-time enrolment code, ``XXXX-XXXX-XXXX-XXXX`` (80 random bits)."""
    raw = "".join(secrets.choice(ENROLMENT_CODE_ALPHABET) for _ in range(ENROLMENT_CODE_CHARS))
    return "-".join(raw[index:index + 4] for index in range(0, ENROLMENT_CODE_CHARS, 4))


def normalise_enrolment_code(code: str) -> str:
    """The code as the centre hashes it: upper case, without spaces and hyphens, with the letters
    people mistype for digits folded (O -> 0, I and L -> 1). Raises ValueError when it is not
    :data:`ENROLMENT_CODE_CHARS` characters of the alphabet then."""
    folded = code.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    if len(folded) != ENROLMENT_CODE_CHARS or not set(folded) <= set(ENROLMENT_CODE_ALPHABET):
        raise ValueError(f"an enrolment code is {ENROLMENT_CODE_CHARS} letters and digits, as printed by "
                         "`kiosk-center device add`")
    return folded


def enrolment_code_hash(code: str) -> str:
    """What the centre stores of a code: SHA-256 (hex) of its normalised form. 80 random bits need
    no slow hash: nobody can search them, and the code dies at first use or expiry anyway.
    Raises ValueError as :func:`normalise_enrolment_code`."""
    return hashlib.sha256(b"kiosk-enrolment-code:" + normalise_enrolment_code(code).encode("ascii")).hexdigest()


def rotation_statement(device_id: str, previous_key_id: str, new_public_key_b64: str) -> bytes:
    """What the new key signs when a terminal rotates its key (proof it holds the new private key;
    the request itself is signed with the previous key)."""
    return "\n".join(["KIOSK-KEY-ROTATION", device_id, previous_key_id, new_public_key_b64]).encode("utf-8")


def sign_bytes(key: Ed25519PrivateKey, message: bytes) -> str:
    """The Ed25519 signature (base64) of ``message``."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def verify_bytes(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    """True when ``signature_b64`` is the key's signature of ``message``; never raises."""
    return _verify(public_key_b64, signature_b64, message)


def _verify(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        raw_key = base64.b64decode(public_key_b64, validate=True)
        signature = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


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
    return _verify(public_key_b64, str(record.get("signature", "")), canonical_record(record))
