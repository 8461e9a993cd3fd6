"""The database schema, as an ordered list of sqlite-utils migrations.

Every schema change is a new migration appended at the end (never edit an applied one): a terminal
in a service hall updates in place and must keep its records. Tables:

``pensioners``       roster: identity data, plus an opaque ``person_key`` (random, not derived from
                     the ID number) that links to the face references, and the SHA-256 of the
                     roster photo the roster reference was built from.
``face_references``  encrypted face templates keyed by ``person_key`` only (GB/T 35273: biometrics
                     apart from identity data; no ID number or name in this table).
``certifications``   one row per attempt (the decision record), numbered and linked to the one
                     before (``chain_seq``, ``prev_hash``: the tamper-evident trail).
``outbox``           one row per record to send to the centre; written in the record's transaction.
``evidence``         encrypted face images of records, only when the configuration keeps them.
``audit_log``        session steps with reason codes; no personal data.
``meta``             small key/value settings (sync cursors, roster version, ...).

Times are stored as UTC ISO-8601 text with microseconds (``2026-05-20T01:00:00.000000+00:00``) so
that text order is time order; local calendar days as ``YYYY-MM-DD``.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "kiosk.store"

migrations = Migrations(MIGRATION_SET)


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE pensioners (
            id_number TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            region_code TEXT NOT NULL,
            last_certified TEXT,
            photo_path TEXT,
            person_key TEXT NOT NULL UNIQUE,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE face_references (
            ref_id TEXT PRIMARY KEY,
            person_key TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at TEXT NOT NULL,
            key_id TEXT NOT NULL,
            dims INTEGER NOT NULL,
            ciphertext BLOB NOT NULL
        );
        CREATE INDEX face_references_person ON face_references(person_key);
        CREATE TABLE certifications (
            record_id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            local_day TEXT NOT NULL,
            device_id TEXT NOT NULL,
            region_code TEXT NOT NULL,
            id_number TEXT,
            outcome TEXT NOT NULL,
            reason_code TEXT,
            liveness_score REAL,
            attack_score REAL,
            match_distance REAL,
            attempt INTEGER NOT NULL,
            valid_until TEXT
        );
        CREATE INDEX certifications_day ON certifications(local_day, outcome);
        CREATE INDEX certifications_session ON certifications(session_id);
        CREATE TABLE outbox (
            record_id TEXT PRIMARY KEY REFERENCES certifications(record_id),
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'rejected')),
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_at TEXT,
            rejected_reason TEXT
        );
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
        CREATE TABLE evidence (
            record_id TEXT PRIMARY KEY REFERENCES certifications(record_id),
            created_at TEXT NOT NULL,
            key_id TEXT NOT NULL,
            ciphertext BLOB NOT NULL
        );
        CREATE INDEX evidence_created ON evidence(created_at);
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            session_id TEXT,
            step TEXT NOT NULL,
            code TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )



@migrations(name="0002_roster_photo_sha256")
def _roster_photo_sha256(db: Database) -> None:
    # The SHA-256 of the roster photo file the person's roster reference was built from. Photos are
    # named after the ID number, so a corrected photo keeps its path: only its content tells that
    # the reference is stale. NULL: no roster reference, or one built before this column existed.
    db.execute("ALTER TABLE pensioners ADD COLUMN roster_photo_sha256 TEXT")


@migrations(name="0003_reference_source_center")
def _reference_source_center(db: Database) -> None:
    # One spelling of the provincial center in code and data: references delivered in the roster
    # delta were stored with the source "centre".
    db.execute("UPDATE face_references SET source = 'center' WHERE source = 'centre'")

@migrations(name="0004_record_chain")
def _record_chain(db: Database) -> None:
    # The tamper-evident trail (kiosk/store/chain.py): each record's number and the link hash of the
    # one before. Records stored before stay unnumbered (NULL): the centre has them without a chain.
    db.executescript(
        """
        ALTER TABLE certifications ADD COLUMN chain_seq INTEGER;
        ALTER TABLE certifications ADD COLUMN prev_hash TEXT;
        CREATE UNIQUE INDEX certifications_chain ON certifications(chain_seq);
        """
    )


def migration_names() -> list[str]:
    """Every migration this version of the kiosk knows, in order."""
    return [migration.name for migration in migrations._migrations]  # sqlite-utils has no public list


SCHEMA_VERSION = len(migration_names())
"""The schema version this code expects (the number of migrations it knows)."""


def applied_migrations(db: Database) -> list[str]:
    """Names of the migrations applied to ``db`` (read-only)."""
    return [migration.name for migration in migrations.applied(db)]


def pending_migrations(db: Database) -> list[str]:
    """Names of the migrations not yet applied to ``db`` (read-only)."""
    return [migration.name for migration in migrations.pending(db)]


def unknown_migrations(db: Database) -> list[str]:
    """Applied migrations this code does not know: the database comes from a newer kiosk version."""
    known = set(migration_names())
    return [name for name in applied_migrations(db) if name not in known]


def schema_version(db: Database) -> int:
    """How many of this set's migrations ``db`` has (0 for a new database)."""
    return len(applied_migrations(db))


def migrate(db: Database) -> list[str]:
    """Applies the pending migrations, each in its own transaction; returns their names."""
    pending = pending_migrations(db)
    if pending:
        migrations.apply(db)
    return pending
