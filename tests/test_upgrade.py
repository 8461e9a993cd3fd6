"""deploy/upgrade.sh and deploy/rollback.sh in a temporary /opt/kiosk and data folder.

The releases are small stand-ins for bundles: a ``kiosk`` script that answers ``--version`` and
``--self-test`` itself and hands everything else (the ``kiosk db`` commands the scripts use) to the
real kiosk of this checkout. Release "2" also applies a migration release "1" does not know, which
is what makes a rollback restore the backup. The real database, backup and restore run throughout.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.store.schema import migration_names

REPO = Path(__file__).resolve().parent.parent
KNOWN = migration_names()  # what this checkout (release "1" and "2" alike) migrates to
FUTURE = "9999_future"  # a migration only release "2" knows; after every real one
UPGRADE = REPO / "deploy" / "upgrade.sh"
ROLLBACK = REPO / "deploy" / "rollback.sh"

FAKE_KIOSK = """#!/bin/sh
for arg in "$@"; do
    case "$arg" in
        --version) echo "kiosk, version {version}"; exit 0 ;;
        --self-test) echo "self-test: fake {version}"; exit {selftest_rc} ;;
    esac
done
{python} -m kiosk "$@" || exit $?
case " $* " in
    *" db migrate "*) [ -n "{future}" ] && {python} -c "import sqlite3, os; c = sqlite3.connect(os.environ['KIOSK_DATA_DIR'] + '/kiosk.db'); c.execute(\\"INSERT INTO _sqlite_migrations (migration_set, name, applied_at) SELECT 'kiosk.store', '{future}', 'now' WHERE NOT EXISTS (SELECT 1 FROM _sqlite_migrations WHERE name = '{future}')\\"); c.commit()" ;;
esac
exit 0
"""


def make_bundle(where: Path, version: str, *, selftest_rc: int = 0, future: str = "") -> Path:
    """A stand-in bundle folder with a voice clip saying which release it came from."""
    bundle = where / f"bundle-{version}"
    (bundle / "_internal" / "voice").mkdir(parents=True)
    (bundle / "_internal" / "voice" / "prompt-idle.wav").write_text(f"clip of {version}")
    script = bundle / "kiosk"
    script.write_text(FAKE_KIOSK.format(version=version, selftest_rc=selftest_rc, python=sys.executable, future=future))
    script.chmod(0o755)
    return bundle


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    """Environment for the scripts: a private root and data folder, no systemd, no site file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KIOSK")}
    env.update({
        "KIOSK_ROOT": str(tmp_path / "opt"), "KIOSK_DATA_DIR": str(tmp_path / "data"),
        "KIOSK_CONFIG": str(tmp_path / "no-site.toml"), "KIOSK_SERVICE": "", "KIOSK_USER": "no-such-kiosk-user",
        "PYTHONPATH": str(REPO),
    })
    return env


def run(script: Path, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(script), *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


def current(env: dict[str, str], link: str = "current") -> str | None:
    path = Path(env["KIOSK_ROOT"]) / link
    return os.readlink(path).split("/")[-1] if path.is_symlink() else None


def migrations(env: dict[str, str]) -> list[str]:
    with sqlite3.connect(Path(env["KIOSK_DATA_DIR"]) / "kiosk.db") as conn:
        return [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]


def put_meta(env: dict[str, str], key: str) -> None:
    """A row written by the running kiosk (stands for a certification record)."""
    with sqlite3.connect(Path(env["KIOSK_DATA_DIR"]) / "kiosk.db") as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (key,))


def meta_keys(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM meta")}


def voice(env: dict[str, str]) -> str:
    return (Path(env["KIOSK_DATA_DIR"]) / "voice" / "prompt-idle.wav").read_text()


def test_install_upgrade_with_migration_and_rollback(tmp_path: Path, site: dict[str, str]) -> None:
    first = run(UPGRADE, make_bundle(tmp_path, "1"), "1", env=site)
    assert first.returncode == 0, first.stderr
    assert current(site) == "1" and current(site, "previous") is None
    assert migrations(site) == KNOWN and voice(site) == "clip of 1"
    put_meta(site, "before-upgrade")

    second = run(UPGRADE, make_bundle(tmp_path, "2", future=FUTURE), "2", env=site)
    assert second.returncode == 0, second.stderr
    assert current(site) == "2" and current(site, "previous") == "1"
    assert migrations(site) == [*KNOWN, FUTURE] and voice(site) == "clip of 2"
    backups = list((Path(site["KIOSK_DATA_DIR"]) / "backups").glob("*-before-2.db"))
    assert len(backups) == 1 and meta_keys(backups[0]) == {"before-upgrade"}
    info = (Path(site["KIOSK_ROOT"]) / "releases" / "2" / "UPGRADE_INFO").read_text()
    assert "from=1\n" in info
    assert f"schema_before={len(KNOWN)}\n" in info and f"schema_after={len(KNOWN) + 1}\n" in info
    put_meta(site, "after-upgrade")

    back = run(ROLLBACK, env=site)
    assert back.returncode == 0, back.stderr
    assert current(site) == "1" and current(site, "previous") == "2"
    assert migrations(site) == KNOWN and voice(site) == "clip of 1"
    data = Path(site["KIOSK_DATA_DIR"])
    assert meta_keys(data / "kiosk.db") == {"before-upgrade"}
    kept = list(data.glob("kiosk.db.replaced-*"))
    assert len(kept) == 1 and meta_keys(kept[0]) == {"before-upgrade", "after-upgrade"}  # nothing lost
    assert "records made since the upgrade" in (Path(site["KIOSK_ROOT"]) / "upgrade.log").read_text()


def test_rollback_without_migration_keeps_the_database(tmp_path: Path, site: dict[str, str]) -> None:
    assert run(UPGRADE, make_bundle(tmp_path, "1"), "1", env=site).returncode == 0
    assert run(UPGRADE, make_bundle(tmp_path, "1b"), "1b", env=site).returncode == 0
    put_meta(site, "made-on-1b")
    back = run(ROLLBACK, env=site)
    assert back.returncode == 0, back.stderr
    assert current(site) == "1"
    assert meta_keys(Path(site["KIOSK_DATA_DIR"]) / "kiosk.db") == {"made-on-1b"}
    assert not list(Path(site["KIOSK_DATA_DIR"]).glob("kiosk.db.replaced-*"))


def test_failed_self_test_changes_nothing(tmp_path: Path, site: dict[str, str]) -> None:
    assert run(UPGRADE, make_bundle(tmp_path, "1"), "1", env=site).returncode == 0
    put_meta(site, "kept")
    bad = run(UPGRADE, make_bundle(tmp_path, "2", selftest_rc=1, future=FUTURE), "2", env=site)
    assert bad.returncode == 1 and "self-test of the new release failed" in bad.stderr
    assert current(site) == "1" and not (Path(site["KIOSK_ROOT"]) / "releases" / "2").exists()
    assert migrations(site) == KNOWN and meta_keys(Path(site["KIOSK_DATA_DIR"]) / "kiosk.db") == {"kept"}


def test_refuses_a_database_from_a_newer_kiosk(tmp_path: Path, site: dict[str, str]) -> None:
    assert run(UPGRADE, make_bundle(tmp_path, "2", future=FUTURE), "2", env=site).returncode == 0
    older = run(UPGRADE, make_bundle(tmp_path, "1"), "1", env=site)
    assert older.returncode == 1 and "newer kiosk" in older.stderr
    assert current(site) == "2" and migrations(site) == [*KNOWN, FUTURE]


def test_bad_input(tmp_path: Path, site: dict[str, str]) -> None:
    assert run(UPGRADE, env=site).returncode == 2
    not_a_bundle = tmp_path / "empty"
    not_a_bundle.mkdir()
    result = run(UPGRADE, not_a_bundle, "x", env=site)
    assert result.returncode == 1 and "not a bundle folder" in result.stderr
    assert run(UPGRADE, make_bundle(tmp_path, "1"), "1", env=site).returncode == 0
    (tmp_path / "b").mkdir()
    again = run(UPGRADE, make_bundle(tmp_path / "b", "1"), "1", env=site)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert run(UPGRADE, make_bundle(tmp_path / "b", "9"), "../evil", env=site).returncode == 1
    nothing_before = run(ROLLBACK, env=site)
    assert nothing_before.returncode == 1 and "no previous release" in nothing_before.stderr
    (Path(site["KIOSK_ROOT"]) / ".lock").mkdir()
    locked = run(UPGRADE, make_bundle(tmp_path / "b", "3"), "3", env=site)
    assert locked.returncode == 1 and "holds" in locked.stderr
    assert current(site) == "1" and not list((Path(site["KIOSK_ROOT"]) / "releases").glob(".incoming*"))


def test_tarball_and_default_version(tmp_path: Path, site: dict[str, str]) -> None:
    bundle = make_bundle(tmp_path, "0.9.1")
    (tmp_path / "tar" / "kiosk").parent.mkdir()
    bundle.rename(tmp_path / "tar" / "kiosk")
    subprocess.run(["tar", "-czf", str(tmp_path / "kiosk.tar.gz"), "-C", str(tmp_path / "tar"), "kiosk"], check=True)
    result = run(UPGRADE, tmp_path / "kiosk.tar.gz", env=site)
    assert result.returncode == 0, result.stderr
    assert (current(site) or "").startswith("0.9.1-")


def test_db_commands_refuse_bad_input(tmp_path: Path, site: dict[str, str]) -> None:
    def kiosk(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kiosk", *map(str, args)], env=site, capture_output=True,
                              text=True, timeout=60)

    assert kiosk("db", "backup", tmp_path / "b.db").returncode == 1  # no database yet
    assert kiosk("db", "migrate").returncode == 0
    assert kiosk("db", "backup", tmp_path / "b.db").returncode == 0
    refused = kiosk("db", "backup", tmp_path / "b.db")
    assert refused.returncode == 1 and "never overwrites" in refused.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    damaged = kiosk("db", "restore", garbage)
    assert damaged.returncode == 1 and "nothing was changed" in damaged.stderr
    assert not list(Path(site["KIOSK_DATA_DIR"]).glob("kiosk.db.replaced-*"))
    purge = kiosk("db", "purge")
    assert purge.returncode == 0 and "0 evidence" in purge.stdout
