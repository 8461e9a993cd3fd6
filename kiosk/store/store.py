"""The one class the application, the sync client and the CLI use to reach local storage.

``Store(db, key=..., clock=...)`` wraps any ``sqlite_utils.Database`` (tests pass an in-memory one)
and applies the migrations; :meth:`Store.open` is the production path: a private data folder, a
WAL database with ``synchronous=FULL`` (a committed record survives a power cut), and the device
key. See ``docs/storage.md`` for the schema, the encryption and retention.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from kiosk.clock import CHINA_STANDARD_TIME, Clock
from kiosk.errors import KeyUnavailableError, StorageError
from kiosk.logsetup import ID_NUMBER_SHAPES
from kiosk.store import schema
from kiosk.store.base import utc_text
from kiosk.store.crypto import DeviceKey, load_or_create_key
from kiosk.store.opening import opening_lock
from kiosk.reasons import is_code
from kiosk.store.certifications import CertificationsMixin
from kiosk.store.pensioners import PensionersMixin
from kiosk.store.staff import StaffMixin

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

DB_FILE_NAME = "kiosk.db"
OPEN_LOCK_FILE_NAME = f"{DB_FILE_NAME}.lock"
OPEN_LOCK_TIMEOUT_S = 30.0  # opening holds the lock for milliseconds; a migration of a big file for seconds
BUSY_TIMEOUT_MS = 5000  # the sync client and the app may write at once; WAL serialises writers
_PERSONAL_KEYS = frozenset({"id_number", "name", "address", "photo", "image", "template", "embedding", "descriptor"})
# Any ID-number-shaped run, unbounded unlike the log filter's: a run inside a longer number is
# refused too.
_ID_LIKE = re.compile(ID_NUMBER_SHAPES)


class Store(PensionersMixin, CertificationsMixin, StaffMixin):
    """Local storage: roster, face references, records, outbox, audit log, meta, and the hall's
    staff (accounts, staff calls, review decisions: :mod:`kiosk.store.staff`).

    Thread rules: use a Store from the thread that created it; other threads or processes open
    their own on the same file. Every method raises StorageError (StorageFullError for a full
    disk) rather than a ``sqlite3`` exception; methods touching biometric data may raise
    KeyUnavailableError.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        key: DeviceKey | None = None,
        evidence_retention_days: int = 0,
        audit_retention_days: int = 365,
        send_face_images: bool = False,
        migrate: bool = True,
    ) -> None:
        super().__init__(db, key=key, clock=clock)
        if evidence_retention_days < 0 or audit_retention_days < 1:
            raise ValueError("evidence retention must be >= 0 days and audit retention >= 1 day")
        self.evidence_retention_days = evidence_retention_days
        self.audit_retention_days = audit_retention_days
        self.send_face_images = send_face_images
        with self._reading("open"):
            db.execute("PRAGMA foreign_keys = ON")
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if migrate:
            self.migrate()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        key_file: Path,
        clock: Clock,
        *,
        evidence_retention_days: int = 0,
        audit_retention_days: int = 365,
        send_face_images: bool = False,
    ) -> Store:
        """Opens (creating when needed) ``data_dir/kiosk.db`` and the device key at ``key_file``.

        A missing folder is created with mode 0700; an existing one keeps the mode its owner gave
        it (the doctor warns when it is open to others). The database file is created 0600 (SQLite
        gives its WAL and shared-memory files the same mode). A missing key file is created (0600);
        a key that cannot be read leaves the store usable without biometric data (logged, and the
        doctor reports it). Expired evidence and audit entries are purged.

        Safe against concurrent openers (the kiosk service and a technician's ``kiosk sync`` or
        ``kiosk roster import`` starting together, or several threads): creating the file, switching
        it to WAL and migrating happen under an exclusive ``flock`` on ``kiosk.db.lock`` beside it,
        because SQLite takes the lock for a journal-mode change without calling the busy handler,
        so a second opener would otherwise fail at once with "database is locked". The lock is held
        for milliseconds and released by the kernel if the process dies. Blocks up to
        ``OPEN_LOCK_TIMEOUT_S`` for it. Raises StorageError when the folder, the lock or the database
        cannot be opened.
        """
        _ensure_private_folder(data_dir)
        key: DeviceKey | None
        try:
            key = load_or_create_key(key_file)
        except KeyUnavailableError as exc:
            log.warning("device key unavailable (%s); biometric data disabled until it is restored", exc.code)
            key = None
        path = data_dir / DB_FILE_NAME
        with opening_lock(data_dir / OPEN_LOCK_FILE_NAME, OPEN_LOCK_TIMEOUT_S):
            try:
                _create_private_file(path)
                db = Database(path)
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.enable_wal()  # a no-op once the file is in WAL mode (the mode is kept in the file)
                db.execute("PRAGMA synchronous = FULL")  # per connection: a commit reaches the disk before it returns
            except Exception as exc:  # sqlite3.Error, OSError, sqlite_utils' TransactionError
                raise StorageError(f"database {path} cannot be opened: {exc}") from None
            try:
                store = cls(db, clock=clock, key=key, evidence_retention_days=evidence_retention_days,
                            audit_retention_days=audit_retention_days, send_face_images=send_face_images)
            except BaseException:
                db.close()
                raise
        try:
            store.purge_expired()  # retention holds even if nobody schedules the daily purge
        except StorageError as exc:
            log.warning("purge at open failed (%s); retried at the next open", exc.code)
        return store

    @classmethod
    def from_config(cls, config: KioskConfig, clock: Clock) -> Store:
        """:meth:`open` with the data folder, key file and retention from the configuration."""
        return cls.open(
            config.terminal.resolved_data_dir(),
            config.terminal.resolved_key_file(),
            clock,
            evidence_retention_days=config.storage.evidence_retention_days,
            audit_retention_days=config.storage.audit_retention_days,
            send_face_images=config.sync.send_face_images,
        )

    def close(self) -> None:
        """Closes the connection (the WAL is checkpointed by SQLite on the last close)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Applies pending migrations; returns their names. Refuses a database from a newer kiosk."""
        # One write transaction around check and apply: two processes starting at once (app and
        # sync client) must not both apply the same migration. So migrations must be transactional.
        with self.transaction():
            newer = schema.unknown_migrations(self._db)
            if newer:
                raise StorageError(f"the database has migrations this kiosk does not know ({', '.join(newer)}): "
                                   "it was written by a newer version", code="storage_schema_newer")
            applied = schema.migrate(self._db)
        if applied:
            log.info("applied migrations %s", ", ".join(applied))
        return applied

    def schema_version(self) -> int:
        """How many migrations the database has (compare with ``schema.SCHEMA_VERSION``)."""
        with self._reading("schema"):
            return schema.schema_version(self._db)

    def pending_migrations(self) -> list[str]:
        """Migrations not yet applied (empty after opening, unless opened with ``migrate=False``)."""
        with self._reading("schema"):
            return schema.pending_migrations(self._db)

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (text), None when unset."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Sets (or with None deletes) a meta value."""
        if not key or len(key) > 100:
            raise ValueError("meta keys are 1-100 characters")
        with self.transaction():
            if value is None:
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, str(value)))

    # -- audit log ----------------------------------------------------------------------------

    def audit(self, session_id: str | None, step: str, code: str, detail: dict[str, Any] | None = None) -> None:
        """Appends a session step to the audit log.

        ``step`` and ``code`` are snake_case codes; ``detail`` holds flat JSON scalars (numbers,
        short strings, booleans), never personal data: keys such as ``name`` or ``id_number`` and
        any ID-number-shaped string are refused with ValueError.
        """
        if not is_code(step) or not is_code(code):
            raise ValueError("step and code must be snake_case codes")
        text = None
        if detail:
            for name, value in detail.items():
                if name.lower() in _PERSONAL_KEYS:
                    raise ValueError(f"audit detail key {name!r} would hold personal data")
                if value is not None and not isinstance(value, (bool, int, float, str)):
                    raise ValueError("audit detail values must be numbers, short strings, booleans or None")
                if isinstance(value, str) and (len(value) > 200 or _ID_LIKE.search(value)):
                    raise ValueError("audit detail strings must be short and hold no ID number")
            text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with self.transaction():
            self._db.execute(
                "INSERT INTO audit_log (at, session_id, step, code, detail) VALUES (?, ?, ?, ?, ?)",
                (self._now_text(), session_id, step, code, text),
            )

    def match_models_for_day(self, day: date) -> dict[str, int]:
        """Face checks of one local calendar day by the model that decided ("sface", "dlib",
        "unknown"), from the audit log's ``match_model`` lines (for the technician page)."""
        start = datetime.combine(day, time.min, tzinfo=CHINA_STANDARD_TIME)
        rows = self._all(
            "SELECT code, count(*) FROM audit_log WHERE step = 'match_model' AND at >= ? AND at < ? GROUP BY code",
            (utc_text(start), utc_text(start + timedelta(days=1))),
        )
        return {code: int(count) for code, count in sorted(rows)}

    def audit_entries(self, session_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest audit entries (of one session when given), oldest first."""
        where, params = ("WHERE session_id = ?", [session_id]) if session_id else ("", [])
        rows = self._all(
            f"SELECT at, session_id, step, code, detail FROM audit_log {where} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [{"at": r[0], "session_id": r[1], "step": r[2], "code": r[3],
                 "detail": json.loads(r[4]) if r[4] else None} for r in reversed(rows)]

    # -- retention ----------------------------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        """Deletes evidence images and audit entries older than their retention; returns counts.

        Evidence older than ``evidence_retention_days`` goes (all of it with 0), except, when face
        images are sent, images whose record still waits in the outbox. Call it daily and at start.
        """
        now = now or self._clock.now()
        evidence_cutoff = utc_text(now - timedelta(days=self.evidence_retention_days))
        audit_cutoff = utc_text(now - timedelta(days=self.audit_retention_days))
        keep_pending = (
            " AND record_id NOT IN (SELECT record_id FROM outbox WHERE state = 'pending')"
            if self.send_face_images else ""
        )
        with self.transaction():
            evidence = self._db.execute(
                f"DELETE FROM evidence WHERE created_at <= ?{keep_pending}", (evidence_cutoff,)).rowcount
            audit = self._db.execute("DELETE FROM audit_log WHERE at < ?", (audit_cutoff,)).rowcount
        if evidence or audit:
            log.info("purged %d evidence images and %d audit entries", evidence, audit)
        return {"evidence": evidence, "audit_log": audit}


def _ensure_private_folder(data_dir: Path) -> None:
    """Creates a missing data folder 0700 (parents too); leaves an existing folder's mode alone.

    Changing the mode of a folder the kiosk did not create could lock its owner out, or break a
    service sharing it; a too-open folder is the doctor's to report, not ours to change.
    """
    if data_dir.is_dir():
        return
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the umask can only narrow 0700
    except OSError as exc:
        raise StorageError(f"data folder {data_dir} cannot be created: {exc.strerror}") from None


def _create_private_file(path: Path) -> None:
    """Creates an empty ``path`` with mode 0600 unless it exists (whatever the umask)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
