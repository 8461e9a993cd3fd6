"""A real PostgreSQL server for the centre's tests and bench, started from Debian's own binaries.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin``
(Debian's ``postgresql`` package) in a private temporary folder: no system service, no cluster of
``pg_ctlcluster``, no TCP port (a unix socket in that folder only), ``trust`` authentication for the
one superuser ``postgres``. Each test gets a database of its own (:meth:`create_database`).

Root: ``initdb`` and ``postgres`` refuse to run as root (CI runs the tests as root). Then both run
as the unprivileged ``nobody`` through ``setpriv --reuid --regid --clear-groups`` (util-linux,
always present on Debian), in a folder made for it under /tmp (pytest's own tmp folder is 0700 root
and ``nobody`` could not enter it). The test process itself stays root; it connects through the
socket, which is open to every local user.

Test code only (tests/ and the bench's scripts/), never imported by the ``center`` package.

Thread rules: start/stop from one thread; :meth:`create_database` from any thread.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

# Why a PostgreSQL variant is skipped (only ever for a reason outside the code under test).
MISSING_BINARIES = ("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(Debian package `postgresql`; `make test` installs it)")
UNPRIVILEGED_USER = "nobody"


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, pg_ctl and postgres, or None."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").is_file() and (folder / "postgres").is_file():
            version = folder.parent.name
            found.append((int(version) if version.isdigit() else 0, folder))
    return max(found)[1] if found else None


def unavailable_reason() -> str | None:
    """Why a server cannot be started here (binaries missing, no unprivileged user as root), or None."""
    if postgres_bin_dir() is None:
        return MISSING_BINARIES
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            return f"running as root and there is no user {UNPRIVILEGED_USER!r} to run PostgreSQL as (initdb refuses root)"
        if shutil.which("setpriv") is None:
            return "running as root and setpriv (util-linux) is missing: cannot drop to an unprivileged user for initdb"
    return None


class PostgresServer:
    """A private PostgreSQL server in a temporary folder, reachable only through its unix socket.

    ``durable=False`` (tests) turns off fsync: a test's data need not survive a power cut of the
    machine running it, and it makes each CREATE DATABASE cheap. The bench keeps fsync on.
    ``max_connections`` must cover every pool of every worker that connects (bench: workers x pool).
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 200, settings: dict[str, str] | None = None) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.bin_dir = postgres_bin_dir()
        assert self.bin_dir is not None
        self.durable = durable
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.root = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "server.log"
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._running = False

    # -- running as an unprivileged user when we are root -------------------------------------------
    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", f"--reuid={UNPRIVILEGED_USER}", f"--regid={pwd.getpwnam(UNPRIVILEGED_USER).pw_gid}",
                "--clear-groups", *command]

    def _run(self, *command: str, timeout: float = 120.0) -> None:
        result = subprocess.run(self._as_owner([str(self.bin_dir / command[0]), *command[1:]]), cwd=self.root,
                                capture_output=True, text=True, timeout=timeout, env={**os.environ, "LC_ALL": "C"})
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> PostgresServer:
        """initdb (first time) and start; returns when the server accepts connections."""
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(UNPRIVILEGED_USER)
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--no-locale",
                      "--encoding=UTF8", "--no-sync")
        options = {"listen_addresses": "''", "unix_socket_directories": f"'{self.socket_dir}'",
                   "max_connections": str(self.max_connections), "shared_buffers": "128MB",
                   "fsync": "on" if self.durable else "off",
                   "synchronous_commit": "on" if self.durable else "off",
                   "full_page_writes": "on" if self.durable else "off", **self.settings}
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                  "-o", " ".join(f"-c {key}={value}" for key, value in options.items()))
        self._running = True
        return self

    def stop(self) -> None:
        """Stops the server (fast shutdown: open connections are cut) and removes its folder."""
        if self._running:
            try:
                self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data_dir))
            finally:
                self._running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3, through the socket)."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, prefix: str = "centre") -> str:
        """A new, empty database; returns its URL."""
        with self._lock:
            name = f"{prefix}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drops the database of ``url``, cutting any connection still open to it."""
        name = url.split("/")[-1].split("?")[0]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str) -> None:
        """One statement outside a transaction, on the maintenance database."""
        import psycopg  # noqa: PLC0415 - only the PostgreSQL variants need the driver

        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute(sql)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
