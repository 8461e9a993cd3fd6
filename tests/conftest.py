"""Shared fixtures: a private data folder per test, the shared media folder, the configuration, the Qt application."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # only for the annotations: importing PySide6 here would make every non-Qt test pay for it
    from PySide6.QtWidgets import QApplication

REPO_ROOT = Path(__file__).resolve().parent.parent
MEDIA_DIR = REPO_ROOT.parent / "shared" / "media"

# Tests never touch a real display, a real /etc/kiosk or the user's data folder.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path_factory.mktemp("kiosk-data")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(data_dir))
    for name in list(os.environ):
        if name.startswith("KIOSK__"):
            monkeypatch.delenv(name)
    return data_dir


@pytest.fixture
def data_dir(_private_data_dir: Path) -> Path:
    """This test's own data folder (also in KIOSK_DATA_DIR)."""
    return _private_data_dir


@pytest.fixture
def media_dir() -> Path:
    """``../shared/media``; the test is skipped with a reason when it is absent."""
    if not MEDIA_DIR.is_dir():
        pytest.skip(f"shared media folder not found at {MEDIA_DIR} (tests on real faces need ../shared/media)")
    return MEDIA_DIR


@pytest.fixture
def config():
    """The shipped default configuration (with this test's data folder)."""
    from kiosk.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def qapp() -> QApplication:
    """The process's one QApplication (offscreen), made on first use; call it from the GUI (main) thread only."""
    # Imported here, not at the top, so that tests without Qt never load PySide6.
    from PySide6.QtWidgets import QApplication

    # Qt allows one application object per process: reuse one made earlier (e.g. by test_qt_runtime).
    return QApplication.instance() or QApplication([])


def wait_until(qapp: QApplication, predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Processes Qt events until ``predicate()`` is true; fails the test after ``timeout_s`` seconds.

    GUI (main) thread only: ``processEvents`` delivers the events of the calling thread, and queued signals
    from worker threads reach the widgets only through the GUI thread's loop.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        qapp.processEvents()
        # Sleep between polls so the loop does not spin a core and worker threads (previews, fake devices) get to run.
        time.sleep(0.005)


def run_cli(argv: list[str]) -> int:
    """Runs ``kiosk ARGV`` in-process the way the console script does; returns the exit status."""
    from kiosk.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


# -- the centre's database: every centre-side test runs on SQLite and on a real PostgreSQL ---------
CENTRE_DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server():
    """The tests' own PostgreSQL server (tests/postgres_harness.py), started on first use; skipped
    with the reason when this machine cannot run one (binaries absent)."""
    from postgres_harness import PostgresServer, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


def _centre_database(request: pytest.FixtureRequest, kind: str, folder: Path):
    if kind == "sqlite":
        yield str(folder / "centre.db")
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    # The centre's signing key lives beside a database file; for a server database it is this file
    # (center/center_key.py), kept in the test's folder rather than the current directory.
    before = os.environ.get("KIOSK_CENTER_KEY_FILE")
    os.environ["KIOSK_CENTER_KEY_FILE"] = str(folder / "centre.center-key")
    try:
        yield url
    finally:
        if before is None:
            os.environ.pop("KIOSK_CENTER_KEY_FILE", None)
        else:
            os.environ["KIOSK_CENTER_KEY_FILE"] = before
        server.drop_database(url)


@pytest.fixture(params=CENTRE_DATABASES)
def centre_db(request: pytest.FixtureRequest, tmp_path: Path):
    """A new, empty centre database for this test (``--db`` value): a SQLite file, or a database
    on the tests' PostgreSQL server. Tests that take it run once on each."""
    yield from _centre_database(request, request.param, tmp_path)


@pytest.fixture(scope="module", params=CENTRE_DATABASES)
def module_centre_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """:func:`centre_db` shared by a module's tests (a centre process serving them all)."""
    yield from _centre_database(request, request.param, tmp_path_factory.mktemp("centre"))
