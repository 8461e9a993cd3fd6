"""The tests' own PostgreSQL server: skipped only for a stated reason, never run as root, private."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

import postgres_harness
from postgres_harness import MISSING_BINARIES, PostgresServer, unavailable_reason


def test_without_the_binaries_the_reason_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_harness.glob, "glob", lambda _pattern: [])
    assert unavailable_reason() == MISSING_BINARIES and "`postgresql`" in MISSING_BINARIES
    with pytest.raises(RuntimeError, match="not found"):
        PostgresServer()


def test_the_server_is_private_and_never_runs_as_root(postgres_server: PostgresServer) -> None:
    import psycopg

    owner = pwd.getpwuid(os.stat(postgres_server.data_dir).st_uid).pw_name
    assert owner != "root" and (os.geteuid() != 0 or owner == postgres_harness.UNPRIVILEGED_USER)
    with psycopg.connect(host=str(postgres_server.socket_dir), user="postgres", dbname="postgres") as connection:
        settings = dict(connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'data_directory')").fetchall())
    assert settings["listen_addresses"] == ""  # the socket in its own folder, no TCP port
    assert Path(settings["data_directory"]) == postgres_server.data_dir


def test_each_test_database_is_new_and_empty(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    postgres_server.drop_database(first)
    postgres_server.drop_database(second)
