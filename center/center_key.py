"""The centre's own Ed25519 key: it signs review decisions that travel back to the terminals.

Generated on first use and kept beside the database (``<database file>.center-key``, mode 0600,
appearing whole through a hard link, so two processes starting at once share one key); for a database given
as a server URL the file is ``KIOSK_CENTER_KEY_FILE`` or ``center.center-key`` in the current folder.
The same key, through a derived sub-key, signs the hall console's session cookies.

Thread rules: load once at start-up; the key object is immutable and thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from center.db import database_url
from wire.signing import new_signing_key, private_key_from_text, private_key_to_text

KEY_SUFFIX = ".center-key"


class CenterKeyError(ValueError):
    """The key file is unreadable, damaged, or readable by others (refused rather than trusted)."""


def key_path_for(db: str) -> Path:
    """Where the key of database ``db`` (path or URL) lives."""
    url = make_url(database_url(db))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database + KEY_SUFFIX)
    return Path(os.environ.get("KIOSK_CENTER_KEY_FILE", "center" + KEY_SUFFIX)).resolve()


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``, made (mode 0600) when the file does not exist yet.

    The file appears whole or not at all: the key is written and synced to a private temporary file
    beside it, which is then hard-linked to ``path`` (the link fails if another process got there
    first; that process's key is read and used). Creating ``path`` itself first would let a
    worker starting a moment later read it empty and refuse to start.

    Raises :class:`CenterKeyError` when the file exists but is readable by group or others, or does
    not hold a key.
    """
    if path.exists():
        return _read(path)
    key = new_signing_key()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(private_key_to_text(key) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return _read(path)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _read(path: Path) -> Ed25519PrivateKey:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CenterKeyError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    try:
        return private_key_from_text(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise CenterKeyError(f"{path} does not hold the centre's key (damaged?); restore it from backup") from None


def cookie_secret(key: Ed25519PrivateKey) -> bytes:
    """A 32-byte secret for signing console cookies, derived from the centre's key (never the key itself)."""
    return hashlib.sha256(b"kiosk-center console cookie\x00" + private_key_to_text(key).encode("ascii")).digest()
