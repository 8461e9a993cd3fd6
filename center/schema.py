"""The centre's schema version: bring a database to the newest Alembic revision.

The revisions live in :mod:`center.migrations` (its docstring says how to add one). Every engine the
centre opens is upgraded before use (:func:`center.db.make_engine`); ``kiosk-center db upgrade``
does the same on its own. A database made before migrations (by the old ``create_all``) has no
``alembic_version`` table: the first revision adopts its tables as they are.

Several workers may start on one database at once: the whole upgrade is one transaction that holds
the database's write lock on SQLite (``BEGIN IMMEDIATE``) and a transaction-scoped advisory lock on
PostgreSQL, so the second worker waits and then finds nothing left to do.

Thread rules: call from one thread per engine at a time (start-up, a CLI command).
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# Next to this file in an installed package and in a frozen bundle alike (never the current directory).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant the centre's database shares with nothing else: the key of the upgrade's advisory lock.
_UPGRADE_LOCK_KEY = 0x6B696F736B  # "kiosk"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the centre's migrations; ``connection`` is the one env.py runs on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s")  # the file is named after its id
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id. Raises RuntimeError when the revisions have more than one head."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the centre's migrations have {len(heads)} heads {sorted(heads)}: "
                           "renumber one revision to follow the other (center/migrations/__init__.py)")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated, empty or made by the old create_all)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Brings the database to the newest revision in one transaction; returns (before, after)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), "head")
        after = current_revision(connection)
    if before != after:
        log.info("centre database upgraded from %s to %s", before or "(none)", after)
    return before, after or ""


def new_revision(message: str, *, autogenerate: bool) -> Path:
    """Writes ``versions/NNNN_words.py`` after the current head; returns its path.

    With ``autogenerate`` the operations are what Alembic finds between the models and a scratch
    SQLite database upgraded to the head (read them: renames look like a drop and an add).
    """
    from sqlalchemy import create_engine  # noqa: PLC0415 - a developer's command, kept out of start-up

    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:27] or "change"  # alembic_version holds 32 characters
    number = max(int(path.name[:4]) for path in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")) + 1
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            upgrade(engine)
            with engine.begin() as connection:
                script = command.revision(alembic_config(connection), message=message, autogenerate=autogenerate,
                                          rev_id=f"{number:04d}_{words}")
        finally:
            engine.dispose()
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic wrote no single revision")
    return Path(script.path)
