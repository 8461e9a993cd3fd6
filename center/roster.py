"""The centre's roster: import from the kiosk's CSV, synthetic rosters for load tests, delta pages.

CSV columns (the same file the kiosk imports): ``id_number,name,last_certified,photo`` and optionally
``region_code`` (else ``--region``, else the first six digits of the ID number). ``photo`` is a path
relative to the photos folder; a reference template is built from it with the project's matcher
(``camera.matching.template_from_image_file``, imported only when a photo is present).

An import runs in one transaction: either the whole file is applied or nothing. A row whose content
did not change keeps its ``seq``, so re-importing the same file sends terminals nothing new. A bad row
is reported by line number and reason code (never by name or ID number) and skipped.

Thread rules: functions take a session owned by the calling thread.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.db import Pensioner, next_seq, utcnow
from center.schemas import RosterChange, RosterPage
from kiosk.sync.protocol import encode_template
from reader.idnumber import InvalidIdNumber, check_character, parse_id_number

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id_number", "name", "last_certified", "photo")
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

    Raises :class:`RosterFileError` when the file cannot be read or lacks a required column.
    """
    rows = list(_read_rows(csv_path))
    report = ImportReport()
    existing = {row.id_number: row for row in session.scalars(select(Pensioner))}
    seq = next_seq(session)
    seen: set[str] = set()
    maker = template_maker
    for line, row in rows:
        try:
            id_number, name, last_certified, region_code = _validate(row, region)
        except ValueError as exc:
            report.errors.append((line, str(exc).split(":")[0], str(exc)))
            continue
        if id_number in seen:
            report.errors.append((line, "roster_duplicate_row", "roster_duplicate_row: this ID number appears earlier in the file"))
            continue
        seen.add(id_number)
        current = existing.get(id_number)
        templates = list(current.templates) if current is not None and not current.removed else []
        source = current.template_source if current is not None and not current.removed else ""
        photo = (row.get("photo") or "").strip()
        if photo:
            if maker is None:
                try:
                    maker = default_template_maker()
                except ImportError as exc:
                    # Nothing is committed: the session's transaction is rolled back by the caller.
                    raise RosterFileError(f"photos need the project's matcher (camera.matching), which cannot be "
                                          f"imported here: {exc}") from None
            try:
                templates, source = [encode_template(maker((photos_dir or csv_path.parent) / photo))], "roster_photo"
                report.templates += 1
            except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the import
                code = str(getattr(exc, "code", "") or "roster_photo_unusable")
                report.errors.append((line, code, f"{code}: no template from the photo; the row is kept without a new one"))
        values = {"name": name, "region_code": region_code, "last_certified": last_certified,
                  "templates": templates, "template_source": source, "removed": False}
        if current is None:
            session.add(Pensioner(id_number=id_number, seq=seq, updated_at=utcnow(), **values))
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
                current.removed, current.templates, current.seq, current.updated_at = True, [], seq, utcnow()
                seq += 1
                report.removed += 1
    session.commit()
    log.info("roster import: %d added, %d changed, %d removed, %d row errors", report.added, report.changed,
             report.removed, len(report.errors))
    return report


def _read_rows(csv_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterFileError(f"roster file {csv_path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterFileError(f"roster file {csv_path} cannot be read as UTF-8 text: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise RosterFileError(f"roster file {csv_path} lacks the column(s) {', '.join(missing)} "
                              f"(expected header: {','.join(REQUIRED_COLUMNS)})")
    for index, row in enumerate(reader, start=2):
        yield index, {key: (value or "") for key, value in row.items() if key is not None}


def _validate(row: dict[str, str], region: str | None) -> tuple[str, str, date | None, str]:
    raw_id = row.get("id_number", "").strip().upper()
    try:
        id_number = parse_id_number(raw_id).value
    except InvalidIdNumber as exc:
        raise ValueError(f"{exc.code}: the ID number is not valid") from None
    name = row.get("name", "").strip()
    if not name or len(name) > 64:
        raise ValueError("roster_name_invalid: the name is empty or longer than 64 characters")
    text = row.get("last_certified", "").strip()
    try:
        last_certified = date.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError("roster_date_invalid: last_certified is not a date YYYY-MM-DD") from None
    region_code = (row.get("region_code") or "").strip() or region or id_number[:6]
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise ValueError("roster_region_invalid: region_code is not 6 digits")
    return id_number, name, last_certified, region_code


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
                     "templates": templates, "template_source": "centre" if templates else "",
                     "removed": False, "seq": seq + added, "updated_at": utcnow()})
        added += 1
    unique = {row["id_number"]: row for row in rows}
    ids = list(unique)
    for start_at in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        session.execute(Pensioner.__table__.delete().where(Pensioner.id_number.in_(ids[start_at:start_at + 500])))
    session.execute(Pensioner.__table__.insert(), list(unique.values()))
    session.commit()
    return len(unique)


def delta_page(session: Session, cursor: int, limit: int) -> RosterPage:
    """The roster changes after ``cursor`` (at most ``limit``), oldest first."""
    rows = list(session.scalars(select(Pensioner).where(Pensioner.seq > cursor).order_by(Pensioner.seq).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = [RosterChange(seq=row.seq, op="remove", id_number=row.id_number) if row.removed else
               RosterChange(seq=row.seq, op="upsert", id_number=row.id_number, name=row.name,
                            region_code=row.region_code, last_certified=row.last_certified,
                            templates=list(row.templates or []), template_source=row.template_source)
               for row in rows]
    return RosterPage(changes=changes, next_cursor=rows[-1].seq if rows else cursor, has_more=has_more)
