"""This terminal's credentials with the centre, kept in the data folder with mode 0600.

``sync/credentials.json`` holds the centre URL, the device id and the terminal's Ed25519 private key
(with its key id): the terminal's only long-term credential. It signs every request and every
result record; only its public half ever leaves the terminal. Until the centre has registered the
key, the file also holds the one-time enrolment code (enrolment may happen offline; the worker
makes first contact at the next sync and then forgets the code).

Files of the shared-secret era (with a ``secret``) are refused with a hint to enrol again with a
code: the centre no longer accepts anything they could sign.

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
from wire.signing import (key_id, new_signing_key, normalise_enrolment_code, private_key_from_text,
                          private_key_to_text, public_key_text)

CREDENTIALS_FILE = Path("sync") / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    """What the terminal needs to talk to the centre. ``repr`` hides the key and the code.

    ``enrolment_code``: set until the centre has registered the key (first contact), then empty.
    ``previous_private_key``: set only while a key rotation is under way (``kiosk rotate-key``): the
    key the centre still has until it takes the new one. A rotation cut short (power, network) is
    finished by running the command again.
    """

    center_url: str
    device_id: str
    private_key: str
    key_id: str
    enrolment_code: str = ""
    previous_private_key: str = ""

    def __repr__(self) -> str:
        return f"Credentials(center_url={self.center_url!r}, device_id={self.device_id!r}, key_id={self.key_id!r})"

    @property
    def key_registered(self) -> bool:
        """Whether the centre has registered the key (first contact done)."""
        return not self.enrolment_code

    def signing_key(self) -> Ed25519PrivateKey:
        """The terminal's key (requests and records)."""
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


def new_credentials(center_url: str, device_id: str, enrolment_code: str) -> Credentials:
    """Fresh credentials with a newly generated key pair, awaiting first contact; validates every field."""
    url = validate_center_url(center_url)
    if not valid_device_id(device_id):
        raise SyncError(f"device id: {DEVICE_ID_RULE}", code=SyncReason.DEVICE_ID_INVALID)
    try:
        code = normalise_enrolment_code(enrolment_code)
    except ValueError as exc:
        raise SyncError(str(exc), code=SyncReason.ENROLMENT_CODE_INVALID) from None
    key = new_signing_key()
    return Credentials(url, device_id, private_key_to_text(key), key_id(public_key_text(key)), code)


def rotated_credentials(credentials: Credentials) -> Credentials:
    """The same enrolment with a newly generated key pair, keeping the current one as the previous key
    until the centre has taken the new one (:func:`previous_credentials`)."""
    key = new_signing_key()
    return replace(credentials, private_key=private_key_to_text(key), key_id=key_id(public_key_text(key)),
                   previous_private_key=credentials.private_key)


def previous_credentials(credentials: Credentials) -> Credentials:
    """The credentials of the key a rotation under way replaces (the one the centre knows until then)."""
    previous = private_key_from_text(credentials.previous_private_key)
    return replace(credentials, private_key=credentials.previous_private_key,
                   key_id=key_id(public_key_text(previous)), previous_private_key="")


def save_credentials(data_dir: Path, credentials: Credentials) -> Path:
    """Writes the credentials atomically with mode 0600 (folder 0700); returns the path."""
    path = credentials_path(data_dir)
    replace_file_privately(path, json.dumps(asdict(credentials), indent=1).encode("utf-8"))
    return path


def load_credentials(data_dir: Path) -> Credentials | None:
    """The stored credentials, None when the terminal is not enrolled.

    Raises SyncError (``sync_credentials_invalid``) when the file exists but is unreadable, damaged,
    from the shared-secret era, or readable by others (a leaked key lets anyone submit results as
    this terminal).
    """
    path = credentials_path(data_dir)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        raw = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "secret" in raw:
            raise SyncError(f"credentials file {path} is from before enrolment codes (a shared secret); ask the "
                            "centre for a code (`kiosk-center device reenrol`) and enrol again with "
                            "`kiosk enroll-device --code`", code=SyncReason.CREDENTIALS_INVALID)
        credentials = Credentials(**raw)
        credentials.signing_key()
        if credentials.previous_private_key:
            private_key_from_text(credentials.previous_private_key)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise SyncError(f"credentials file {path} is damaged or unreadable ({type(exc).__name__}); "
                        "enrol the device again", code=SyncReason.CREDENTIALS_INVALID) from None
    if mode & 0o077:
        raise SyncError(f"credentials file {path} is readable by others (mode {mode:o}); "
                        "run `chmod 600` on it and consider a new key (`kiosk rotate-key`)", code=SyncReason.CREDENTIALS_INVALID)
    return credentials


def mark_key_registered(data_dir: Path, credentials: Credentials) -> Credentials:
    """Stores that the centre knows the public key (the enrolment code is forgotten); returns the
    updated credentials."""
    updated = replace(credentials, enrolment_code="")
    save_credentials(data_dir, updated)
    return updated
