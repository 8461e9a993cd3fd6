"""Load test of a running centre: N simulated terminals over HTTP with real signatures, then a check
of what the database holds.

Each simulated terminal is provisioned in the centre's database with a one-time enrolment code
(:func:`provision`), makes its own Ed25519 key pair and enrols it over HTTP (:func:`enrol_body`;
every request is signed with that key), then runs ``rounds`` rounds (fewer when
the deadline passes first):

* makes ``records_per_round`` new records, built and signed exactly as the kiosk signs them
  (:func:`wire.result_record.signed_record`), and pushes them in one batch together with up to
  ``duplicates`` records it already sent (a terminal that lost an earlier answer);
* with probability ``resend_rate`` sends that same batch again at once (an answer lost on the way:
  the centre must answer ``duplicate``, never store twice);
* pulls up to ``roster_pages`` roster pages of ``page_size`` from its cursor;
* sends a heartbeat, then pauses a random think time.

A request that fails (timeout, 5xx, refused) leaves its records pending, like the terminal's outbox:
they go again in the next round, and after the last round every terminal drains what is pending
(bounded by ``drain_s``). Terminals start spread over ``ramp_s`` seconds.

Afterwards :func:`verify` reads the certifications of this run's devices: **lost** are records the
centre acknowledged (accepted or duplicate) that it does not hold, **doubled** are rows beyond one
per record id plus records the centre called ``accepted`` more than once; both must be 0. Each
terminal's records are numbered and linked (the tamper-evident trail), and ``kiosk-center audit``
must find every simulated device's trail clean (``audit_findings``: devices with a finding).
**Unsent** records (never acknowledged before the drain ended) are still in their terminal's outbox,
so not lost, and are reported apart.

Request signing is in ONE function, :func:`request_headers`, and enrolment in :func:`enrol_body`,
so a change of the authentication scheme changes those two places.

Thread rules: :func:`run_load` runs its own asyncio loop in the calling thread; the RSS sampler is
a daemon thread reading /proc only.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from center.audit import audit
from center.db import Certification, Device, Pensioner
from center.enrolment import issue_code
from wire import signing
from wire.api import PATH_ENROL, PATH_HEARTBEAT, PATH_RESULTS, PATH_ROSTER
from wire.codes import RecordVerdict
from wire.result_record import chain_hash, content_digest, signed_record

ACKNOWLEDGED = (RecordVerdict.ACCEPTED, RecordVerdict.DUPLICATE)


@dataclass
class LoadPlan:
    """How much load: every bound is a count or a time, so a run always ends."""

    terminals: int = 20
    rounds: int = 3
    records_per_round: int = 5
    duplicates: int = 2
    resend_rate: float = 0.2
    roster_pages: int = 2
    page_size: int = 100
    duration_s: float = 120.0
    drain_s: float = 60.0
    ramp_s: float = 5.0
    think_s: float = 1.0
    timeout_s: float = 30.0
    seed: int = 1


@dataclass
class Terminal:
    """One simulated terminal: its credentials, its key, its outbox and what the centre told it."""

    device_id: str
    enrolment_code: str  # one-time, from the centre; spent at first contact
    key: Ed25519PrivateKey = field(default_factory=signing.new_signing_key)
    cursor: int = 0
    chain_seq: int = 0  # number of the last record made (the tamper-evident trail: 1, 2, 3 ...)
    last_hash: str = ""  # chain_hash of that record; "" before the first
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # record_id -> wire dict, not yet acknowledged
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # acknowledged

    @property
    def key_id(self) -> str:
        return signing.key_id(signing.public_key_text(self.key))


@dataclass
class Tally:
    """What every terminal saw, for the report (latencies in seconds, by request kind)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: Counter = field(default_factory=Counter)  # "kind:status or exception"
    created: dict[str, str] = field(default_factory=dict)  # record_id -> content digest
    acknowledged: set[str] = field(default_factory=set)
    accepted: Counter = field(default_factory=Counter)  # record_id -> times answered "accepted"
    duplicate_answers: int = 0  # receipts "duplicate": resends and repeats the centre recognised
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    pages: int = 0
    roster_rows: int = 0

    def observe(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


# -- the two places that know how a terminal authenticates ----------------------------------------
def request_headers(terminal: Terminal, method: str, path: str, body: bytes) -> dict[str, str]:
    """The authentication headers of one request (path with its query, exact body bytes), signed
    with the terminal's own Ed25519 key as the kiosk signs them."""
    headers = signing.sign_request(terminal.key, terminal.device_id, method, path, body, int(time.time()))
    return {**headers.as_dict(), "Content-Type": "application/json"}


def enrol_body(terminal: Terminal) -> dict[str, Any]:
    """What the terminal sends to ``/v1/enrol`` at first contact: its code and its public key."""
    return {"enrolment_code": terminal.enrolment_code, "public_key": signing.public_key_text(terminal.key)}


def provision(sessions: sessionmaker[Session], count: int, run_id: str) -> list[Terminal]:
    """Creates ``count`` devices named ``LOAD-<run_id>-<n>`` in the centre's database, each with a
    one-time enrolment code as ``kiosk-center device add`` issues it."""
    terminals = []
    with sessions() as session:
        for index in range(count):
            device = Device(device_id=f"LOAD-{run_id}-{index:05d}", name=f"load test {run_id}")
            terminals.append(Terminal(device_id=device.device_id, enrolment_code=issue_code(device, hours=24)))
            session.add(device)
        session.commit()
    return terminals


def new_record(terminal: Terminal, id_numbers: list[str], rng: random.Random) -> dict[str, Any]:
    """A fresh certification record, numbered and linked into the terminal's trail and signed with
    its key the way the kiosk does."""
    terminal.chain_seq += 1
    record = signed_record(
        terminal.key, record_id=str(uuid.uuid4()), device_id=terminal.device_id, key_id=terminal.key_id,
        id_number=rng.choice(id_numbers) if id_numbers else None, session_id=uuid.uuid4().hex,
        occurred_at=datetime.now(timezone.utc), region_code="110101", outcome="certified", attempt=1,
        scores={"liveness_score": round(rng.uniform(0.8, 1.0), 3), "match_distance": round(rng.uniform(0.2, 0.35), 3)},
        chain_seq=terminal.chain_seq, prev_hash=terminal.last_hash).wire_dict()
    terminal.last_hash = chain_hash(record)
    return record


def _error_code(answer: httpx.Response) -> str:
    """The protocol's error code of a refusal, or "" when the body is not the error envelope."""
    try:
        return str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


# -- one terminal ----------------------------------------------------------------------------------
class _Simulation:
    def __init__(self, client: httpx.AsyncClient, plan: LoadPlan, tally: Tally, id_numbers: list[str],
                 deadline: float) -> None:
        self.client, self.plan, self.tally, self.id_numbers, self.deadline = client, plan, tally, id_numbers, deadline

    async def call(self, terminal: Terminal, kind: str, method: str, path: str,
                   payload: Any = None) -> dict[str, Any] | None:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        started = time.perf_counter()
        try:
            answer = await self.client.request(method, path, content=body,
                                               headers=request_headers(terminal, method, path, body))
        except httpx.HTTPError as exc:
            self.tally.failures[f"{kind}:{type(exc).__name__}"] += 1
            return None
        self.tally.observe(kind, time.perf_counter() - started)
        if answer.status_code != 200:
            self.tally.failures[f"{kind}:{answer.status_code} {_error_code(answer)}".strip()] += 1
            return None
        return answer.json()

    async def push(self, terminal: Terminal, records: list[dict[str, Any]]) -> None:
        answer = await self.call(terminal, "push", "POST", PATH_RESULTS, {"records": records})
        if answer is None:
            return  # stays pending: sent again next round
        for receipt in answer["receipts"]:
            record_id, status = receipt["record_id"], receipt["status"]
            if status == RecordVerdict.ACCEPTED:
                self.tally.accepted[record_id] += 1
            elif status == RecordVerdict.DUPLICATE:
                self.tally.duplicate_answers += 1
            if status in ACKNOWLEDGED:
                self.tally.acknowledged.add(record_id)
                record = terminal.pending.pop(record_id, None)
                if record is not None:
                    terminal.sent[record_id] = record
            else:
                self.tally.rejected[receipt.get("reason") or status] += 1
                terminal.pending.pop(record_id, None)  # set aside, as the kiosk does

    async def round(self, terminal: Terminal, rng: random.Random) -> None:
        for _ in range(self.plan.records_per_round):
            record = new_record(terminal, self.id_numbers, rng)
            terminal.pending[record["record_id"]] = record
            self.tally.created[record["record_id"]] = content_digest(record)
        already = rng.sample(list(terminal.sent.values()), min(self.plan.duplicates, len(terminal.sent)))
        batch = list(terminal.pending.values())[:500] + already
        rng.shuffle(batch)
        await self.push(terminal, batch)
        if rng.random() < self.plan.resend_rate:
            await self.push(terminal, batch)
        for _ in range(self.plan.roster_pages):
            page = await self.call(terminal, "pull", "GET", f"{PATH_ROSTER}?cursor={terminal.cursor}&limit={self.plan.page_size}")
            if page is None:
                break
            self.tally.pages += 1
            self.tally.roster_rows += len(page["changes"])
            terminal.cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        await self.call(terminal, "heartbeat", "POST", PATH_HEARTBEAT,
                        {"software_version": "loadtest", "pending": len(terminal.pending), "rejected": 0})

    async def life(self, terminal: Terminal, index: int) -> None:
        rng = random.Random(self.plan.seed * 1_000_003 + index)
        await asyncio.sleep(rng.uniform(0, self.plan.ramp_s))
        while await self.call(terminal, "enrol", "POST", PATH_ENROL, enrol_body(terminal)) is None:
            if time.monotonic() > self.deadline:
                return
            await asyncio.sleep(1.0)
        for _ in range(self.plan.rounds):
            if time.monotonic() > self.deadline:
                break
            await self.round(terminal, rng)
            await asyncio.sleep(rng.uniform(0, self.plan.think_s))

    async def drain(self, terminal: Terminal, drain_deadline: float) -> None:
        while terminal.pending and time.monotonic() < drain_deadline:
            await self.push(terminal, list(terminal.pending.values())[:500])
            if terminal.pending:
                await asyncio.sleep(0.5)


async def _simulate(base_url: str, terminals: list[Terminal], plan: LoadPlan, id_numbers: list[str],
                    tally: Tally) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=len(terminals), max_keepalive_connections=len(terminals))
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(plan.timeout_s), limits=limits) as client:
        started = time.monotonic()
        simulation = _Simulation(client, plan, tally, id_numbers, started + plan.duration_s)
        await asyncio.gather(*(simulation.life(terminal, index) for index, terminal in enumerate(terminals)))
        load_s = time.monotonic() - started
        drain_deadline = time.monotonic() + plan.drain_s
        await asyncio.gather(*(simulation.drain(terminal, drain_deadline) for terminal in terminals))
        return load_s, time.monotonic() - started


# -- measuring the centre --------------------------------------------------------------------------
def process_tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and all its descendants (Linux /proc); 0 when gone."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class RssSampler:
    """Samples :func:`process_tree_rss` of some processes every ``interval_s`` on a daemon thread."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.5) -> None:
        self.pids, self.interval_s = pids, interval_s
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], process_tree_rss(pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# -- the check in the database, and the report -----------------------------------------------------
def verify(sessions: sessionmaker[Session], run_id: str, tally: Tally) -> dict[str, int]:
    """Compares what the centre holds for this run's devices with what the terminals were told."""
    with sessions() as session:
        devices = Certification.device_id.like(f"LOAD-{run_id}-%")
        rows, distinct = session.execute(select(func.count(), func.count(func.distinct(Certification.record_id)))
                                         .where(devices)).one()
        stored = dict(session.execute(select(Certification.record_id, Certification.content_digest).where(devices)).all())
        run_devices = list(session.scalars(select(Device.device_id).where(Device.device_id.like(f"LOAD-{run_id}-%"))))
        unclean = sum(1 for device in run_devices for found in audit(session, device) if not found.clean)
    acknowledged = tally.acknowledged
    return {
        "records_created": len(tally.created),
        "records_stored": len(stored),
        "lost": len(acknowledged - stored.keys()),
        "doubled": int(rows) - int(distinct) + sum(1 for times in tally.accepted.values() if times > 1),
        "unsent": len(tally.created.keys() - acknowledged),
        "unexpected": len(stored.keys() - tally.created.keys()),
        "altered": sum(1 for record_id, digest in stored.items() if tally.created.get(record_id, digest) != digest),
        "rejected": sum(tally.rejected.values()),
        "duplicate_answers": tally.duplicate_answers,
        "audit_findings": unclean,  # devices whose trail `kiosk-center audit` does not find clean
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"count": len(ordered), "p50_ms": round(at(0.50) * 1000, 1), "p95_ms": round(at(0.95) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1), "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


def run_load(base_url: str, sessions: sessionmaker[Session], plan: LoadPlan, *,
             server_pids: dict[str, int] | None = None) -> dict[str, Any]:
    """Provisions ``plan.terminals`` devices, runs the simulation against ``base_url`` and verifies
    it in the database of ``sessions``; returns the report (JSON-ready)."""
    run_id = uuid.uuid4().hex[:8]
    terminals = provision(sessions, plan.terminals, run_id)
    with sessions() as session:
        id_numbers = list(session.scalars(select(Pensioner.id_number).where(Pensioner.removed.is_(False)).limit(1000)))
    tally = Tally()
    with RssSampler(server_pids or {}) as sampler:
        load_s, total_s = asyncio.run(_simulate(base_url, terminals, plan, id_numbers, tally))
    checks = verify(sessions, run_id, tally)
    all_latencies = [value for values in tally.latencies.values() for value in values]
    requests = len(all_latencies) + sum(tally.failures.values())
    return {
        "run_id": run_id, "terminals": plan.terminals, "plan": plan.__dict__,
        **checks,
        "load_s": round(load_s, 1), "total_s": round(total_s, 1),
        "records_per_s": round(checks["records_stored"] / load_s, 1) if load_s else 0.0,
        "requests": requests, "requests_per_s": round(requests / total_s, 1) if total_s else 0.0,
        "latency": {"all": _percentiles(all_latencies),
                    **{kind: _percentiles(values) for kind, values in sorted(tally.latencies.items())}},
        "failures": dict(tally.failures), "rejections": dict(tally.rejected),
        "roster_pages": tally.pages, "roster_rows": tally.roster_rows,
        "centre_rss_mb": {name: round(peak / 2**20, 1) for name, peak in sampler.peak.items()},
        "client_rss_mb": round(process_tree_rss(os.getpid()) / 2**20, 1),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines for people."""
    latency = report["latency"]
    lines = [
        f"terminals {report['terminals']}  requests {report['requests']} ({report['requests_per_s']}/s)  "
        f"load {report['load_s']} s, with drain {report['total_s']} s",
        f"records created {report['records_created']}  stored {report['records_stored']}  "
        f"LOST {report['lost']}  DOUBLED {report['doubled']}  unsent {report['unsent']}  "
        f"rejected {report['rejected']}  unexpected {report['unexpected']}  altered {report['altered']}  "
        f"(duplicates answered as such: {report['duplicate_answers']}; devices with audit findings "
        f"{report['audit_findings']})",
        f"records/s {report['records_per_s']}  roster pages {report['roster_pages']} ({report['roster_rows']} rows)",
    ]
    for kind, stats in latency.items():
        if stats.get("count"):
            lines.append(f"latency {kind:<9} n={stats['count']:<6} p50 {stats['p50_ms']} ms  p95 {stats['p95_ms']} ms  "
                         f"max {stats['max_ms']} ms")
    if report["failures"]:
        lines.append("failed requests (retried): " + ", ".join(f"{k} x{v}" for k, v in sorted(report["failures"].items())))
    if report["centre_rss_mb"]:
        lines.append("peak RSS (MB): " + ", ".join(f"{k} {v}" for k, v in report["centre_rss_mb"].items())
                     + f"; load tool {report['client_rss_mb']}")
    return "\n".join(lines)
