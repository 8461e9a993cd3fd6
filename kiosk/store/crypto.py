"""The device key that encrypts biometric data at rest (AES-256-GCM), kept outside the database.

GB/T 35273 and PIPL art. 28-30 treat face data as sensitive: templates and evidence images are
stored only as AES-GCM ciphertext. The key is a 32-byte file (mode 0600) outside ``kiosk.db``, so a
copied database alone reveals no face data. Each ciphertext is bound to its row by associated data
(the row id and owner), so a blob moved to another row or another person fails to open.

Losing the key makes the stored templates unreadable, not the kiosk unusable: decryption raises
:class:`~kiosk.errors.KeyUnavailableError` and the person must be enrolled again.

Thread rules: a :class:`DeviceKey` is immutable and may be shared between threads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.disk import fsync_folder
from kiosk.errors import KeyUnavailableError

log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per message (2^-32 collision bound is far off at kiosk volumes)
FORMAT_VERSION = b"\x01"  # first byte of every blob, so the format can change through a migration


@dataclass(frozen=True)
class DeviceKey:
    """A 256-bit AES-GCM key. ``key_id`` is a short public fingerprint (16 hex characters)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a device key is {KEY_BYTES} bytes")

    @property
    def key_id(self) -> str:
        """Fingerprint stored beside each ciphertext: tells which key sealed it without trying."""
        return hashlib.sha256(b"kiosk-device-key:" + self.secret).hexdigest()[:16]

    @classmethod
    def generate(cls) -> DeviceKey:
        """A new random key from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_BYTES))

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypts and authenticates ``plaintext``; the blob is version + nonce + ciphertext + tag."""
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_VERSION + nonce + AESGCM(self.secret).encrypt(nonce, plaintext, associated_data)

    def open(self, blob: bytes, associated_data: bytes) -> bytes:
        """Decrypts a blob made by :meth:`seal` with the same associated data.

        Raises :class:`KeyUnavailableError` when the blob was sealed with another key, was altered,
        or belongs to another row (all look the same to AES-GCM, by design).
        """
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_VERSION:
            raise KeyUnavailableError("encrypted biometric data has an unknown format")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return AESGCM(self.secret).decrypt(nonce, body, associated_data)
        except InvalidTag:
            raise KeyUnavailableError(
                "encrypted biometric data does not open with the device key (key replaced or data altered); "
                "re-enrol the affected references"
            ) from None


def load_key(path: Path) -> DeviceKey:
    """Reads the key file. Raises :class:`KeyUnavailableError` when it is missing, unreadable or malformed."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        raise KeyUnavailableError(f"device key file {path} does not exist") from None
    except OSError as exc:
        raise KeyUnavailableError(f"device key file {path} cannot be read: {exc.strerror}") from None
    if len(secret) != KEY_BYTES:
        raise KeyUnavailableError(f"device key file {path} is not a {KEY_BYTES}-byte key (damaged?)")
    return DeviceKey(secret)


def load_or_create_key(path: Path) -> DeviceKey:
    """The key at ``path``, created (mode 0600, parent folder 0700) when the file does not exist.

    An existing file is never overwritten, even when damaged: that could destroy the only copy of a
    key that a technician can still restore. Too-open permissions are tightened to 0600.
    Raises :class:`KeyUnavailableError` when an existing file cannot be used, or the key cannot be written.
    """
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = _publish_new_key(path)
            log.info("created a new device key %s", key.key_id)
            return key
        except FileExistsError:
            pass  # another process won the race: use its key
        except OSError as exc:
            raise KeyUnavailableError(f"device key file {path} cannot be created: {exc.strerror}") from None
    key = load_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o600)
            log.warning("device key file permissions were %o; tightened to 600", mode)
        except OSError:
            log.warning("device key file permissions are %o and cannot be tightened", mode)
    return key


def _publish_new_key(path: Path) -> DeviceKey:
    """Writes a new key to a private temporary file, then links it into place.

    ``link`` fails when the name exists, so of two processes starting at once exactly one key wins,
    and no reader ever sees a half-written file. Raises FileExistsError when another won.
    """
    key = DeviceKey.generate()
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.secret)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(path.parent)
    return key
