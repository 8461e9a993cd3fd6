"""``kiosk db``: the local database for upgrades: status, online backup, migrate, restore.

Used by ``deploy/upgrade.sh`` and ``deploy/rollback.sh`` (a terminal has no Python besides the
bundle, so the SQLite backup API is reached through the kiosk itself). ``backup`` uses SQLite's
online backup API, so it gives a consistent copy even while the kiosk is running (WAL mode), and
checks the copy's integrity before renaming it into place. ``restore`` never deletes: the database
it replaces is kept beside it as ``kiosk.db.replaced-<UTC time>`` (records made since the backup
live there and can be recovered by staff). Nothing personal is printed: counts and names only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import click

from kiosk.cli import CliState, pass_state
from kiosk.store import DB_FILE_NAME, SCHEMA_VERSION


def _db_path(state: CliState) -> Path:
    return state.config.terminal.resolved_data_dir() / DB_FILE_NAME


def _applied(path: Path) -> list[str]:
    """Migration names applied to the database at ``path`` (read-only; [] for a new database)."""
    from sqlite_utils import Database  # noqa: PLC0415

    from kiosk.store import schema  # noqa: PLC0415

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return schema.applied_migrations(Database(conn))


def _copy(source: Path, target: Path) -> None:
    """Online backup of ``source`` to ``target`` (atomic rename after an integrity check and fsync)."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"the copy failed its integrity check: {verdict}")
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(partial, 0o600)
    os.replace(partial, target)


@click.group()
def db_command() -> None:
    """The local database: status, backup, migrate, restore (for upgrades and rollbacks)."""


@db_command.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_state
def status_command(state: CliState, as_json: bool) -> None:
    """Schema version of the database against the one this kiosk expects."""
    from kiosk.store import schema  # noqa: PLC0415

    path = _db_path(state)
    applied = _applied(path) if path.is_file() else []
    known = schema.migration_names()
    info = {
        "database": str(path), "exists": path.is_file(), "schema": len(applied), "expected": SCHEMA_VERSION,
        "pending": [name for name in known if name not in applied],
        "unknown": [name for name in applied if name not in known],
    }
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"{path}: schema {info['schema']} (this kiosk: {SCHEMA_VERSION}); "
               f"pending {', '.join(info['pending']) or 'none'}; newer {', '.join(info['unknown']) or 'none'}")


@db_command.command("backup")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@pass_state
def backup_command(state: CliState, target: Path) -> None:
    """Copy the database to TARGET (consistent even while the kiosk runs)."""
    source = _db_path(state)
    if not source.is_file():
        raise click.ClickException(f"no database at {source}")
    if target.exists():
        raise click.ClickException(f"{target} exists; a backup never overwrites")
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        _copy(source, target)
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{source} cannot be read ({exc}); no backup was made") from None
    click.echo(f"backed up {source} to {target} ({target.stat().st_size} bytes, schema {len(_applied(target))})")


@db_command.command("migrate")
@pass_state
def migrate_command(state: CliState) -> None:
    """Apply the migrations this kiosk knows (refuses a database from a newer kiosk)."""
    from kiosk.clock import SystemClock  # noqa: PLC0415
    from kiosk.store import Store  # noqa: PLC0415

    with Store.from_config(state.config, SystemClock()) as store:  # opening migrates
        version = store.schema_version()
    click.echo(f"database at schema {version}")


@db_command.command("restore")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_state
def restore_command(state: CliState, source: Path) -> None:
    """Put the backup SOURCE back as the database; the replaced one is kept beside it.

    Stop the kiosk first: a running kiosk would keep writing to the replaced file.
    """
    target = _db_path(state)
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            _applied(source)
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{source} is not a kiosk database ({exc}); nothing was changed") from None
    if verdict != "ok":
        raise click.ClickException(f"{source} is damaged ({verdict}); nothing was changed")
    kept = None
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = target.with_name(f"{target.name}.replaced-{stamp}")
        _copy(target, kept)  # a consistent single file, including what sat in the -wal
    # The old -wal must go before the new file takes the name, or SQLite would replay it into it.
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    _copy(source, target)
    click.echo(f"restored {source} (schema {len(_applied(target))})" + (f"; previous database kept as {kept}" if kept else ""))


@db_command.command("purge")
@pass_state
def purge_command(state: CliState) -> None:
    """Delete evidence images and audit entries past their retention (run daily by kiosk-purge.timer).

    Safe while the kiosk runs: one short transaction, and SQLite waits for the kiosk's own writes.
    """
    from kiosk.clock import SystemClock  # noqa: PLC0415
    from kiosk.store import Store  # noqa: PLC0415

    with Store.from_config(state.config, SystemClock()) as store:
        counts = store.purge_expired()
    click.echo("purged " + ", ".join(f"{count} {table}" for table, count in sorted(counts.items())))
