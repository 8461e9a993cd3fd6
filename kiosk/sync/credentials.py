"""This terminal's credentials with the centre, kept in the data folder with mode 0600.

``sync/credentials.json`` holds the centre URL, the device id, the shared secret (request HMAC), the
Ed25519 private key that signs result records, its key id, and whether the centre has registered the
public key yet (enrolment may happen offline; the worker registers the key on first contact).

Written atomically (temporary file, fsync, rename) so a power cut never leaves half a file. Nothing
here is ever logged.
"""

from __future__ import annotations

import json
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.disk import replace_file_privately
from kiosk.errors import SyncError
from kiosk.reasons import SyncReason
from wire.api import DEVICE_ID_RULE, valid_device_id
from wire.signing import (MIN_SECRET_HEX_DIGITS, key_id, new_signing_key, private_key_from_text,
                                private_key_to_text, public_key_text)

CREDENTIALS_FILE = Path("sync") / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    """What the terminal needs to talk to the centre. ``repr`` hides the secrets."""

    center_url: str
    device_id: str
    secret: str
    private_key: str
    key_id: str
    key_registered: bool = False

    def __repr__(self) -> str:
        return f"Credentials(center_url={self.center_url!r}, device_id={self.device_id!r}, key_id={self.key_id!r})"

    def signing_key(self) -> Ed25519PrivateKey:
        """The record-signing key."""
        return private_key_from_text(self.private_key)

    def public_key(self) -> str:
        """The public half, base64 (sent at enrolment)."""
        return public_key_text(self.signing_key())


def credentials_path(data_dir: Path) -> Path:
    """Where the credentials live inside the data folder."""
    return data_dir / CREDENTIALS_FILE


def validate_center_url(url: str) -> str:
    """The base URL without a trailing slash; raises SyncError (``sync_url_invalid``) otherwise.

    Plain ``http`` is accepted only for loopback (tests, a centre on the same machine): face and
    decision data must never cross a network unencrypted.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SyncError(f"centre URL {url!r} is not an http(s) URL", code=SyncReason.URL_INVALID)
    if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SyncError("the centre must be reached over https (plain http only for 127.0.0.1)",
                        code=SyncReason.URL_INVALID)
    if parts.query or parts.fragment:
        raise SyncError("the centre URL takes no query or fragment", code=SyncReason.URL_INVALID)
    return url.strip().rstrip("/")


def new_credentials(center_url: str, device_id: str, secret: str) -> Credentials:
    """Fresh credentials with a newly generated record-signing key; validates every field."""
    url = validate_center_url(center_url)
    if not valid_device_id(device_id):
        raise SyncError(f"device id: {DEVICE_ID_RULE}", code=SyncReason.DEVICE_ID_INVALID)
    secret = secret.strip()
    if len(secret) < MIN_SECRET_HEX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in secret):
        raise SyncError(f"the secret is at least {MIN_SECRET_HEX_DIGITS} hex digits, as printed by "
                        "`kiosk-center device add`", code=SyncReason.SECRET_INVALID)
    key = new_signing_key()
    return Credentials(url, device_id, secret.lower(), private_key_to_text(key), key_id(public_key_text(key)))


def save_credentials(data_dir: Path, credentials: Credentials) -> Path:
    """Writes the credentials atomically with mode 0600 (folder 0700); returns the path."""
    path = credentials_path(data_dir)
    replace_file_privately(path, json.dumps(asdict(credentials), indent=1).encode("utf-8"))
    return path


def load_credentials(data_dir: Path) -> Credentials | None:
    """The stored credentials, None when the terminal is not enrolled.

    Raises SyncError (``sync_credentials_invalid``) when the file exists but is unreadable, damaged,
    or readable by others (a leaked secret lets anyone submit results as this terminal).
    """
    path = credentials_path(data_dir)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        raw = json.loads(path.read_text(encoding="utf-8"))
        credentials = Credentials(**raw)
        credentials.signing_key()
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise SyncError(f"credentials file {path} is damaged or unreadable ({type(exc).__name__}); "
                        "enrol the device again", code=SyncReason.CREDENTIALS_INVALID) from None
    if mode & 0o077:
        raise SyncError(f"credentials file {path} is readable by others (mode {mode:o}); "
                        "run `chmod 600` on it and consider a new secret", code=SyncReason.CREDENTIALS_INVALID)
    return credentials


def mark_key_registered(data_dir: Path, credentials: Credentials) -> Credentials:
    """Stores that the centre knows the public key; returns the updated credentials."""
    updated = replace(credentials, key_registered=True)
    save_credentials(data_dir, updated)
    return updated
