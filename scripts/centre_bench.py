#!/usr/bin/env python3
"""The centre's bench (`make bench-centre`): a provincial roster and a thousand terminals on PostgreSQL.

Starts a private PostgreSQL server (tests/postgres_harness.py: Debian's initdb/pg_ctl in a temporary
folder, fsync ON as in production), then measures and prints:

1. **roster**: ``roster generate`` of ``--roster`` synthetic pensioners with templates (the bulk
   path), the import of a roster CSV of the same size through ``roster import``'s code
   (``import_csv``: first import, then the same file again, which must change nothing and encode no
   photo), and the time for a new terminal to pull its delta from cursor 0 over HTTP with signed
   requests, in pages of the protocol's largest size. The protocol has no region filter: a new
   terminal's delta is the whole provincial roster, so that is what is timed;
2. **load**: ``kiosk-center loadtest`` with ``--terminals`` simulated terminals against
   ``kiosk-center serve --workers N`` on the same database: lost and doubled records (must be 0),
   p50/p95 latency, records/s, peak RSS of the centre's processes and of PostgreSQL.

Numbers only, no pass/fail on time. Example (the figures in the issue's closing note)::

    python scripts/centre_bench.py --roster 1000000 --terminals 1000 --workers 2

Needs the ``postgresql`` Debian package (`make` installs it). Runs as root too (the server then runs
as ``nobody``, see the harness).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from postgres_harness import PostgresServer  # noqa: E402

from center.db import Pensioner, make_engine, session_factory  # noqa: E402
from center.loadtest import LoadPlan, format_report, process_tree_rss, run_load  # noqa: E402
from center.provincial_roster import generate_synthetic, import_csv  # noqa: E402


def _say(text: str) -> None:
    print(text, flush=True)


def roster_bench(url: str, import_url: str, count: int, regions: int) -> dict[str, float | int]:
    """Times the bulk generation of ``count`` rows into ``url``, then the import of the same people as
    a roster CSV into the empty ``import_url`` and the re-import of that unchanged file."""
    from sqlalchemy import func, select  # noqa: PLC0415

    results: dict[str, float | int] = {"roster": count}
    sessions = session_factory(make_engine(url))
    per_region = count // regions
    started = time.perf_counter()
    for index in range(regions):
        with sessions() as session:
            generate_synthetic(session, per_region + (count % regions if index == 0 else 0), seed=index + 1,
                               region=f"{110101 + index:06d}")
    results["generate_s"] = round(time.perf_counter() - started, 1)
    _say(f"roster generate: {count} pensioners with templates in {results['generate_s']} s")
    with tempfile.TemporaryDirectory() as folder:
        csv_file = Path(folder) / "roster.csv"
        with sessions() as session:  # the generated people as the roster CSV a province would export
            rows = session.execute(select(Pensioner.id_number, Pensioner.name, Pensioner.last_certified)).all()
        csv_file.write_text("id_number,name,last_certified,photo\n" + "".join(
            f"{id_number},{name},{certified or ''},\n" for id_number, name, certified in rows), encoding="utf-8")
        del rows
        importing = session_factory(make_engine(import_url))
        for label in ("import_s", "reimport_s"):
            started = time.perf_counter()
            with importing() as session:
                report = import_csv(session, csv_file, None)
            results[label] = round(time.perf_counter() - started, 1)
            results[label.replace("_s", "_changed")] = report.added + report.changed
            results[label.replace("_s", "_templates")] = report.templates
            _say(f"roster import ({'first' if label == 'import_s' else 'same file again'}): {results[label]} s, "
                 f"added {report.added}, changed {report.changed}, unchanged {report.unchanged}, "
                 f"photos encoded {report.templates}, bad rows {len(report.errors)}")
    with sessions() as session:
        results["rows"] = int(session.scalar(select(func.count()).select_from(Pensioner)))
    return results


def pull_bench(base_url: str, url: str) -> dict[str, float | int]:
    """A new terminal pulls the roster from cursor 0 to the end, pages of the largest size."""
    import httpx  # noqa: PLC0415

    from center.loadtest import enrol_body, provision, request_headers  # noqa: PLC0415
    from wire.api import MAX_ROSTER_PAGE, PATH_ENROL, PATH_ROSTER  # noqa: PLC0415

    sessions = session_factory(make_engine(url))
    terminal = provision(sessions, 1, "pull")[0]
    cursor, rows, pages, size = 0, 0, 0, 0
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=300) as client:
        body = json.dumps(enrol_body(terminal)).encode()
        client.post(PATH_ENROL, content=body, headers=request_headers(terminal, "POST", PATH_ENROL, body)).raise_for_status()
        while True:
            path = f"{PATH_ROSTER}?cursor={cursor}&limit={MAX_ROSTER_PAGE}"
            answer = client.get(path, headers=request_headers(terminal, "GET", path, b""))
            answer.raise_for_status()
            page = answer.json()
            size += len(answer.content)
            rows += len(page["changes"])
            pages += 1
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    seconds = time.perf_counter() - started
    result = {"pull_rows": rows, "pull_pages": pages, "pull_s": round(seconds, 1), "pull_mb": round(size / 2**20, 1),
              "pull_rows_per_s": round(rows / seconds, 1)}
    _say(f"new terminal pulls the roster from cursor 0: {rows} rows in {pages} pages of {MAX_ROSTER_PAGE}, "
         f"{result['pull_mb']} MB, {result['pull_s']} s ({result['pull_rows_per_s']} rows/s)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roster", type=int, default=1_000_000, help="synthetic pensioners (0: skip the roster part)")
    parser.add_argument("--regions", type=int, default=10, help="regions the roster is spread over")
    parser.add_argument("--terminals", type=int, default=1000, help="simulated terminals (0: skip the load part)")
    parser.add_argument("--workers", type=int, default=2, help="centre worker processes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=600)
    parser.add_argument("--ramp-s", type=float, default=30)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the private PostgreSQL server is stopped and its folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from center.cli import _served  # noqa: PLC0415 - `loadtest`'s own server start and stop

    figures: dict[str, object] = {}
    # Enough connections for every worker's pool (5 + 10 overflow) plus the bench's own.
    with PostgresServer(durable=True, max_connections=max(100, 20 * args.workers + 40)) as server:
        url = server.create_database("bench")
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        _say(f"PostgreSQL from {server.bin_dir} (fsync on), centre with {args.workers} workers")
        if args.roster:
            import_url = server.create_database("import")
            figures.update(roster_bench(url, import_url, args.roster, args.regions))
            server.drop_database(import_url)
        with _served(url, args.workers) as (base_url, pid):
            if args.roster:
                figures.update(pull_bench(base_url, url))
            if args.terminals:
                plan = LoadPlan(terminals=args.terminals, rounds=args.rounds, duration_s=args.duration_s,
                                ramp_s=args.ramp_s, drain_s=300, think_s=2.0)
                report = run_load(base_url, session_factory(make_engine(url)), plan,
                                  server_pids={f"centre ({args.workers} workers)": pid, "postgresql": postmaster})
                _say(format_report(report))
                figures["load"] = report
            figures["centre_rss_after_mb"] = round(process_tree_rss(pid) / 2**20, 1)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    load = figures.get("load")
    return 1 if isinstance(load, dict) and (load["lost"] or load["doubled"]) else 0


if __name__ == "__main__":
    sys.exit(main())
