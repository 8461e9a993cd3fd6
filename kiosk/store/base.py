"""What every part of the store shares: the database, the key, the clock, transactions and errors.

SQLite errors never leave the store as ``sqlite3`` exceptions: a full disk becomes
:class:`~kiosk.errors.StorageFullError`, anything else :class:`~kiosk.errors.StorageError`. A failed
write rolls its transaction back, so what was committed before stays intact.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any

from sqlite_utils import Database

from kiosk.clock import CHINA_STANDARD_TIME, Clock
from kiosk.errors import KeyUnavailableError, StorageError, StorageFullError
from kiosk.store.crypto import DeviceKey

log = logging.getLogger(__name__)

_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full" (also hit at PRAGMA max_page_count)


def utc_text(moment: datetime) -> str:
    """An aware datetime as sortable UTC text with microseconds. Raises ValueError for naive ones."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    """The inverse of :func:`utc_text` (an aware UTC datetime)."""
    return datetime.fromisoformat(text)


def local_day(moment: datetime) -> date:
    """The hall's calendar day (China Standard Time) of an aware datetime."""
    return moment.astimezone(CHINA_STANDARD_TIME).date()


def day_or_none(text: str | None) -> date | None:
    """``YYYY-MM-DD`` text (or NULL) from the database as a date."""
    return date.fromisoformat(text) if text else None


def translate(exc: sqlite3.Error, action: str) -> StorageError:
    """The kiosk error for a SQLite error raised while doing ``action`` (no personal data in it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == _SQLITE_FULL or "database or disk is full" in str(exc):
        return StorageFullError(f"{action}: the disk or database is full; nothing of this write was kept")
    # SQLite can quote a cell's content in a message ("... with text '...'"): cut it, it may be personal.
    text = str(exc).split(" with text", 1)[0][:160]
    return StorageError(f"{action}: {type(exc).__name__}: {text}")


class StoreBase:
    """Holds the connection and the shared helpers; see :class:`kiosk.store.Store` for the API.

    Thread rules: one ``Store`` per thread (a sqlite3 connection refuses other threads by default).
    Several processes may open the same file: WAL lets one write while others read, and a writer
    waits up to ``busy_timeout`` for another.
    """

    def __init__(self, db: Database, *, key: DeviceKey | None, clock: Clock) -> None:
        self._db = db
        self._key = key
        self._clock = clock

    @property
    def db(self) -> Database:
        """The underlying database (for tests and the doctor; application code uses the methods)."""
        return self._db

    @property
    def key_id(self) -> str | None:
        """Fingerprint of the device key in use, None when no key could be loaded."""
        return self._key.key_id if self._key is not None else None

    def _require_key(self) -> DeviceKey:
        if self._key is None:
            raise KeyUnavailableError("the device key is not available; biometric data cannot be read or written")
        return self._key

    def _now_text(self) -> str:
        return utc_text(self._clock.now())

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction around several calls (nested calls become savepoints).

        On any exception everything inside is rolled back and the exception propagates (SQLite
        errors translated as described in the module docstring). Yields the store.

        The outermost level is ``BEGIN IMMEDIATE``: it takes the write lock up front, waiting up to
        the busy timeout. A deferred ``BEGIN`` that reads and then writes fails at once with
        "database is locked" when another process (the sync client) committed in between, since
        SQLite cannot upgrade a stale read snapshot; no busy handler helps there.
        """
        conn = self._db.conn
        try:
            if conn.in_transaction:
                with self._db.atomic():  # a savepoint inside the caller's transaction
                    yield self
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:  # an error such as SQLITE_FULL may already have rolled back
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translate(exc, "write") from exc

    @contextmanager
    def _reading(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise translate(exc, action) from exc

    def _one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> tuple[Any, ...] | None:
        with self._reading("read"):
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reading("read"):
            return self._db.execute(sql, params).fetchall()
