"""Roster import: good rows in, bad rows reported by line and skipped, re-import updates, encodings, photos."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from conftest import run_cli
from kiosk.clock import FakeClock
from kiosk.errors import RosterImportError
from kiosk.roster_import import decode_roster, import_roster, parse_date, parse_roster
from kiosk.store import DeviceKey, Pensioner, Store

A = "11010519491231002X"
B = "110101194503151237"
C = "440306193807084568"
TODAY = date(2026, 5, 20)
HEADER = "id_number,name,last_certified,photo\n"


@pytest.fixture
def store() -> Store:
    return Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate())


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(store: Store, path: Path, **kwargs):
    return import_roster(store, path, region_code="110101", today=TODAY, **kwargs)


def test_good_rows_are_imported_and_reimport_updates_without_duplicates(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + f"{A},张三,2025-01-10,\n{B},李四,,\n")
    summary = run(store, path)
    assert (summary.inserted, summary.updated, summary.unchanged, summary.skipped) == (2, 0, 0, 0)
    assert store.get_pensioner(A) == Pensioner(A, "张三", "110101", date(2025, 1, 10))
    summary = run(store, write(tmp_path, HEADER + f"{A},张三,2025-01-10,\n{B},李四,2026-02-01,\n"))
    assert summary.line() == "inserted 0, updated 1, unchanged 1, skipped 0"
    assert store.pensioner_count() == 2 and store.get_pensioner(B).last_certified == date(2026, 2, 1)


def test_bad_rows_are_reported_by_line_and_skipped_the_rest_imported(store: Store, tmp_path: Path) -> None:
    text = HEADER + "\n".join([
        f"{A},张三,2025-01-10,",          # 2 ok
        "110101194503151238,李四,,",       # 3 wrong check digit
        f"{B},李四,2025-02-30,",           # 4 impossible date
        f"{B},李四,10/01/2025,",           # 5 day-first date: ambiguous, refused
        f"{C},王五,2027-01-01,",           # 6 in the future
        f"{C},王五,,,surplus",             # 7 a value in no column
        f"{C},,,",                        # 8 no name
        "1.10105E+17,赵六,,",              # 9 Excel turned the number into a float
        ",,,",                            # 10 blank Excel row: ignored
        f"{C},王五,2025年3月5日,",          # 11 ok
        f"{A},张三,,",                     # 12 same number again
    ]) + "\n"
    summary = run(store, write(tmp_path, text))
    got = [(p.line, p.code) for p in summary.problems]
    assert got == [(3, "id_number_check_digit"), (4, "roster_bad_date"), (5, "roster_bad_date"),
                   (6, "roster_bad_date"), (7, "roster_unknown_column"), (8, "roster_bad_name"),
                   (9, "id_number_format"), (12, "roster_duplicate_row")]
    assert "format the column as text" in str(summary.problems[6])
    assert summary.line() == "inserted 2, updated 0, unchanged 0, skipped 8"
    assert store.get_pensioner(C).last_certified == date(2025, 3, 5)
    report = "\n".join(str(p) for p in summary.problems)
    assert "张三" not in report and A not in report and "110101194503151238" not in report


def test_unknown_header_column_skips_only_rows_that_use_it(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "id_number,name,phone\n" + f"{A},张三,\n{B},李四,13800000000\n")
    summary = run(store, path)
    assert "unknown column(s) phone" in summary.notes[0]
    assert [(p.line, p.code) for p in summary.problems] == [(3, "roster_unknown_column")]
    assert store.get_pensioner(A) is not None and store.get_pensioner(B) is None


def test_a_stray_quote_spoils_only_its_own_line(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + f'{A},"张三,,\n{B},李四,,\n{C},"王""五",,\n')
    summary = run(store, path)
    assert [(p.line, p.code) for p in summary.problems] == [(2, "roster_bad_csv")]
    assert store.get_pensioner(B) is not None and store.get_pensioner(C).name == '王"五'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_excel_encodings(store: Store, tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "ID_Number , Name\r\n" + f"{A},欧阳娜娜\r\n", encoding)
    assert run(store, path).inserted == 1
    assert store.get_pensioner(A).name == "欧阳娜娜"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b'"id_number,name\n', "header"),
    (b"name,last_certified\n", "id_number"),
    (b"id_number,name,name\n", "twice"),
    (b"\xff\xfe\xff\xff\x00\x81", "neither UTF-8 nor GB18030"),
])
def test_unusable_files_raise_and_write_nothing(store: Store, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    with pytest.raises(RosterImportError, match=message):
        run(store, path)
    assert store.pensioner_count() == 0


def test_stale_roster_does_not_undo_a_local_certification(store: Store, tmp_path: Path) -> None:
    store.upsert_pensioner(Pensioner(A, "张三", "110101", date(2026, 5, 1)))
    run(store, write(tmp_path, HEADER + f"{A},张三,2025-01-10,\n"))
    assert store.get_pensioner(A).last_certified == date(2026, 5, 1)


def test_dry_run_writes_nothing(store: Store, tmp_path: Path) -> None:
    summary = run(store, write(tmp_path, HEADER + f"{A},张三,,\nbad,x,,\n"), dry_run=True)
    assert summary.skipped == 1 and store.pensioner_count() == 0 and "1 valid rows" in summary.notes[-1]


def test_photos_build_templates_and_report_faceless_ones(store: Store, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (photos / name).write_bytes(b"\xff\xd8")

    class NoFace(Exception):
        code = "no_usable_face"

    def builder(path: Path) -> np.ndarray | None:
        if path.name == "b.jpg":
            raise NoFace("none")
        return None if path.name == "c.jpg" else np.full(128, 0.25)

    text = HEADER + f"{A},张三,,a.jpg\n{B},李四,,b.jpg\n{C},王五,,c.jpg\n110105194912310038,赵六,,gone.jpg\n"
    summary = run(store, write(tmp_path, text), photos_dir=photos, build_templates=True, template_builder=builder)
    assert summary.templates_built == 1 and summary.inserted == 4 and summary.skipped == 0
    assert [(p.line, p.code) for p in summary.problems] == [
        (3, "no_usable_face"), (4, "roster_photo_no_face"), (5, "roster_photo_missing")]
    assert np.array_equal(store.references(A)[0], np.full(128, 0.25))
    assert store.get_pensioner(B).photo_path == str((photos / "b.jpg").resolve())
    calls: list[Path] = []
    run(store, write(tmp_path, text), photos_dir=photos, build_templates=True,
        template_builder=lambda p: calls.append(p) or None)
    assert [p.name for p in calls] == ["b.jpg", "c.jpg"]  # A has a reference from the same photo: not rebuilt


def test_without_the_matcher_the_photo_path_is_kept_for_later(store: Store, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "camera.matching", None)  # import fails
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    summary = run(store, write(tmp_path, HEADER + f"{A},张三,,a.jpg\n"), build_templates=True)
    assert summary.photos_pending == 1 and "later" in summary.notes[0]
    assert store.get_pensioner(A).photo_path == str(tmp_path / "a.jpg") and not store.has_reference(A)


def test_real_photos_with_the_real_matcher(tmp_path: Path, media_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kiosk roster import --photos` end to end: the matcher builds a template from a real face, a blank image is reported."""
    import cv2

    from kiosk.clock import SystemClock
    from kiosk.config import load_config

    matching = pytest.importorskip("camera.matching")
    if not hasattr(matching, "template_from_image_file"):
        pytest.skip("camera.matching.template_from_image_file is not there yet")
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "blank.png"), np.full((240, 240, 3), 128, np.uint8))
    face = sorted((media_dir / "faces" / "misc").glob("*.jpg"))[0]
    (photos / "face.jpg").write_bytes(face.read_bytes())
    path = write(tmp_path, HEADER + f"{A},张三,,face.jpg\n{B},李四,,blank.png\n")
    assert run_cli(["roster", "import", str(path), "--photos", str(photos)]) == 0
    out = capsys.readouterr()
    assert "face templates built 1" in out.out and "inserted 2" in out.out
    assert "line 3: no_usable_face" in out.err
    with Store.from_config(load_config(), SystemClock()) as store:
        assert store.has_reference(A) and not store.has_reference(B)
        # dlib's descriptor followed by SFace's embedding (128 floats alone when SFace is not installed)
        assert store.references(A)[0].shape in ((256,), (128,))


def test_dates_as_excel_writes_them() -> None:
    assert parse_date("2025/1/9") == parse_date("2025-01-09") == parse_date("2025.1.9") == date(2025, 1, 9)
    for bad in ("2025-1", "09/01/2025", "2025-02-29", "yesterday"):
        with pytest.raises(ValueError):
            parse_date(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(max_size=20), min_size=0, max_size=6), max_size=8))
def test_any_table_is_either_refused_or_fully_accounted_for(cells: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["id_number", "name", "last_certified"], *cells])
    text = buffer.getvalue()
    try:
        rows, problems, _notes = parse_roster(decode_roster(text.encode()), region_code="110101",
                                              today=TODAY, photo_root=Path("."))
    except RosterImportError:
        return
    accounted = [row.line for row in rows] + [problem.line for problem in problems]
    assert len(accounted) == len(set(accounted))  # each line is imported or reported, never both
    significant = {n for n, line in enumerate(text.split("\n")[1:], start=2)
                   if line.replace(",", "").replace('"', "").strip()}
    assert significant <= set(accounted)  # and no line with content is silently dropped


def test_cli_import_and_masked_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEADER + f"{A},张三丰,2025-01-10,\nbad,李四,,\n", "gb18030")
    assert run_cli(["roster", "import", str(path)]) == 1  # a row was skipped
    out = capsys.readouterr()
    assert "inserted 1, updated 0, unchanged 0, skipped 1" in out.out and "line 3: id_number_format" in out.err
    assert run_cli(["roster", "show", A.lower()]) == 0
    shown = capsys.readouterr().out
    assert "张*" in shown and "张**" not in shown and "110105**********2X" in shown and "三丰" not in shown and A not in shown
    assert "face reference  no" in shown and "2025-01-10" in shown
    assert run_cli(["roster", "show", B]) == 1
    assert "not in the roster" in capsys.readouterr().err
    assert run_cli(["roster", "show", "110101194503151238"]) == 2
    assert "id_number_check_digit" in capsys.readouterr().err
    assert run_cli(["roster", "import", str(path), "--region", "11"]) == 2


def test_foreign_permanent_resident_card_numbers_are_imported(store: Store, tmp_path: Path) -> None:
    """Both foreign card layouts the reader accepts can be in the roster, keyed as the card parser keys them."""
    foreign_2023, foreign_2017 = "931586198001010028", "USA450315123455"
    text = HEADER + "\n".join([
        f"{foreign_2023},JOHN SMITH,2025-01-10,",   # 2 ok: 2023 card, leading 9, birth date 1980-01-01
        f"{foreign_2017.lower()},ANNA LEE,,",        # 3 ok: 2017 card (7-3-1 check), stored upper-cased
        "931586198001010029,BAD CHECK,,",           # 4 2023 layout, wrong check character
        "USA450315123456,BAD CHECK,,",              # 5 2017 layout, wrong check digit
        "931586198001010028,BEFORE BIRTH,1979-01-01,",  # 6 certified before the number's birth date
    ]) + "\n"
    summary = run(store, write(tmp_path, text))
    assert (summary.inserted, summary.skipped) == (2, 3)
    assert [(p.line, p.code) for p in summary.problems] == [
        (4, "id_number_check_digit"), (5, "id_number_check_digit"), (6, "roster_bad_date")]
    assert store.get_pensioner(foreign_2023).last_certified == date(2025, 1, 10)
    assert store.get_pensioner(foreign_2017).name == "ANNA LEE"


# --- Hostile ID numbers (#13) ------------------------------------------------------------------------

def _full_width(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if char in "0123456789Xx" else char for char in text)


def test_a_non_ascii_digit_in_an_id_number_is_a_line_problem_the_other_rows_imported(store: Store,
                                                                                    tmp_path: Path) -> None:
    text = HEADER + "\n".join([
        f"{A},张三,,",                     # 2 ok
        "1101051949123100²X,李四,,",        # 3 superscript two: int() refuses it
        f"{B},李四,,",                      # 4 ok
        "110101194503151①37,王五,,",        # 5 circled digit
        "1101011945031512٣7,赵六,,",        # 6 Arabic-Indic three: int() takes it for 3
        f"{C},王五,,",                      # 7 ok
    ]) + "\n"
    summary = run(store, write(tmp_path, text))
    assert [(p.line, p.code) for p in summary.problems] == [(3, "id_number_format"), (5, "id_number_format"),
                                                            (6, "id_number_format")]
    assert (summary.inserted, summary.skipped) == (3, 3) and store.pensioner_count() == 3


def test_a_full_width_id_number_is_the_same_pensioner_as_the_ascii_one(store: Store, tmp_path: Path) -> None:
    mixed = A[:6] + _full_width(A[6:17]) + A[17]  # what an IME switched mid-entry gives
    text = HEADER + f"{A},张三,,\n{mixed},张三,,\n{_full_width(A.lower())},张三,,\n{_full_width(B)},李四,,\n"
    summary = run(store, write(tmp_path, text))
    assert [(p.line, p.code) for p in summary.problems] == [(3, "roster_duplicate_row"), (4, "roster_duplicate_row")]
    assert summary.inserted == 2 and store.get_pensioner(B) is not None
    summary = run(store, write(tmp_path, HEADER + f"{_full_width(A)},张三,2025-01-10,\n{mixed},张三,2025-01-10,\n"))
    assert [(p.line, p.code) for p in summary.problems] == [(3, "roster_duplicate_row")]
    assert (summary.inserted, summary.updated) == (0, 1) and store.pensioner_count() == 2
    assert store.get_pensioner(A).last_certified == date(2025, 1, 10)


def test_cli_show_takes_a_full_width_number_and_refuses_a_non_ascii_digit(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["roster", "import", str(write(tmp_path, HEADER + f"{A},张三,,\n"))]) == 0
    capsys.readouterr()
    assert run_cli(["roster", "show", _full_width(A)]) == 0
    assert "110105**********2X" in capsys.readouterr().out
    for hostile in ("1101051949123100²X", "1101051949123100٢X"):
        assert run_cli(["roster", "show", hostile]) == 2
        err = capsys.readouterr().err
        assert "id_number_format" in err and "internal error" not in err and hostile not in err


# --- Digits of other scripts outside the ID number (#13): ASCII 0-9 only ----------------------------

@pytest.mark.parametrize("day", ["٢٠٢٥-01-10", "2025-0١-10", "2025/1/१०", "２０２５/1/10", "2025.1.1𝟎"])
def test_a_date_with_another_scripts_digits_is_a_line_problem(store: Store, tmp_path: Path, day: str) -> None:
    """Python's ``\\d`` and ``int()`` take Arabic-Indic, Devanagari and full-width digits: such a
    date was imported as 2025-01-10."""
    with pytest.raises(ValueError):
        parse_date(day)
    summary = run(store, write(tmp_path, HEADER + f"{A},ZHANG SAN,{day},\n{B},LI SI,2025-01-10,\n"))
    assert [(p.line, p.code) for p in summary.problems] == [(2, "roster_bad_date")]
    assert summary.inserted == 1 and store.get_pensioner(A) is None


def test_the_excel_hint_is_for_an_excel_number_only(store: Store, tmp_path: Path) -> None:
    summary = run(store, write(tmp_path, HEADER + "1.10105E+17,ZHANG SAN,,\n١.١٠١٠٥E+١٧,LI SI,,\n"))
    hints = [p.hint for p in summary.problems]
    assert "Excel" in hints[0] and "Excel" not in hints[1]


@pytest.mark.parametrize("region", ["١١٠١٠١", "１１０１０１", "11010१"])
def test_cli_import_refuses_a_region_in_other_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    region: str) -> None:
    assert run_cli(["roster", "import", str(write(tmp_path, HEADER + f"{A},ZHANG SAN,,\n")), "--region", region]) == 2
    assert "--region" in capsys.readouterr().err
    assert run_cli(["roster", "show", A]) == 1  # nothing was imported
