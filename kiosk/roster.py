"""Roster import for hall staff: a CSV file of pensioners (from the centre or typed in Excel).

Columns: ``id_number,name,last_certified,photo`` (``last_certified`` and ``photo`` optional). A row
with a bad ID number (GB 11643), a bad date, a missing name or a value in an unknown column is
reported by line number and skipped; the others are imported in one pass, and importing the same
file again updates rows, never duplicates them. Problems are reported by line and reason code,
never with the name or the number in them (the report may end up in a log or on a shared screen).

Encodings: UTF-8 with or without BOM, and GB18030 (what Excel on Chinese Windows writes as "CSV").
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kiosk.errors import KeyUnavailableError, RosterImportError
from kiosk.store import Pensioner, Store
from reader.idnumber import InvalidIdNumber, parse_card_number

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id_number", "name")
OPTIONAL_COLUMNS = ("last_certified", "photo")
MAX_FILE_BYTES = 200_000_000  # ~2 million rows; a larger file is a wrong file
BATCH_ROWS = 500  # rows per transaction: one fsync per batch, not per row
# [0-9], not \d (which takes any script's digits, and int() reads them): ASCII digits only, as in ID
# numbers (#13). \s stays Unicode: an ideographic space (U+3000) between the parts is still a date.
_DATE = re.compile(r"^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?$")  # 2025-01-10, 2025/1/10, 2025年1月10日
_EXCEL_NUMBER = re.compile(r"^[0-9](\.[0-9]+)?[eE]\+[0-9]+$")  # 1.10105E+17: Excel turned the ID into a number

TemplateBuilder = Callable[[Path], np.ndarray | None]
_PHOTO_HINTS = {
    "image_too_large": "the photo file or image is too large to read safely (see docs/matching.md)",
    "image_unreadable": "the photo file is not a readable JPEG, PNG, BMP or WebP image",
    "roster_photo_unreadable": "the photo could not be read",
}


@dataclass(frozen=True)
class RowProblem:
    """One reported problem: file line (1 = header), a reason code, and a hint without personal data."""

    line: int
    code: str
    hint: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}: {self.hint}"


@dataclass
class ImportSummary:
    """What an import did. ``problems`` lists skipped rows and photo problems (rows still imported)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    templates_built: int = 0
    photos_pending: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed at the end."""
        return (f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, "
                f"skipped {self.skipped}")


@dataclass(frozen=True)
class RosterRow:
    """A row that passed validation. ``card_kind`` is the number's
    :attr:`reader.idnumber.CardNumber.kind` (only a ``resident`` number starts with a region code)."""

    line: int
    pensioner: Pensioner
    photo: Path | None
    card_kind: str


class PhotoToBuild(NamedTuple):
    """A row whose reference must be built from its photo, with the SHA-256 of the photo's bytes."""

    row: RosterRow
    sha256: str


def decode_roster(raw: bytes) -> str:
    """The text of a roster file: UTF-8 (BOM or not), else GB18030. Raises RosterImportError."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterImportError("the file is neither UTF-8 nor GB18030 text (save it from Excel as CSV)")


def parse_date(text: str) -> date:
    """A date as typed in a roster (``2025-01-10``, ``2025/1/10``, ``2025.1.10``, ``2025年1月10日``).

    Raises ValueError for anything else or an impossible date.
    """
    match = _DATE.match(text.strip())
    if not match:
        raise ValueError("not a date")
    return date(int(match[1]), int(match[2]), int(match[3]))


def parse_roster(
    text: str, *, region_code: str, today: date, photo_root: Path
) -> tuple[list[RosterRow], list[RowProblem], list[str]]:
    """Validates a roster's rows; returns (good rows, problems of skipped rows, notes).

    Each physical line is one row: no value of these columns can contain a line break, so a stray
    quote spoils only its own line instead of swallowing the rest of the file into one cell.
    ``photo_root``: folder relative photo paths are taken from. Raises RosterImportError when the
    file cannot be used at all (no header, a required column missing, a column named twice).
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    try:
        header = [name.strip().lower() for name in _cells(lines[0])]
    except csv.Error as exc:
        raise RosterImportError(f"line 1: the header is not valid CSV ({exc})") from None
    if not any(header):
        raise RosterImportError("the file is empty (no header line)")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise RosterImportError(f"line 1: required column(s) {', '.join(missing)} missing; "
                                f"the columns are {','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
    if len(set(header)) != len(header):
        raise RosterImportError("line 1: a column is named twice")
    unknown = [name or f"(column {n + 1} without a name)" for n, name in enumerate(header)
               if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    notes = [f"line 1: unknown column(s) {', '.join(unknown)}: rows with a value there are skipped"] if unknown else []
    rows: list[RosterRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(lines[1:], start=2):
        try:
            cells = _cells(raw)
        except csv.Error:
            problems.append(RowProblem(line, "roster_bad_csv", "unbalanced quotes"))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank lines and Excel's trailing ",,," rows
        if len(cells) > len(header):
            problems.append(RowProblem(line, "roster_unknown_column", f"{len(cells)} values for {len(header)} columns"))
            continue
        values = dict(zip(header, (cell.strip() for cell in cells)))  # missing trailing cells: empty
        if any(values.get(name) for name in unknown):
            problems.append(RowProblem(line, "roster_unknown_column", "a value in an unknown column"))
            continue
        row = _validate(line, values, region_code, today, photo_root, problems)
        if row is None:
            continue
        first = seen.setdefault(row.pensioner.id_number, line)
        if first != line:
            problems.append(RowProblem(line, "roster_duplicate_row", f"the same ID number as line {first}"))
            continue
        rows.append(row)
    return rows, problems, notes


def _cells(line: str) -> list[str]:
    """The cells of one CSV line (strict quoting; raises csv.Error)."""
    return next(csv.reader([line], strict=True), [])


def _validate(line: int, values: dict[str, str], region_code: str, today: date, photo_root: Path,
              problems: list[RowProblem]) -> RosterRow | None:
    raw_id = values.get("id_number", "")
    try:
        number = parse_card_number(raw_id)
    except InvalidIdNumber as exc:
        hint = "Excel turned it into a number: format the column as text" if _EXCEL_NUMBER.match(raw_id) else \
            "the ID number is not valid (GB 11643, or a foreign permanent resident card number)"
        problems.append(RowProblem(line, exc.code, hint))
        return None
    name = values.get("name", "")
    if not name or len(name) > 64 or not name.isprintable():
        problems.append(RowProblem(line, "roster_bad_name", "the name is empty, too long or has line breaks"))
        return None
    last: date | None = None
    if values.get("last_certified"):
        try:
            last = parse_date(values["last_certified"])
        except ValueError:
            problems.append(RowProblem(line, "roster_bad_date", "last_certified is not a date like 2025-01-10"))
            return None
        if last > today or (number.birth_date is not None and last < number.birth_date):
            problems.append(RowProblem(line, "roster_bad_date", "last_certified is in the future or before birth"))
            return None
    photo = None
    if values.get("photo"):
        photo = photo_inside(photo_root, values["photo"])
        if photo is None:
            problems.append(RowProblem(line, "roster_photo_outside_folder",
                                       "the photo path leads out of the photos folder"))
            return None
    pensioner = Pensioner(number.value, name, region_code, last, str(photo) if photo else None)
    return RosterRow(line, pensioner, photo, number.kind)



def photo_inside(photo_root: Path, relative: str) -> Path | None:
    """``relative`` resolved inside ``photo_root``, None when it leads out (``..``, an absolute path,
    a symbolic link to elsewhere): a roster file must not make the terminal open other files."""
    root = photo_root.resolve()
    photo = (root / relative).resolve()
    return photo if photo.is_relative_to(root) and photo != root else None

def import_roster(
    store: Store,
    csv_file: Path,
    *,
    region_code: str,
    today: date,
    photos_dir: Path | None = None,
    build_templates: bool = False,
    template_builder: TemplateBuilder | None = None,
    dry_run: bool = False,
    match_settings: Any = None,
) -> ImportSummary:
    """Imports a roster file into ``store``; returns the summary (see the module docstring).

    Photo paths are relative to ``photos_dir`` (default: the CSV's folder). With
    ``build_templates``, a face template is built per photo for people without a reference (or
    whose photo changed) by ``template_builder`` (default: ``camera.matching.template_from_image_file``;
    when that cannot be imported the paths are kept and templates are built later), with
    ``match_settings`` (the configuration's ``[match]``; None = shipped defaults). Raises
    RosterImportError when the file cannot be read at all, StorageError on a storage failure
    (batches already committed stay; importing again is safe).
    """
    try:
        if csv_file.stat().st_size > MAX_FILE_BYTES:
            raise RosterImportError(f"{csv_file} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
        raw = csv_file.read_bytes()
    except OSError as exc:
        raise RosterImportError(f"{csv_file} cannot be read: {exc.strerror}") from None
    rows, problems, notes = parse_roster(decode_roster(raw), region_code=region_code, today=today,
                                         photo_root=photos_dir or csv_file.parent)
    summary = ImportSummary(skipped=len(problems), problems=problems, notes=notes)
    if dry_run:
        summary.notes.append(f"dry run: {len(rows)} valid rows, nothing written")
        return summary
    to_build: list[PhotoToBuild] = []
    for start in range(0, len(rows), BATCH_ROWS):
        with store.transaction():
            for row in rows[start : start + BATCH_ROWS]:
                result = _import_row(store, row, to_build, summary)
                setattr(summary, result, getattr(summary, result) + 1)
    _templates(store, to_build, summary, build_templates, template_builder, match_settings)
    summary.problems.sort(key=lambda problem: problem.line)
    log.info("roster import: %s", summary.line())
    return summary


def _import_row(store: Store, row: RosterRow, to_build: list[PhotoToBuild], summary: ImportSummary) -> str:
    """Upserts one row (inside the caller's transaction); queues its photo when the reference must be
    (re)built; returns ``inserted``, ``updated`` or ``unchanged``.

    The photo is judged by its content (SHA-256), not its path: roster photos are named after the ID
    number, so a corrected photo keeps its name. A row whose photo changed loses every reference
    derived from the old one here, before any template is built, so that neither a failed build nor
    a deferred one (no ``--photos``) leaves the old face as the reference.
    """
    id_number = row.pensioner.id_number
    before = store.get_pensioner(id_number) if row.photo else None
    result = store.upsert_pensioner(row.pensioner)
    if row.photo is None:
        return result
    digest = photo_sha256(row.photo)
    if digest is None:
        summary.problems.append(RowProblem(row.line, "roster_photo_missing", "the photo file does not exist"))
    stored = store.roster_photo_sha256(id_number)
    path_changed = before is not None and before.photo_path != row.pensioner.photo_path
    content_changed = digest is not None and stored is not None and digest != stored
    if path_changed or content_changed:
        store.drop_roster_references(id_number)
        if result == "unchanged":
            result = "updated"  # the photo is part of the row
    if digest is not None and (digest != stored or not store.has_reference(id_number)):
        to_build.append(PhotoToBuild(row, digest))
    return result


def photo_sha256(path: Path) -> str | None:
    """The SHA-256 (hex) of a photo file's bytes, None when it is missing or cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _templates(store: Store, photos: list[PhotoToBuild], summary: ImportSummary, build: bool,
               builder: TemplateBuilder | None, match_settings: Any) -> None:
    if photos and build and builder is None:
        try:
            from camera.matching import template_from_image_file  # lazy: dlib loads only when needed

            def builder(path: Path) -> np.ndarray:
                return template_from_image_file(path, match_settings)
        except ImportError:
            summary.notes.append("face matching is not installed yet: photo paths kept, templates will be built later")
    if not build or builder is None:
        summary.photos_pending += len(photos)
        return
    for done, (row, digest) in enumerate(photos):
        id_number = row.pensioner.id_number
        try:
            template = builder(row.photo)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the import
            code = str(getattr(exc, "code", "") or "roster_photo_unreadable")
            summary.problems.append(RowProblem(row.line, code, _PHOTO_HINTS.get(code, "no usable face in the photo")))
            template = None
        else:
            if template is None:
                summary.problems.append(RowProblem(row.line, "roster_photo_no_face", "no usable face in the photo"))
        try:
            if template is None:
                # The photo the roster names gives no template: whatever roster reference remains
                # was built from other content (or before hashes were kept), so it goes too.
                store.drop_roster_references(id_number)
                continue
            store.set_roster_reference(id_number, template, digest)
        except KeyUnavailableError:
            summary.photos_pending += len(photos) - done
            summary.notes.append("the device key is unavailable: templates not stored (run kiosk doctor)")
            return
        summary.templates_built += 1
