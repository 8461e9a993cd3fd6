"""The centre's database: tables, engine and session factory (SQLAlchemy 2 ORM).

SQLite (a file path or ``sqlite:///...``) is the default; a ``postgresql+psycopg://`` URL is for
production (psycopg is locked with the project's packages). A SQLite file is created with mode 0600
(and an existing one tightened to it): it holds personal data. Nothing in the database lets anyone
act as a terminal: devices have public keys and the hash of a one-time enrolment code, never a
secret.

Roster rows carry a monotonically increasing ``seq``; a terminal's cursor is the highest ``seq`` it has
applied, so a delta is "every row with a larger seq", removals included as tombstones.

The schema is managed by Alembic (:mod:`center.schema`, revisions in ``center/migrations``): a model
changed here needs a revision there (``tests/test_center_migrations.py`` compares the two).

Thread rules: the engine is shared; a :class:`Session` belongs to one thread (one request).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String,
                        create_engine, event, func, select, text)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from center.schema import upgrade


def utcnow() -> datetime:
    """The centre's current time (UTC, aware)."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the centre's tables."""


class Device(Base):
    """A terminal the centre knows. Until its first contact it has an enrolment code (as a hash,
    with an expiry); after it, a registered public key (:class:`DeviceKey`) and no code."""

    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enrolment_code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_health: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The hall (大厅) the terminal stands in: the console groups terminals and staff calls by it.
    hall: Mapped[str | None] = mapped_column(String(80), nullable=True, default=None)


class DeviceKey(Base):
    """A public key of a terminal. At most one per device is current (``retired_at`` None); retired
    keys are kept to verify old records and to tell when each key was the device's (the audit).

    ``origin``: ``enrolment_code`` (registered with a one-time code), ``rotation`` (signed by the
    previous key) or ``legacy_hmac`` (registered under the old shared-secret scheme: never trusted
    for requests again, kept only to verify records received then).
    """

    __tablename__ = "device_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    origin: Mapped[str] = mapped_column(String(20), default="enrolment_code")


class Nonce(Base):
    """A request nonce seen recently (kept for twice the skew window, then purged)."""

    __tablename__ = "nonces"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[int] = mapped_column(Integer, index=True)  # Unix seconds


class Pensioner(Base):
    """One roster row; ``removed`` rows are tombstones so that terminals learn of removals."""

    __tablename__ = "pensioners"
    id_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    region_code: Mapped[str] = mapped_column(String(6))
    last_certified: Mapped[date | None] = mapped_column(Date, nullable=True)
    templates: Mapped[list] = mapped_column(JSON, default=list)
    template_source: Mapped[str] = mapped_column(String(32), default="")
    # SHA-256 (hex) of the roster photo the templates were built from: a photo is encoded again only
    # when its content changes (a corrected photo keeps its file name). None: no photo template.
    photo_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The latest review decision on this person (sent with the row in roster deltas); None: none yet.
    review_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True, default=None)
    seq: Mapped[int] = mapped_column(Integer, index=True, unique=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Certification(Base):
    """A result record received from a terminal, exactly as signed (``record`` holds the JSON)."""

    __tablename__ = "certifications"
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(40))
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    content_digest: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict] = mapped_column(JSON)
    face_image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The terminal's tamper-evident trail (wire.result_record.chain_hash): the record's number, the
    # link hash of the record before it as the terminal stated it, and its own link hash as received.
    # Not unique: two records with one number are evidence too (the audit lists them).
    chain_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_certifications_device_chain", "device_id", "chain_seq"),)


class StaffCall(Base):
    """A terminal's call for staff and its answer: who acknowledged it, when, and where from."""

    __tablename__ = "staff_calls"
    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    hall: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)  # the device's hall then
    screen: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the terminal's clock
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # staff number; None: anonymous
    acknowledged_via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "console" | "terminal"


class ReviewDecisionRow(Base):
    """A reviewer's decision on a ``manual_review_requested`` record, as signed by the centre."""

    __tablename__ = "review_decisions"
    record_id: Mapped[str] = mapped_column(ForeignKey("certifications.record_id"), primary_key=True)
    id_number: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(32))  # staff number
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    signature: Mapped[str] = mapped_column(String(200))


class ConsoleUser(Base):
    """A member of staff who may sign in to the hall console. ``secret_hash``: scrypt of the PIN."""

    __tablename__ = "console_users"
    staff_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))
    hall: Mapped[str | None] = mapped_column(String(80), nullable=True)  # hall_staff: the hall they look after
    secret_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsoleSession(Base):
    """A signed-in console session; the cookie carries the token, the table only its SHA-256."""

    __tablename__ = "console_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_number: Mapped[str] = mapped_column(ForeignKey("console_users.staff_number"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def database_url(db: str) -> str:
    """``--db`` as an SQLAlchemy URL: a plain path becomes ``sqlite:///ABSOLUTE``; URLs pass through.

    Raises ValueError for a URL of a database the centre does not support.
    """
    if "://" not in db:
        return f"sqlite:///{Path(db).expanduser().resolve()}"
    url = make_url(db)
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ValueError(f"unsupported database {url.get_backend_name()!r}: use a file path, sqlite:/// or postgresql://")
    return db


# How long a new connection keeps asking for WAL while another holds the file (seconds): the same
# as the busy timeout every other statement gets.
_WAL_WAIT_S = 30.0


def _switch_to_wal(cursor) -> None:  # type: ignore[no-untyped-def]
    """``PRAGMA journal_mode=WAL``, retried while the database is locked.

    SQLite takes the lock for a journal-mode change without calling the busy handler, so workers
    opening a new database together (`serve --workers N`) failed at once with "database is locked"
    while one of them created the tables. Raises sqlite3.OperationalError for any other failure, or
    when the lock is still held after :data:`_WAL_WAIT_S`.
    """
    deadline = time.monotonic() + _WAL_WAIT_S
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def make_engine(db: str, *, migrate: bool = True) -> Engine:
    """An engine for ``db`` (path or URL), its schema upgraded to the newest migration (:mod:`center.schema`)
    unless ``migrate`` is false (``kiosk-center db upgrade`` runs the upgrade itself to report it).

    Raises ValueError when the database cannot be opened or upgraded (one line, never the URL).

    SQLite gets WAL, ``synchronous=FULL`` (a received result must survive a power cut before the
    terminal is told "accepted") and a busy timeout so that request threads queue instead of failing.
    """
    url = database_url(db)
    if url.startswith("sqlite"):
        _private_file(make_url(url).database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # pysqlite's own BEGIN handling would defer the write lock; take it explicitly below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
            # Every transaction takes the write lock up front: roster seq numbers are then handed out
            # in commit order, which is what makes a cursor safe to resume from.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            raise ValueError(f"the database driver for {make_url(url).drivername} is not installed ({exc.name}); "
                             "for PostgreSQL install psycopg (`pip install 'psycopg[binary]'`)") from None
    if migrate:
        upgrade_schema(engine)
    return engine


def upgrade_schema(engine: Engine) -> tuple[str | None, str]:
    """:func:`center.schema.upgrade` with a database that cannot be opened as one-line ValueError."""
    try:
        return upgrade(engine)
    except DBAPIError as exc:
        # The driver's own text (host, port, reason), never the URL: it may hold a password.
        raise ValueError(f"cannot open the database: {str(exc.orig).strip().splitlines()[0][:200]}") from None


def _private_file(path: str | None) -> None:
    """Creates a missing SQLite file with mode 0600, and tightens an existing one and its WAL files to
    it (SQLite gives its -wal and -shm files the database file's mode).

    An existing file is never opened here: closing any descriptor of a database file drops every
    POSIX lock this process holds on it, including those of open SQLite connections (SQLite's
    documented pitfall), which corrupts their view of the WAL. Only ``chmod`` by path touches it.
    """
    if not path or path == ":memory:":
        return
    import os  # noqa: PLC0415 - only file databases need it

    # See sqlite.org/howtocorrupt.html 2.2. O_EXCL creates a missing file and fails, without
    # opening it, on an existing one.
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (responses are built after committing)."""
    return sessionmaker(engine, expire_on_commit=False)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (responses are built after committing)."""
    return sessionmaker(engine, expire_on_commit=False)


def next_seq(session: Session) -> int:
    """The next roster sequence number (call inside the writing transaction).

    Sequence numbers must be handed out in commit order, or a terminal could move its cursor past a
    row committed later with a smaller number. SQLite gets that from ``BEGIN IMMEDIATE``; on
    PostgreSQL the roster table is locked against other writers (readers are not blocked).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE pensioners IN SHARE ROW EXCLUSIVE MODE"))
    return int(session.scalar(select(func.coalesce(func.max(Pensioner.seq), 0))) or 0) + 1


__all__ = ["Base", "Certification", "ConsoleSession", "ConsoleUser", "Device", "DeviceKey", "Nonce", "Pensioner",
           "ReviewDecisionRow", "StaffCall", "database_url", "make_engine", "next_seq", "upgrade_schema",
           "session_factory", "utcnow"]
