"""The centre's roster: import from the roster CSV, synthetic rosters for load tests, delta pages.

The CSV is the one the terminals import (``id_number,name,last_certified,photo``, UTF-8 or GB18030,
dates as typed in Excel), parsed by the same parser (:mod:`wire.roster_csv`, with the card reader's
ID number rule :func:`reader.idnumber.parse_card_number`) so both sides agree on every row. The region is ``--region`` or, when absent, the first six digits of each ID number (a foreign
permanent resident card number has none: such a row needs ``--region``). ``photo`` is
relative to the photos folder; a reference template is built from it with the project's matcher
(``camera.matching.template_from_image_file``, imported only when a photo is present), and only when
the photo's content (SHA-256, kept with the row) differs from the one the row's templates came from:
a corrected photo under the same name is encoded again, an unchanged one never is. A photo that gives
no template leaves the row without templates rather than with the old photo's.

An import runs in one transaction: either the whole file is applied or nothing. A row whose content
did not change keeps its ``seq``, so re-importing the same file sends terminals nothing new. A bad row
is reported by line number and reason code (never by name or ID number) and skipped.

Thread rules: functions take a session owned by the calling thread.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from center.db import Pensioner, next_seq, utcnow
from center.review import decisions_for
from reader.idnumber import check_character, parse_card_number
from wire.roster_csv import (CHINA_STANDARD_TIME, RosterFormatError, RosterRow, decode_roster, parse_roster,
                             photo_sha256)
from wire.codes import reason_code
from wire.schemas import RosterChange, RosterPage
from wire.template_codec import encode_template

log = logging.getLogger(__name__)

TemplateMaker = Callable[[Path], np.ndarray]


@dataclass
class ImportReport:
    """What an import did. ``errors``: (line number, reason code, technician message)."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    templates: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged, "removed": self.removed,
                "templates": self.templates,
                "errors": [{"line": line, "code": code, "message": message} for line, code, message in self.errors]}


class RosterFileError(Exception):
    """The file as a whole cannot be imported (missing, unreadable, wrong columns); nothing was changed."""


def default_template_maker() -> TemplateMaker:
    """The project's matcher, imported lazily (dlib models are loaded only when a photo is present)."""
    from camera.matching import template_from_image_file  # noqa: PLC0415 - heavy, optional

    return template_from_image_file


def import_csv(session: Session, csv_path: Path, photos_dir: Path | None, *, region: str | None = None,
               remove_missing: bool = False, template_maker: TemplateMaker | None = None) -> ImportReport:
    """Applies a roster CSV in one transaction and returns the report (commits on success).

    Raises :class:`RosterFileError` when the file cannot be read or lacks a required column, or
    when photos are listed but the matcher cannot be imported; nothing is changed then.
    """
    if region is not None and not (len(region) == 6 and region.isascii() and region.isdigit()):  # #13
        raise RosterFileError(f"region {region!r} is not a 6-digit GB/T 2260 code")
    rows, report = _parse(csv_path, photos_dir or csv_path.parent)
    existing = {row.id_number: row for row in session.scalars(select(Pensioner))}
    seq = next_seq(session)
    seen: set[str] = set()
    maker = template_maker
    for row in rows:
        seen.add(row.id_number)
        # A resident ID number or residence permit starts with its GB/T 2260 region; a foreign
        # permanent resident card number carries none.
        row_region = region or (row.id_number[:6] if row.card_kind == "resident" else None)
        if row_region is None:
            report.errors.append((row.line, "roster_region_unknown",
                                  "a foreign permanent resident card number names no region: import with --region"))
            continue
        current = existing.get(row.id_number)
        alive = current is not None and not current.removed
        templates = list(current.templates) if alive else []
        source = current.template_source if alive else ""
        digest = current.photo_sha256 if alive else None
        if row.photo is not None:
            content = photo_sha256(row.photo)
            if content is None:
                # An unreadable or not yet delivered file is no new content: the row keeps what it has.
                report.errors.append((row.line, "roster_photo_missing", "the photo file does not exist"))
            elif content != digest or not templates:
                maker = maker or _load_maker()
                try:
                    templates, source, digest = [encode_template(maker(row.photo))], "roster_photo", content
                    report.templates += 1
                except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the import
                    # The roster names a photo that gives no template: whatever the row had was built
                    # from other content (maybe somebody else's face), so it goes.
                    templates, source, digest = [], "", None
                    code = reason_code(exc, "roster_photo_unusable")
                    report.errors.append((row.line, code, "no template from the photo; the row has none now"))
        values = {"name": row.name, "region_code": row_region,
                  "last_certified": row.last_certified, "templates": templates, "template_source": source,
                  "photo_sha256": digest, "removed": False}
        if current is None:
            session.add(Pensioner(id_number=row.id_number, seq=seq, updated_at=utcnow(), **values))
            report.added += 1
        elif any(getattr(current, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(current, key, value)
            current.seq, current.updated_at = seq, utcnow()
            report.changed += 1
        else:
            report.unchanged += 1
            continue
        seq += 1
    if remove_missing:
        for id_number, current in existing.items():
            if id_number not in seen and not current.removed:
                current.removed, current.templates, current.photo_sha256 = True, [], None
                current.seq, current.updated_at = seq, utcnow()
                seq += 1
                report.removed += 1
    session.commit()
    log.info("roster import: %d added, %d changed, %d removed, %d row errors", report.added, report.changed,
             report.removed, len(report.errors))
    return report


def _parse(csv_path: Path, photo_root: Path) -> tuple[list[RosterRow], ImportReport]:
    try:
        raw = csv_path.read_bytes()
    except FileNotFoundError:
        raise RosterFileError(f"roster file {csv_path} does not exist") from None
    except OSError as exc:
        raise RosterFileError(f"roster file {csv_path} cannot be read: {exc.strerror}") from None
    try:
        rows, problems, _notes = parse_roster(decode_roster(raw), today=datetime.now(CHINA_STANDARD_TIME).date(),
                                              photo_root=photo_root, card_number=parse_card_number)
    except RosterFormatError as exc:
        raise RosterFileError(f"roster file {csv_path}: {exc}") from None
    report = ImportReport(errors=[(problem.line, problem.code, problem.hint) for problem in problems])
    return rows, report


def _load_maker() -> TemplateMaker:
    try:
        return default_template_maker()
    except ImportError as exc:
        # Nothing is committed: the caller's session rolls the transaction back.
        raise RosterFileError(f"photos need the project's matcher (camera.matching), which cannot be "
                              f"imported here: {exc}") from None


def generate_synthetic(session: Session, count: int, *, seed: int = 1, region: str = "110101",
                       with_templates: bool = True) -> int:
    """Adds ``count`` synthetic pensioners (valid, checksummed, fictitious ID numbers; random unit
    templates) for load tests and benchmarks. Returns how many were added. Commits once.
    """
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed)
    seq = next_seq(session)
    start = date(1930, 1, 1)
    added = 0
    rows = []
    span_days = 365 * 35
    for index in range(count):
        # Birth date and serial both come from the index, so numbers are unique up to 12 million.
        born = start + timedelta(days=(index * 7919 + seed) % span_days)
        first17 = f"{region}{born:%Y%m%d}{(index // span_days) % 1000:03d}"
        id_number = first17 + check_character(first17)
        templates = []
        if with_templates:
            vector = vectors.normal(size=128)
            templates = [encode_template(vector / np.linalg.norm(vector) * 0.9)]
        rows.append({"id_number": id_number, "name": f"测试{index:06d}", "region_code": region,
                     "last_certified": date(2026, 1, 1) - timedelta(days=rng.randrange(0, 400)),
                     "templates": templates, "template_source": "center" if templates else "",
                     "photo_sha256": None, "removed": False, "seq": seq + added, "updated_at": utcnow()})
        added += 1
    unique = list({row["id_number"]: row for row in rows}.values())
    # One upsert (ON CONFLICT DO UPDATE) replaces people generated before with the same numbers. A
    # DELETE ... IN (500 numbers) per chunk first was quadratic on PostgreSQL: a table filled in
    # the same run has no statistics yet, and the planner scanned it for every chunk.
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Pensioner.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["id_number"], set_={name: statement.excluded[name] for name in unique[0] if name != "id_number"})
    for start_at in range(0, len(unique), 10_000):
        session.execute(statement, unique[start_at:start_at + 10_000])
    session.commit()
    return len(unique)


def delta_page(session: Session, cursor: int, limit: int) -> RosterPage:
    """The roster changes after ``cursor`` (at most ``limit``), oldest first."""
    rows = list(session.scalars(select(Pensioner).where(Pensioner.seq > cursor).order_by(Pensioner.seq).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    reviews = decisions_for(session, {row.review_record_id for row in rows if row.review_record_id and not row.removed})
    changes = [RosterChange(seq=row.seq, op="remove", id_number=row.id_number) if row.removed else
               RosterChange(seq=row.seq, op="upsert", id_number=row.id_number, name=row.name,
                            region_code=row.region_code, last_certified=row.last_certified,
                            templates=list(row.templates or []), template_source=row.template_source,
                            review=reviews.get(row.review_record_id or ""))
               for row in rows]
    return RosterPage(changes=changes, next_cursor=rows[-1].seq if rows else cursor, has_more=has_more)


VISIT_ROSTER_COLUMNS = ("id_number", "name", "last_certified")
"""The columns of a day's visit roster: the roster file's own (``wire.roster_csv``), without photos."""


@dataclass(frozen=True)
class VisitRosterExport:
    """What :func:`export_visit_roster` wrote: ``exported`` people, and the line numbers of the ID
    list whose number the centre does not hold (or holds as removed) in the region."""

    exported: int
    unknown_lines: tuple[int, ...] = ()


def export_visit_roster(session: Session, out: Path, region: str, id_lines: list[str] | None = None
                        ) -> VisitRosterExport:
    """Writes the roster of a day's home visits (issue 19) as a roster CSV that ``kiosk roster import``
    reads: everyone of ``region`` (a 6-digit code), or only the ID numbers of ``id_lines`` (one a
    line; blank lines and ``#`` comments skipped).

    No face template goes into the file: a file carried on a stick must not hold biometric data in
    clear, and the laptop receives the templates through its signed, authenticated roster sync
    before it leaves. Written atomically (a temporary file renamed). Raises ValueError for a bad
    region code or an ID line that is no valid number (by line, never the number).
    """
    if not (len(region) == 6 and region.isascii() and region.isdigit()):
        raise ValueError("a region code is 6 digits")
    query = select(Pensioner).where(Pensioner.region_code == region, Pensioner.removed.is_(False))
    wanted: dict[str, int] | None = None
    if id_lines is not None:
        wanted = {}
        for number, line in enumerate(id_lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                wanted.setdefault(parse_card_number(text).value, number)
            except ValueError:
                raise ValueError(f"ID list line {number}: not a valid ID number") from None
        query = query.where(Pensioner.id_number.in_(list(wanted)))
    rows = list(session.scalars(query.order_by(Pensioner.id_number)))
    found = {row.id_number for row in rows}
    unknown = tuple(sorted(line for number, line in (wanted or {}).items() if number not in found))
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(VISIT_ROSTER_COLUMNS)
        for row in rows:
            writer.writerow([row.id_number, row.name, row.last_certified.isoformat() if row.last_certified else ""])
    partial.replace(out)
    log.info("visit roster of region %s: %d exported, %d unknown", region, len(rows), len(unknown))
    return VisitRosterExport(len(rows), unknown)
