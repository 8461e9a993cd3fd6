"""Doctor checks of the core: data folder, free disk, database schema, device key, roster, outbox.

The checks only look: they never create the database or the key (``Store.open`` does that at the
first start), and they open an existing database read-only. No personal data in any detail.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database

from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.disk import free_megabytes
from kiosk.doctor import Check, CheckResult, Status
from kiosk.errors import KeyUnavailableError, StorageError
from kiosk.store import DB_FILE_NAME, SCHEMA_VERSION, Store, load_key
from kiosk.store.schema import pending_migrations, schema_version, unknown_migrations

OUTBOX_WARN_AGE = timedelta(hours=72)  # three days without the centre: someone should look at the network
KEY_SAMPLE = 5  # templates actually decrypted to prove the key opens them (more adds time, not certainty)


def _data_dir(config: KioskConfig) -> Path:
    return config.terminal.resolved_data_dir()


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextmanager
def _read_only_store(config: KioskConfig) -> Iterator[Store | None]:
    """The existing database opened read-only, with the key when it loads; None when there is no database."""
    path = _data_dir(config) / DB_FILE_NAME
    if not path.is_file():
        yield None
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            key = load_key(config.terminal.resolved_key_file())
        except KeyUnavailableError:
            key = None
        yield Store(Database(conn), clock=SystemClock(), key=key, migrate=False)
    finally:
        conn.close()


def check_data_dir(config: KioskConfig) -> CheckResult:
    """The data folder exists (or can be created) and a file can be written and synced there."""
    folder = _data_dir(config)
    if not folder.exists():
        parent = _existing_ancestor(folder)
        if parent.is_dir() and os.access(parent, os.W_OK):
            return CheckResult(Status.OK, f"{folder} will be created at the first start")
        return CheckResult(Status.FAILED, f"{folder} does not exist and cannot be created",
                           "set terminal.data_dir (or KIOSK_DATA_DIR) to a writable folder")
    if not folder.is_dir():
        return CheckResult(Status.FAILED, f"{folder} is not a folder", "set terminal.data_dir to a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-") as probe:
            probe.write(b"kiosk doctor write probe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return CheckResult(Status.FAILED, f"{folder} is not writable: {exc.strerror}",
                           "fix the folder's owner and permissions (the kiosk user must write there)")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        return CheckResult(Status.WARNING, f"{folder} is writable but readable by other users (mode {mode:o})",
                           f"chmod 700 {folder} (it is tightened at the next start)")
    return CheckResult(Status.OK, f"{folder} writable")


def check_free_disk(config: KioskConfig) -> CheckResult:
    """Free space where the data folder lives, against ``terminal.min_free_disk_mb``."""
    folder = _existing_ancestor(_data_dir(config))
    free = free_megabytes(folder)
    free_mb = int(free)  # shown whole; compared exactly, as the session compares
    need = config.terminal.min_free_disk_mb
    if free < need:
        return CheckResult(Status.FAILED, f"{free_mb} MB free, at least {need} MB needed",
                           "free disk space (old logs, exports) or move the data folder")
    if free < 2 * need:
        return CheckResult(Status.WARNING, f"{free_mb} MB free, close to the {need} MB minimum",
                           "free disk space soon")
    return CheckResult(Status.OK, f"{free_mb} MB free (minimum {need} MB)")


def check_schema(config: KioskConfig) -> CheckResult:
    """The database opens, passes SQLite's quick check, and has the schema this version expects."""
    try:
        with _read_only_store(config) as store:
            if store is None:
                return CheckResult(Status.OK, "no database yet; it is created at the first start")
            db = store.db
            quick = db.execute("PRAGMA quick_check").fetchone()[0]
            if quick != "ok":
                return CheckResult(Status.FAILED, f"the database is damaged ({quick})",
                                   "stop the kiosk, keep a copy of the data folder and call support")
            newer = unknown_migrations(db)
            if newer:
                return CheckResult(Status.FAILED, f"the database was written by a newer kiosk ({', '.join(newer)})",
                                   "install the newer kiosk version again")
            pending = pending_migrations(db)
            if pending:
                return CheckResult(Status.WARNING, f"schema {schema_version(db)} of {SCHEMA_VERSION}: "
                                   f"{len(pending)} migration(s) to apply", "they are applied at the next start")
            return CheckResult(Status.OK, f"schema {SCHEMA_VERSION} current")
    except (sqlite3.Error, StorageError) as exc:
        return CheckResult(Status.FAILED, f"the database cannot be read: {exc}",
                           "stop the kiosk, keep a copy of the data folder and call support")


def check_key(config: KioskConfig) -> CheckResult:
    """The device key is present, private, and opens the stored face templates."""
    path = config.terminal.resolved_key_file()
    try:
        with _read_only_store(config) as store:
            counts = store.reference_counts() if store is not None else {"total": 0, "unreadable": 0}
            if not path.exists():
                if counts["total"]:
                    return CheckResult(Status.WARNING, f"key file {path} is missing: {counts['total']} face "
                                       "templates cannot be opened", "restore the key file from its backup, "
                                       "or re-enrol the people (a new key is made at the next start)")
                return CheckResult(Status.OK, f"no key yet; {path} is created at the first start")
            try:
                load_key(path)
            except KeyUnavailableError as exc:
                return CheckResult(Status.FAILED, exc.message,
                                   "restore the key file from its backup; without it no face can be checked")
            if store is not None and counts["total"] > counts["unreadable"]:
                store.verify_references(KEY_SAMPLE)
    except KeyUnavailableError:
        return CheckResult(Status.FAILED, "stored templates sealed with this key do not open (altered data?)",
                           "re-enrol the affected people; keep a copy of the data folder for support")
    except (sqlite3.Error, StorageError) as exc:
        return CheckResult(Status.WARNING, f"key present; templates not checked: {exc}", "see the schema check")
    mode = stat.S_IMODE(path.stat().st_mode)
    if counts["unreadable"]:
        return CheckResult(Status.WARNING, f"{counts['unreadable']} of {counts['total']} face templates were sealed "
                           "with another key and cannot be opened", "re-enrol those people (staff enrolment), "
                           "or restore the old key file")
    if mode & 0o077:
        return CheckResult(Status.WARNING, f"key file readable by other users (mode {mode:o})", f"chmod 600 {path}")
    return CheckResult(Status.OK, f"key present, opens {counts['total']} face template(s)")


_EMPTY_ROSTER = CheckResult(Status.WARNING, "the roster is empty",
                            "import it: kiosk roster import FILE.csv, or let the terminal sync with the centre")


CheckFunction = Callable[[KioskConfig], CheckResult]


def _unreadable_is_a_warning(what: str, run: CheckFunction) -> CheckFunction:
    """A non-required check over an unreadable database warns and points at the schema check."""

    def guarded(config: KioskConfig) -> CheckResult:
        try:
            return run(config)
        except (sqlite3.Error, StorageError):
            return CheckResult(Status.WARNING, f"the {what} cannot be read", "see the schema check")

    guarded.__doc__ = run.__doc__
    return guarded


def _roster_result(config: KioskConfig) -> CheckResult:
    """How many pensioners the roster holds, and how many have a face reference."""
    with _read_only_store(config) as store:
        if store is None or store.pending_migrations():
            return _EMPTY_ROSTER
        total = store.pensioner_count()
        with_reference = store.db.execute(
            "SELECT count(DISTINCT person_key) FROM face_references").fetchone()[0]
    if total == 0:
        return _EMPTY_ROSTER
    return CheckResult(Status.OK, f"{total} pensioner(s), {with_reference} with a face reference")


def _outbox_result(config: KioskConfig) -> CheckResult:
    """Records waiting for the centre: a warning when the oldest has waited too long."""
    with _read_only_store(config) as store:
        if store is None or store.pending_migrations():
            return CheckResult(Status.OK, "nothing waiting")
        counts = store.outbox_counts()
        oldest = store.oldest_pending_at()
    now = SystemClock().now()
    if oldest is not None and now - oldest > OUTBOX_WARN_AGE:
        hours = int((now - oldest).total_seconds() // 3600)
        return CheckResult(Status.WARNING, f"{counts['pending']} record(s) waiting, the oldest for {hours} h",
                           "check the network and the centre (kiosk sync); nothing is lost meanwhile")
    # Records the centre refused are the sync area's check ("records set aside"); counted here only.
    return CheckResult(Status.OK, f"{counts['pending']} waiting, {counts['sent']} sent, {counts['rejected']} set aside")


CHECKS: list[Check] = [
    Check("data dir writable", check_data_dir, required=True, order=10),
    Check("free disk", check_free_disk, required=True, order=11),
    Check("schema current", check_schema, required=True, order=12),
    Check("key present", check_key, required=True, order=13),
    Check("roster", _unreadable_is_a_warning("roster", _roster_result), required=False, order=14),
    Check("outbox backlog", _unreadable_is_a_warning("outbox", _outbox_result), required=False, order=15),
]
