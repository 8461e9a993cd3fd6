"""The roster file: the CSV a province hands to its halls and its centre, parsed the same way by both.

Columns: ``id_number,name,last_certified,photo`` (``last_certified`` and ``photo`` optional).
Encodings: UTF-8 with or without BOM, and GB18030 (what Excel on Chinese Windows writes as "CSV").
Dates as typed in Excel (``2025-01-10``, ``2025/1/10``, ``2025.1.10``, ``2025年1月10日``), calendar
days in China Standard Time. ``photo`` is a path relative to a photos folder, never leading out of
it. A row with a bad ID number, a bad date, a missing name or a value in an unknown column is
reported by line number and reason code and skipped; problems never carry the name or the number
(the report may end up in a log or on a shared screen).

The terminal (``kiosk roster import``, :mod:`kiosk.roster_import`) and the reference centre
(``kiosk-center roster import``, :mod:`center.provincial_roster`) both parse with :func:`parse_roster`, so they
agree on every row. The ID number rule (GB 11643, foreign permanent resident cards) is the card
reader's, :func:`reader.idnumber.parse_card_number`: this package imports nothing of the project, so
callers hand that function in.

Pure apart from :func:`photo_inside` and :func:`photo_sha256`, which look at files. Thread-safe.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Protocol

from wire.codes import reason_code

REQUIRED_COLUMNS = ("id_number", "name")
OPTIONAL_COLUMNS = ("last_certified", "photo")
MAX_NAME_CHARS = 64
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
"""The time zone of a roster's calendar days (``last_certified``, and "today" when judging them)."""

# [0-9], not \d (which takes any script's digits, and int() reads them): ASCII digits only, as in ID
# numbers (#13). \s stays Unicode: an ideographic space (U+3000) between the parts is still a date.
_DATE = re.compile(r"^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?$")  # 2025-01-10, 2025/1/10, 2025年1月10日
_EXCEL_NUMBER = re.compile(r"^[0-9](\.[0-9]+)?[eE]\+[0-9]+$")  # 1.10105E+17: Excel turned the ID into a number


class RosterFormatError(ValueError):
    """The file as a whole cannot be used (not text, no header, a required column missing, a column
    named twice). The message is for technicians and carries no personal data."""


class CardNumber(Protocol):
    """What the roster needs of a parsed card number (:class:`reader.idnumber.CardNumber` is one)."""

    @property
    def value(self) -> str:
        """The number as stored: ASCII, upper-case, without white space."""

    @property
    def kind(self) -> str:
        """``resident`` (the only kind that starts with a GB/T 2260 region code) or another card's kind."""

    @property
    def birth_date(self) -> date | None:
        """The birth date the number encodes, None when it encodes none."""


CardNumberParser = Callable[[str], CardNumber]
"""Parses a card number; raises ValueError (with a reason code in ``code``) for an invalid one."""


@dataclass(frozen=True)
class RowProblem:
    """One reported problem: file line (1 = header), a reason code, and a hint without personal data."""

    line: int
    code: str
    hint: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}: {self.hint}"


@dataclass(frozen=True)
class RosterRow:
    """A row that passed validation. ``id_number`` is the card number's stored form; ``card_kind`` its
    kind (see :class:`CardNumber`); ``photo`` the resolved path inside the photos folder."""

    line: int
    id_number: str
    name: str
    last_certified: date | None
    photo: Path | None
    card_kind: str


def decode_roster(raw: bytes) -> str:
    """The text of a roster file: UTF-8 (BOM or not), else GB18030. Raises RosterFormatError."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFormatError("the file is neither UTF-8 nor GB18030 text (save it from Excel as CSV)")


def parse_date(text: str) -> date:
    """A date as typed in a roster (``2025-01-10``, ``2025/1/10``, ``2025.1.10``, ``2025年1月10日``).

    Raises ValueError for anything else or an impossible date.
    """
    match = _DATE.match(text.strip())
    if not match:
        raise ValueError("not a date")
    return date(int(match[1]), int(match[2]), int(match[3]))


def parse_roster(text: str, *, today: date, photo_root: Path,
                 card_number: CardNumberParser) -> tuple[list[RosterRow], list[RowProblem], list[str]]:
    """Validates a roster's rows; returns (good rows, problems of skipped rows, notes).

    Each physical line is one row: no value of these columns can contain a line break, so a stray
    quote spoils only its own line instead of swallowing the rest of the file into one cell.
    ``today``: the local day (:data:`CHINA_STANDARD_TIME`) a ``last_certified`` may not be after;
    ``photo_root``: folder relative photo paths are taken from; ``card_number``: the ID number rule
    (pass :func:`reader.idnumber.parse_card_number`). Raises RosterFormatError when the file cannot
    be used at all (no header, a required column missing, a column named twice).
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    try:
        header = [name.strip().lower() for name in _cells(lines[0])]
    except csv.Error as exc:
        raise RosterFormatError(f"line 1: the header is not valid CSV ({exc})") from None
    if not any(header):
        raise RosterFormatError("the file is empty (no header line)")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise RosterFormatError(f"line 1: required column(s) {', '.join(missing)} missing; "
                                f"the columns are {','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
    if len(set(header)) != len(header):
        raise RosterFormatError("line 1: a column is named twice")
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
        row = _validate(line, values, today, photo_root, card_number, problems)
        if row is None:
            continue
        first = seen.setdefault(row.id_number, line)
        if first != line:
            problems.append(RowProblem(line, "roster_duplicate_row", f"the same ID number as line {first}"))
            continue
        rows.append(row)
    return rows, problems, notes


def _cells(line: str) -> list[str]:
    """The cells of one CSV line (strict quoting; raises csv.Error)."""
    return next(csv.reader([line], strict=True), [])


def _validate(line: int, values: dict[str, str], today: date, photo_root: Path, card_number: CardNumberParser,
              problems: list[RowProblem]) -> RosterRow | None:
    raw_id = values.get("id_number", "")
    try:
        number = card_number(raw_id)
    except ValueError as exc:
        hint = "Excel turned it into a number: format the column as text" if _EXCEL_NUMBER.match(raw_id) else \
            "the ID number is not valid (GB 11643, or a foreign permanent resident card number)"
        # The parser handed in gives its own code (reader.idnumber.IdNumberProblem); this package imports
        # nothing of the project, so the fallback is that enum's FORMAT spelled out.
        problems.append(RowProblem(line, reason_code(exc, "id_number_format"), hint))
        return None
    name = values.get("name", "")
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
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
    return RosterRow(line, number.value, name, last, photo, number.kind)


def photo_inside(photo_root: Path, relative: str) -> Path | None:
    """``relative`` resolved inside ``photo_root``, None when it leads out (``..``, an absolute path,
    a symbolic link to elsewhere): a roster file must not make a terminal or the centre open other files."""
    root = photo_root.resolve()
    photo = (root / relative).resolve()
    return photo if photo.is_relative_to(root) and photo != root else None


def photo_sha256(path: Path) -> str | None:
    """The SHA-256 (hex) of a photo file's bytes, None when it is missing or cannot be read.

    Photos are named after the ID number, so a corrected photo keeps its path: its content tells
    whether the reference built from it is stale.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
