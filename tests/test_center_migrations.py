"""The centre's schema is Alembic's: one head, a database at head matches the models, old databases adopted."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from center.db import Base, database_url, make_engine
from center.schema import MIGRATIONS_DIR, alembic_config, current_revision, head_revision, upgrade

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_revisions_form_one_line_with_simple_ids() -> None:
    head = head_revision()  # raises on two heads (two branches each added a revision)
    files = sorted(path.stem for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert files[0] == "0001_initial" and head == files[-1]
    assert all(len(name) <= 32 for name in files), "alembic_version holds 32 characters"


def test_a_new_database_at_head_matches_the_models_exactly(centre_db: str) -> None:
    engine = make_engine(centre_db)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    engine.dispose()
    assert differences == [], f"center/db.py and the migrations disagree (add a revision): {differences}"


# The columns of 0001_initial's tables that came after the first release (photo_sha256, by the
# stop-gap that 0001_initial adopts).
COLUMNS_ADDED_SINCE = (("pensioners", "photo_sha256"),)


def test_a_database_made_by_the_old_create_all_is_adopted_with_its_rows(centre_db: str) -> None:
    old = create_engine(database_url(centre_db))
    with old.begin() as connection:  # the tables make_engine's create_all made before migrations...
        command.upgrade(alembic_config(connection), "0001_initial")
        connection.exec_driver_sql("DROP TABLE alembic_version")
    with old.begin() as connection:  # ...in a release before photo_sha256 existed
        for table, column in COLUMNS_ADDED_SINCE:
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        connection.exec_driver_sql("INSERT INTO devices (device_id, name, secret, disabled, created_at) "
                                   "VALUES ('KIOSK-OLD', 'hall 1', 's', false, '2026-01-01 00:00:00+00')")
        connection.exec_driver_sql(
            "INSERT INTO pensioners (id_number, name, region_code, templates, template_source, removed, seq, "
            "updated_at) VALUES ('11010119300101001X', 'x', '110101', '[]', '', false, 7, '2026-01-01 00:00:00+00')")
    old.dispose()
    engine = make_engine(centre_db)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert "photo_sha256" in {column["name"] for column in inspect(connection).get_columns("pensioners")}
        assert connection.exec_driver_sql("SELECT device_id FROM devices").scalars().all() == ["KIOSK-OLD"]
        assert "secret" not in {column["name"] for column in inspect(connection).get_columns("devices")}
        assert connection.exec_driver_sql("SELECT seq, photo_sha256 FROM pensioners").all() == [(7, None)]
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_upgrading_twice_changes_nothing(centre_db: str) -> None:
    engine = make_engine(centre_db)
    assert upgrade(engine) == (head_revision(), head_revision())
    engine.dispose()


def test_workers_starting_together_on_an_empty_database_all_come_up(centre_db: str) -> None:
    """Each worker upgrades at start: the database's lock (BEGIN IMMEDIATE, an advisory lock on
    PostgreSQL) lets one create the tables and the others find them made."""
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _index: make_engine(centre_db), range(4)))
    for engine in engines:
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
        engine.dispose()


def test_db_upgrade_finds_the_migrations_from_any_folder(tmp_path: Path) -> None:
    """The command works outside the checkout (no alembic.ini, nothing relative to the cwd)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [sys.executable, "-c", "from center.cli import main; main()", "db", "upgrade", "--db", "c.db"]
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"database at {head_revision()} (was not versioned)"
    again = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert again.stdout.strip() == f"database already at {head_revision()}"


def test_db_upgrade_on_a_database_it_cannot_open_is_one_line(tmp_path: Path) -> None:
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    result = subprocess.run([sys.executable, "-m", "center", "db", "upgrade", "--db", str(not_a_db)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1



def test_a_worker_opening_while_another_holds_a_new_database_waits_for_it(tmp_path: Path) -> None:
    """SQLite's switch to WAL does not wait on a lock by itself: a worker starting while another
    holds the new file's lock (creating the tables) must wait for it, not fail "database is locked"."""
    import sqlite3
    import threading

    path = tmp_path / "centre.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE placeholder (x INTEGER)")  # a database still in rollback-journal mode...
    holder.execute("BEGIN IMMEDIATE")  # ...whose write lock another worker holds (creating the tables)
    release = threading.Timer(0.5, holder.execute, args=("ROLLBACK",))
    release.start()
    try:
        engine = make_engine(str(path))  # failed at once with "database is locked" before the retry
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()
    finally:
        release.join()
        holder.close()
