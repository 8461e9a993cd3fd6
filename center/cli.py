"""``kiosk-center``: run the reference centre and administer it (devices, roster, received results).

Every command takes ``--db PATH|URL`` (default ``center.db`` in the current folder, or the
``KIOSK_CENTER_DB`` environment variable). Errors are one line on stderr and exit status 2; never a
traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from sqlalchemy import delete, select

from center.center_key import CenterKeyError, key_path_for, load_or_create
from center.console_users import AccountError, Role, add_user, mask_id_number
from center.db import (Certification, ConsoleSession, ConsoleUser, Device, StaffCall, database_url, make_engine,
                       session_factory, upgrade_schema)
from center.enrolment import current_key, issue_code
from center.review import ReviewError, decide, decided, occurred_at, pending
from center.provincial_roster import RosterFileError, export_visit_roster, generate_synthetic, import_csv
from wire.api import DEVICE_ID_RULE, ENROLMENT_CODE_HOURS, valid_device_id
from wire.review import Decision

log = logging.getLogger(__name__)

_db_option = click.option("--db", "db", envvar="KIOSK_CENTER_DB", default="center.db", show_default=True,
                          help="Database file or URL (sqlite:///..., postgresql+psycopg://...).")


def _sessions(db: str):  # type: ignore[no-untyped-def]
    try:
        return session_factory(make_engine(db))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Reference provincial centre for the pension certification kiosk."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@_db_option
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TLS certificate (PEM); without it the centre speaks plain HTTP (loopback and tests only).")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS private key (PEM).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (uvicorn). More than one needs PostgreSQL to be of use: on SQLite "
                   "every write waits for the one write lock.")
def serve(host: str, port: int, db: str, certfile: str | None, keyfile: str | None, log_level: str,
          workers: int) -> None:
    """Serve the sync protocol (OpenAPI at /docs and /openapi.json)."""
    import uvicorn  # noqa: PLC0415 - only this command needs it

    from center.app import create_app  # noqa: PLC0415
    from center.asgi import DATABASE_VARIABLE  # noqa: PLC0415

    if certfile is None and host not in ("127.0.0.1", "localhost", "::1"):
        # Terminals refuse plain http to anything but loopback; say so rather than look broken.
        click.echo("kiosk-center: warning: serving plain HTTP on a network address; terminals only accept "
                   "https there (give --certfile and --keyfile, or put a TLS proxy in front)", err=True)
    tls = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if workers == 1:
        try:
            app = create_app(db)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, **tls)
        return
    if database_url(db).startswith("sqlite"):
        click.echo("kiosk-center: warning: several workers on SQLite take turns at its one write lock; "
                   "use PostgreSQL for more than one", err=True)
    try:
        engine = make_engine(db, migrate=False)
        upgrade_schema(engine)  # errors here, once, not in every worker
        engine.dispose()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ[DATABASE_VARIABLE] = db  # each worker process builds its own app and engine from it
    uvicorn.run("center.asgi:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level=log_level, access_log=False, **tls)


@cli.command()
@_db_option
@click.option("--center", "center_url", default=None,
              help="URL of a running centre on that database (default: start `serve --workers N` on a free "
                   "loopback port for the run, and measure its memory).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes of the centre started for the run.")
@click.option("--terminals", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 10_000), default=3, show_default=True,
              help="Rounds per terminal (push, maybe resend, roster pages, heartbeat).")
@click.option("--records-per-round", type=click.IntRange(1, 500), default=5, show_default=True)
@click.option("--duplicates", type=click.IntRange(0, 500), default=2, show_default=True,
              help="Already-sent records pushed again in each batch.")
@click.option("--resend-rate", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Share of batches sent twice (the first answer lost).")
@click.option("--roster-pages", type=click.IntRange(0, 1000), default=2, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 5000), default=100, show_default=True)
@click.option("--duration-s", type=click.FloatRange(1, 86400), default=300, show_default=True,
              help="No round starts after this; then every terminal drains what is pending.")
@click.option("--drain-s", type=click.FloatRange(0, 86400), default=120, show_default=True)
@click.option("--ramp-s", type=click.FloatRange(0, 3600), default=10, show_default=True,
              help="Terminals start spread over this many seconds.")
@click.option("--think-s", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help="Largest random pause between a terminal's rounds.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def loadtest(db: str, center_url: str | None, workers: int, as_json: bool, **plan_values: object) -> None:
    """Simulate many terminals with real signatures over HTTP, then check the database: records lost
    and doubled (both must be 0; exit status 1 otherwise), latencies, records/s, centre memory.

    Creates devices named LOAD-<run>-<n> in the database (use a test or staging database)."""
    from center.loadtest import LoadPlan, format_report, run_load  # noqa: PLC0415

    plan = LoadPlan(**plan_values)  # type: ignore[arg-type]
    sessions = _sessions(db)
    if center_url is not None:
        report = run_load(center_url.rstrip("/"), sessions, plan)
    else:
        with _served(db, workers) as (url, pid):
            report = run_load(url, sessions, plan, server_pids={f"centre ({workers} workers)": pid})
    click.echo(json.dumps(report) if as_json else format_report(report))
    if report["lost"] or report["doubled"]:
        raise click.exceptions.Exit(1)


@contextlib.contextmanager
def _served(db: str, workers: int):  # type: ignore[no-untyped-def]
    """``kiosk-center serve --workers N`` on a free loopback port for the duration; yields (URL, pid)."""
    import socket  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "center", "serve", "--port", str(port), "--db", db,
                                "--workers", str(workers), "--log-level", "warning"], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise click.ClickException(f"the centre exited at start (status {process.returncode})")
            try:
                if httpx.get(f"{url}/v1/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise click.ClickException("the centre did not answer within 60 s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@cli.group()
def db() -> None:
    """The centre's database schema (Alembic migrations in center/migrations)."""


@db.command("upgrade")
@_db_option
def db_upgrade(db: str) -> None:
    """Bring the database to the newest schema (every command does this too; run it once before
    starting several workers, or to see what changed). A database made before migrations is adopted."""
    try:
        before, after = upgrade_schema(make_engine(db, migrate=False))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"database at {after} (was {before or 'not versioned'})" if before != after else f"database already at {after}")


@db.command("revision")
@click.argument("message")
@click.option("--autogenerate", is_flag=True, help="Fill in the operations that make a database at head match center/db.py.")
def db_revision(message: str, autogenerate: bool) -> None:
    """For developers: write center/migrations/versions/NNNN_MESSAGE.py after the current head."""
    from center.schema import new_revision  # noqa: PLC0415

    click.echo(str(new_revision(message, autogenerate=autogenerate)))


@cli.group()
def device() -> None:
    """Terminals allowed to talk to the centre."""


@device.command("add")
@click.argument("name")
@click.option("--device-id", default=None, help="Identifier to give the terminal (default: generated).")
@click.option("--hall", default=None, help="The hall (大厅) the terminal stands in (the console groups by it).")
@click.option("--valid-hours", type=click.FloatRange(0.1, 24 * 30), default=ENROLMENT_CODE_HOURS, show_default=True,
              help="How long the enrolment code can be used.")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object with device_id and enrolment_code.")
def device_add(name: str, device_id: str | None, hall: str | None, valid_hours: float, db: str, as_json: bool) -> None:
    """Create a terminal and print its id and one-time enrolment code (give both to `kiosk enroll-device`).

    The code works once, until it expires; the centre keeps only its hash.
    """
    device_id = device_id or f"KIOSK-{secrets.token_hex(4).upper()}"
    if not valid_device_id(device_id):
        raise click.ClickException(f"device id: {DEVICE_ID_RULE}")
    if not 1 <= len(name) <= 120:
        raise click.ClickException("name: 1-120 characters")
    _check_hall(hall)
    with _sessions(db)() as session:
        if session.get(Device, device_id) is not None:
            raise click.ClickException(f"device {device_id} already exists")
        row = Device(device_id=device_id, name=name, hall=hall or None)
        code = issue_code(row, valid_hours)
        session.add(row)
        session.commit()
        expires = _utc(row.enrolment_expires_at).isoformat()
    _print_code(device_id, code, expires, name, as_json, hall=hall or None)


@device.command("reenrol")
@click.argument("device_id")
@click.option("--valid-hours", type=click.FloatRange(0.1, 24 * 30), default=ENROLMENT_CODE_HOURS, show_default=True,
              help="How long the enrolment code can be used.")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object with device_id and enrolment_code.")
def device_reenrol(device_id: str, valid_hours: float, db: str, as_json: bool) -> None:
    """Approve a new key for a terminal: print a fresh one-time code for `kiosk enroll-device`.

    For a terminal that lost its key (disk replaced) or was enrolled under the old shared secrets.
    Its current key keeps working until the code is used; then it is retired (kept to verify the
    records it signed).
    """
    with _sessions(db)() as session:
        row = session.get(Device, device_id)
        if row is None:
            raise click.ClickException(f"no device {device_id}")
        code = issue_code(row, valid_hours)
        session.commit()
        expires = _utc(row.enrolment_expires_at).isoformat()
    _print_code(device_id, code, expires, row.name, as_json, hall=row.hall)


def _print_code(device_id: str, code: str, expires: str, name: str, as_json: bool, *, hall: str | None) -> None:
    if as_json:
        click.echo(json.dumps({"device_id": device_id, "enrolment_code": code, "expires_at": expires, "name": name,
                               "hall": hall},
                              ensure_ascii=False))
    else:
        click.echo(f"device_id:      {device_id}\nenrolment_code: {code}\nexpires_at:     {expires}")


@device.command("set-hall")
@click.argument("device_id")
@click.argument("hall")
@_db_option
def device_set_hall(device_id: str, hall: str, db: str) -> None:
    """Put a terminal in a hall (its later staff calls are shown to that hall's staff)."""
    _check_hall(hall)
    with _sessions(db)() as session:
        row = session.get(Device, device_id)
        if row is None:
            raise click.ClickException(f"no device {device_id}")
        row.hall = hall
        session.commit()
    click.echo(f"device {device_id} is in hall {hall}")


def _check_hall(hall: str | None) -> None:
    if hall is not None and not 1 <= len(hall.strip()) <= 80:
        raise click.ClickException("hall: 1-80 characters")


@device.command("list")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device.")
def device_list(db: str, as_json: bool) -> None:
    """Terminals, their current key, when they were last seen and their last reported health."""
    with _sessions(db)() as session:
        for row in session.scalars(select(Device).order_by(Device.device_id)):
            key = current_key(session, row.device_id)
            state = "disabled" if row.disabled else ("enrolled" if key else "awaiting")
            item = {"device_id": row.device_id, "name": row.name, "hall": row.hall, "disabled": row.disabled,
                    "state": state,
                    "key_id": key.key_id if key else None,
                    "code_expires_at": _utc(row.enrolment_expires_at).isoformat() if row.enrolment_expires_at else None,
                    "last_seen_at": _utc(row.last_seen_at).isoformat() if row.last_seen_at else None,
                    "health": row.last_health}
            click.echo(json.dumps(item, ensure_ascii=False) if as_json else
                       f"{row.device_id:<24} {state:<9} {item['key_id'] or '-':<17} "
                       f"{item['last_seen_at'] or 'never seen'}  {row.name}  {row.hall or ''}")


@device.command("disable")
@click.argument("device_id")
@_db_option
def device_disable(device_id: str, db: str) -> None:
    """Refuse every further request of a terminal (stolen, retired)."""
    with _sessions(db)() as session:
        row = session.get(Device, device_id)
        if row is None:
            raise click.ClickException(f"no device {device_id}")
        row.disabled = True
        session.commit()
    click.echo(f"device {device_id} disabled")


@cli.group()
def staff() -> None:
    """Staff accounts of the hall console (hall_staff, reviewer, admin)."""


@staff.command("add")
@click.argument("staff_number")
@click.argument("name")
@click.option("--role", type=click.Choice([str(role) for role in Role]), required=True,
              help="hall_staff: one hall's terminals and calls; reviewer: the review queue; admin: everything.")
@click.option("--hall", default=None, help="The hall a hall_staff account looks after.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN or password from standard input (scripts).")
@_db_option
def staff_add(staff_number: str, name: str, role: str, hall: str | None, pin_stdin: bool, db: str) -> None:
    """Give a member of staff a console account; the PIN (6-64 characters) is asked for, never an argument."""
    pin = (sys.stdin.readline().rstrip("\n") if pin_stdin else
           click.prompt("PIN or password", hide_input=True, confirmation_prompt=True))
    with _sessions(db)() as session:
        try:
            add_user(session, staff_number, name, role, pin, hall)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(f"staff {staff_number} added as {role}" + (f" of hall {hall}" if hall else ""))


@staff.command("list")
@_db_option
def staff_list(db: str) -> None:
    """Console accounts (never their PIN hashes)."""
    with _sessions(db)() as session:
        for row in session.scalars(select(ConsoleUser).order_by(ConsoleUser.staff_number)):
            click.echo(f"{row.staff_number:<12} {row.role:<10} {'disabled' if row.disabled else 'active':<9} "
                       f"{row.hall or '-':<16} {row.name}")


@staff.command("disable")
@click.argument("staff_number")
@_db_option
def staff_disable(staff_number: str, db: str) -> None:
    """Refuse every further sign-in of an account and end its sessions."""
    with _sessions(db)() as session:
        row = session.get(ConsoleUser, staff_number)
        if row is None:
            raise click.ClickException(f"no staff account {staff_number}")
        row.disabled = True
        session.execute(delete(ConsoleSession).where(ConsoleSession.staff_number == staff_number))
        session.commit()
    click.echo(f"staff {staff_number} disabled")


@cli.command("calls")
@_db_option
@click.option("--hall", default=None, help="Only calls from terminals of this hall.")
@click.option("--open", "only_open", is_flag=True, help="Only calls nobody has acknowledged yet.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def calls(db: str, hall: str | None, only_open: bool, limit: int, as_json: bool) -> None:
    """Staff calls, newest first, with how long each waited for an answer (seconds)."""
    with _sessions(db)() as session:
        query = select(StaffCall).order_by(StaffCall.received_at.desc()).limit(limit)
        if hall is not None:
            query = query.where(StaffCall.hall == hall)
        if only_open:
            query = query.where(StaffCall.acknowledged_at.is_(None))
        rows = []
        for call in session.scalars(query):
            received = _utc(call.received_at)
            answered = _utc(call.acknowledged_at) if call.acknowledged_at else None
            rows.append({"call_id": call.call_id, "device_id": call.device_id, "hall": call.hall, "screen": call.screen,
                         "reason": call.reason, "raised_at": _utc(call.raised_at).isoformat(),
                         "received_at": received.isoformat(),
                         "acknowledged_at": answered.isoformat() if answered else None,
                         "acknowledged_by": call.acknowledged_by, "acknowledged_via": call.acknowledged_via,
                         "waited_s": round((answered - received).total_seconds(), 1) if answered else None})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        answer = (f"answered by {row['acknowledged_by'] or '(not signed in)'} via {row['acknowledged_via']} "
                  f"after {row['waited_s']} s" if row["acknowledged_at"] else "OPEN")
        click.echo(f"{row['received_at']}  {row['device_id']:<16} {row['hall'] or '-':<12} {row['reason']:<18} "
                   f"{row['screen']:<12} {answer}")


@cli.group()
def review() -> None:
    """Requests for manual review and the reviewers' decisions (what the console's review page does)."""


@review.command("list")
@_db_option
@click.option("--all", "show_all", is_flag=True, help="Also the decided ones (newest 50).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def review_list(db: str, show_all: bool, as_json: bool) -> None:
    """Requests waiting for a decision, oldest first (ID numbers masked; images never printed)."""
    with _sessions(db)() as session:
        items = [{"record_id": row.record_id, "device_id": row.device_id, "id_number": mask_id_number(row.id_number),
                  "occurred_at": occurred_at(row).isoformat(), "status": "pending"} for row in pending(session)]
        if show_all:
            items += [{"record_id": row.record_id, "id_number": mask_id_number(row.id_number),
                       "status": row.decision, "reason": row.reason, "reviewer": row.reviewer,
                       "decided_at": _utc(row.decided_at).isoformat()} for row in decided(session)]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        click.echo(f"{item['record_id']}  {item['status']:<9} {item['id_number']}  "
                   f"{item.get('occurred_at') or item.get('decided_at')}  {item.get('reason', '')}")


@review.command("decide")
@click.argument("record_id")
@click.option("--approve", "decision", flag_value=str(Decision.APPROVED), help="Certify the person.")
@click.option("--reject", "decision", flag_value=str(Decision.REJECTED), help="Do not certify the person.")
@click.option("--reason", required=True, help="Why (1-200 characters; recorded and sent to the terminals).")
@click.option("--reviewer", required=True, help="Staff number of the reviewer (a reviewer or admin account).")
@_db_option
def review_decide(record_id: str, decision: str | None, reason: str, reviewer: str, db: str) -> None:
    """Approve or reject a request; the signed decision reaches every terminal in the next roster delta."""
    if decision is None:
        raise click.ClickException("give --approve or --reject")
    try:
        key = load_or_create(key_path_for(db))
    except (CenterKeyError, OSError) as exc:
        raise click.ClickException(f"the centre's key: {exc}") from None
    with _sessions(db)() as session:
        user = session.get(ConsoleUser, reviewer)
        if user is None or user.disabled or user.role not in (Role.REVIEWER, Role.ADMIN):
            raise click.ClickException(f"{reviewer} is not an active reviewer or admin account")
        try:
            signed = decide(session, key, record_id, decision, reason, reviewer)
        except ReviewError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
    click.echo(f"{signed.record_id} {signed.decision} by {signed.reviewer} at {signed.decided_at.isoformat()}")


@cli.group()
def roster() -> None:
    """The roster of pensioners sent to terminals."""


@roster.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--photos", "photos", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Folder the photo column is relative to (default: the CSV's folder).")
@click.option("--region", default=None,
              help="Region code for rows without one (default: from the ID number; foreign card numbers need it).")
@click.option("--remove-missing", is_flag=True, help="The file is the whole roster: remove pensioners not in it.")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def roster_import(csv_file: Path, photos: Path | None, region: str | None, remove_missing: bool, db: str,
                  as_json: bool) -> None:
    """Import the kiosk's roster CSV (id_number,name,last_certified,photo), building reference templates."""
    with _sessions(db)() as session:
        try:
            report = import_csv(session, csv_file, photos, region=region, remove_missing=remove_missing)
        except RosterFileError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(f"added {report.added}, changed {report.changed}, unchanged {report.unchanged}, "
               f"removed {report.removed}, templates {report.templates}, bad rows {len(report.errors)}")
    for line, code, message in report.errors:
        click.echo(f"  line {line}: {message if message.startswith(code) else code + ': ' + message}", err=True)


@roster.command("export")
@click.option("--region", required=True, help="6-digit region code of the people to export.")
@click.option("--ids", "ids_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Only these ID numbers (one a line): the day's home visits.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The roster CSV to write (id_number,name,last_certified), for `kiosk roster import`.")
@_db_option
def roster_export(region: str, ids_file: Path | None, out: Path, db: str) -> None:
    """Export the roster of a day's home visits (上门认证) for the visiting staff's laptop.

    No face templates go into the file: the laptop receives them through its roster sync."""
    try:
        id_lines = ids_file.read_text(encoding="utf-8-sig").splitlines() if ids_file is not None else None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {ids_file}: {exc}", param_hint="--ids") from None
    with _sessions(db)() as session:
        try:
            report = export_visit_roster(session, out, region, id_lines)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"exported {report.exported} people of region {region} to {out}")
    for line in report.unknown_lines:
        click.echo(f"  ID list line {line}: not in the centre's roster of region {region}", err=True)
    if report.unknown_lines:
        raise SystemExit(1)


@roster.command("generate")
@click.option("--count", type=click.IntRange(1, 5_000_000), required=True, help="Pensioners to add.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--region", default="110101", show_default=True, help="Region code of the generated people.")
@click.option("--no-templates", is_flag=True, help="Generate no reference templates.")
@_db_option
def roster_generate(count: int, seed: int, region: str, no_templates: bool, db: str) -> None:
    """Add synthetic, fictitious pensioners (valid ID checksums, random templates) for load tests."""
    with _sessions(db)() as session:
        added = generate_synthetic(session, count, seed=seed, region=region, with_templates=not no_templates)
    click.echo(f"generated {added} pensioners")


@cli.command()
@_db_option
@click.option("--device", "device_id", default=None, help="Only results from this terminal.")
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def certifications(db: str, device_id: str | None, limit: int, as_json: bool) -> None:
    """Results received from terminals, newest first (face images are never printed)."""
    with _sessions(db)() as session:
        query = select(Certification).order_by(Certification.received_at.desc()).limit(limit)
        if device_id:
            query = query.where(Certification.device_id == device_id)
        rows = [{**row.record, "received_at": _utc(row.received_at).isoformat(),
                 "has_face_image": row.face_image is not None} for row in session.scalars(query)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['record_id']}  {row['device_id']:<20} {row['occurred_at']}  {row['outcome']:<16} "
                   f"{row.get('reason_code') or ''}")


@cli.command("audit")
@_db_option
@click.option("--device", "device_id", default=None, help="Only this terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per device.")
def audit_command(db: str, device_id: str | None, as_json: bool) -> None:
    """The terminals' tamper-evident trails: per device, missing record numbers (deleted), broken
    links (edited) and records signed by a key that was not the device's at that time.

    Exit status 1 when anything was found, 0 when every trail is whole.
    """
    from center.audit import audit  # noqa: PLC0415

    with _sessions(db)() as session:
        if device_id and session.get(Device, device_id) is None:
            raise click.ClickException(f"no device {device_id}")
        results = audit(session, device_id)
    if as_json:
        click.echo(json.dumps([result.as_dict() for result in results]))
    else:
        for result in results:
            click.echo(f"{result.device_id}: {result.records} records, {result.chained} numbered up to "
                       f"{result.highest}: {'whole' if result.clean else 'FINDINGS'}")
            if result.missing:
                spans = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in result.missing)
                click.echo(f"  missing numbers (deleted, or not sent yet): {spans}")
            for link in result.broken_links:
                click.echo(f"  broken link into number {link['chain_seq']} (record {link['record_id']}): record "
                           f"{link['previous_record_id'] or '-'} before it was edited")
            for duplicate in result.duplicate_numbers:
                click.echo(f"  number {duplicate['chain_seq']} used by {', '.join(duplicate['record_ids'])}")
            for wrong in result.wrong_key:
                click.echo(f"  record {wrong['record_id']} signed by key {wrong['key_id']}: {wrong['problem']}")
    if not all(result.clean for result in results):
        raise SystemExit(1)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the centre stores UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one line on stderr for any error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cli.main(args=argv, prog_name="kiosk-center", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback on screen
        log.debug("internal error", exc_info=True)
        click.echo(f"kiosk-center: internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(70)


if __name__ == "__main__":
    main()
