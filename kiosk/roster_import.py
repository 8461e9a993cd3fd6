"""Roster import for hall staff: a CSV file of pensioners (from the centre or typed in Excel).

The file format and its row rules are the province's contract with its halls and its centre, so
they live in :mod:`wire.roster_csv` (columns ``id_number,name,last_certified,photo``, UTF-8 or
GB18030, dates as typed in Excel, problems by line number and reason code, never with the name or
the number in them); the ID number rule is :func:`reader.idnumber.parse_card_number`. This module
puts the parsed rows into the store: the good rows in one pass (importing the same file again
updates rows, never duplicates them), and face templates from the photos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kiosk.errors import KeyUnavailableError, RosterImportError, reason_code
from kiosk.store import Pensioner, Store
from reader.idnumber import parse_card_number
from wire import roster_csv
from wire.roster_csv import RowProblem, parse_date, photo_inside, photo_sha256

__all__ = ["ImportSummary", "PhotoToBuild", "RosterRow", "RowProblem", "decode_roster", "import_roster", "parse_date",
           "parse_roster", "photo_inside", "photo_sha256"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200_000_000  # ~2 million rows; a larger file is a wrong file
BATCH_ROWS = 500  # rows per transaction: one fsync per batch, not per row

TemplateBuilder = Callable[[Path], np.ndarray | None]


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
    """The text of a roster file (:func:`wire.roster_csv.decode_roster`). Raises RosterImportError."""
    try:
        return roster_csv.decode_roster(raw)
    except roster_csv.RosterFormatError as exc:
        raise RosterImportError(str(exc)) from None


def parse_roster(
    text: str, *, region_code: str, today: date, photo_root: Path
) -> tuple[list[RosterRow], list[RowProblem], list[str]]:
    """Validates a roster's rows (:func:`wire.roster_csv.parse_roster`, with the card reader's ID
    number rule) as pensioners of ``region_code``; returns (good rows, problems of skipped rows, notes).

    Raises RosterImportError when the file cannot be used at all (no header, a required column
    missing, a column named twice).
    """
    try:
        rows, problems, notes = roster_csv.parse_roster(text, today=today, photo_root=photo_root,
                                                        card_number=parse_card_number)
    except roster_csv.RosterFormatError as exc:
        raise RosterImportError(str(exc)) from None
    return [RosterRow(row.line, Pensioner(row.id_number, row.name, region_code, row.last_certified,
                                          str(row.photo) if row.photo else None), row.photo, row.card_kind)
            for row in rows], problems, notes


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
            code = reason_code(exc, "roster_photo_unreadable")
            # A coded error's message is written for technicians and holds no path or personal data
            # (it says, e.g., how large the image is); anything else gets a plain hint.
            hint = getattr(exc, "message", None) if hasattr(exc, "code") else None
            summary.problems.append(RowProblem(row.line, code, str(hint or "the photo could not be read")))
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
