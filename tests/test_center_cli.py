"""``kiosk-center``: devices, roster import (bad rows, photos), results listing, bad databases."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from center.cli import cli
from center.db import Pensioner, make_engine, session_factory
from center.provincial_roster import RosterFileError, generate_synthetic, import_csv
from wire.template_codec import decode_template

GOOD = "110101194001010012"
GOOD2 = "11010119450203002X"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_device_add_prints_id_and_a_one_time_code_kept_only_as_a_hash(centre_db: str) -> None:
    db = centre_db
    code, out = _run("device", "add", "东城大厅 1", "--db", db, "--json")
    first = json.loads(out)
    assert code == 0 and first["device_id"].startswith("KIOSK-") and len(first["enrolment_code"]) == 19
    assert first["expires_at"] > datetime.now(timezone.utc).isoformat()
    second = json.loads(_run("device", "add", "hall 2", "--db", db, "--json")[1])
    assert second["enrolment_code"] != first["enrolment_code"]
    code, out = _run("device", "add", "again", "--device-id", first["device_id"], "--db", db)
    assert code != 0 and "already exists" in out
    code, out = _run("device", "list", "--db", db, "--json")
    assert first["enrolment_code"] not in out and first["device_id"] in out and '"awaiting"' in out
    if "://" not in db:  # a SQLite file: read it as an intruder would
        raw = Path(db).read_bytes() + (Path(db + "-wal").read_bytes() if Path(db + "-wal").exists() else b"")
        for printed in (first["enrolment_code"], first["enrolment_code"].replace("-", "")):
            assert printed.encode() not in raw
    assert _run("device", "reenrol", "NOPE", "--db", db)[0] != 0


def test_an_unsupported_database_url_is_one_clear_line(tmp_path: Path) -> None:
    code, out = _run("device", "add", "x", "--db", "mysql://u@h/db")
    assert code != 0 and "unsupported database" in out


def test_roster_import_reports_bad_rows_by_line_and_keeps_the_good_ones(centre_db: str, tmp_path: Path) -> None:
    db = centre_db
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(
        "id_number,name,last_certified,photo\n"
        f"{GOOD},张三,2025-06-01,\n"
        "110101194001010013,李四,2025-06-01,\n"      # wrong check digit
        f"{GOOD2},王五,2025-13-01,\n"                # no such month
        f"{GOOD},张三,2025-06-01,\n"                 # repeated
        f"{GOOD2.lower()},王五,,\n", encoding="utf-8")  # lower-case x is accepted, no date
    code, out = _run("roster", "import", str(csv_file), "--db", db, "--json")
    report = json.loads(out)
    assert code == 0 and (report["added"], report["changed"]) == (2, 0)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (3, "id_number_check_digit"), (4, "roster_bad_date"), (5, "roster_duplicate_row")]
    assert "李四" not in out and "110101194001010013" not in out
    again = json.loads(_run("roster", "import", str(csv_file), "--db", db, "--json")[1])
    assert (again["added"], again["changed"], again["unchanged"]) == (0, 0, 2)  # nothing new for terminals


@pytest.mark.parametrize(("content", "fragment"), [
    ("name,photo\n", "required column(s) id_number missing"),
    (b"\xff\xfe\x00\x00garbage", "neither UTF-8 nor GB18030"),
    (None, "does not exist"),
])
def test_an_unusable_roster_file_changes_nothing(centre_db: str, tmp_path: Path, content: str | bytes | None, fragment: str) -> None:
    db = centre_db
    csv_file = tmp_path / "roster.csv"
    if isinstance(content, bytes):
        csv_file.write_bytes(content)
    elif content is not None:
        csv_file.write_text(content, encoding="utf-8")
    code, out = _run("roster", "import", str(csv_file), "--db", db)
    assert code != 0 and fragment in out


def test_photos_become_templates_and_a_bad_photo_is_a_row_error(centre_db: str, tmp_path: Path) -> None:
    made: list[Path] = []

    def maker(path: Path) -> np.ndarray:
        made.append(path)
        if path.name == "nobody.jpg":
            raise type("MatchError", (Exception,), {"code": "no_face"})("no face")
        return np.full(128, 0.05)

    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(f"id_number,name,last_certified,photo\n{GOOD},张三,,zs.jpg\n{GOOD2},王五,,nobody.jpg\n",
                        encoding="utf-8")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "zs.jpg").write_bytes(b"a face")
    (tmp_path / "photos" / "nobody.jpg").write_bytes(b"no face")
    with session_factory(make_engine(centre_db))() as session:
        report = import_csv(session, csv_file, tmp_path / "photos", template_maker=maker)
        rows = {row.id_number: row for row in session.scalars(select(Pensioner))}
    assert made == [tmp_path / "photos" / "zs.jpg", tmp_path / "photos" / "nobody.jpg"]
    assert (report.added, report.templates, [(e[0], e[1]) for e in report.errors]) == (2, 1, [(3, "no_face")])
    assert np.allclose(decode_template(rows[GOOD].templates[0]), 0.05)
    assert rows[GOOD2].templates == []



def test_a_photo_is_encoded_again_only_when_its_content_changes(centre_db: str, tmp_path: Path) -> None:
    """Photos are named after the ID number: a corrected photo keeps its name, an unchanged one is not
    re-encoded on every import (a province re-imports millions of rows)."""
    made: list[bytes] = []

    def maker(path: Path) -> np.ndarray:
        content = path.read_bytes()
        made.append(content)
        if content == b"no face":
            raise type("MatchError", (Exception,), {"code": "no_usable_face"})("no face")
        return np.full(128, 0.05 if content == b"wrong person" else 0.07)

    photos = tmp_path / "photos"
    photos.mkdir()
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(f"id_number,name,last_certified,photo\n{GOOD},张三,,{GOOD}.jpg\n", encoding="utf-8")
    factory = session_factory(make_engine(centre_db))

    def import_with(content: bytes) -> tuple[dict, object]:
        (photos / f"{GOOD}.jpg").write_bytes(content)
        with factory() as session:
            report = import_csv(session, csv_file, photos, template_maker=maker)
            return report.as_dict(), session.get(Pensioner, GOOD)

    import_with(b"wrong person")
    report, _row = import_with(b"wrong person")
    assert made == [b"wrong person"] and (report["unchanged"], report["templates"]) == (1, 0)
    report, row = import_with(b"right person")  # corrected under the same name
    assert made[-1] == b"right person" and (report["changed"], report["templates"]) == (1, 1)
    assert np.allclose(decode_template(row.templates[0]), 0.07)
    report, row = import_with(b"no face")  # a corrected photo that gives no template
    assert [error["code"] for error in report["errors"]] == ["no_usable_face"]
    assert row.templates == [] and row.photo_sha256 is None and report["changed"] == 1


def test_a_centre_database_from_before_photo_hashes_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    from alembic import command

    from center.schema import alembic_config

    db = tmp_path / "old.db"
    engine = make_engine(str(db), migrate=False)
    with engine.begin() as connection:  # the tables of a release before migrations...
        command.upgrade(alembic_config(connection), "0001_initial")
    engine.dispose()
    with sqlite3.connect(db) as connection:  # ...and before photo hashes
        connection.execute("ALTER TABLE pensioners DROP COLUMN photo_sha256")
        connection.execute("DROP TABLE alembic_version")
    make_engine(str(db)).dispose()
    with sqlite3.connect(db) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(pensioners)")}
    assert "photo_sha256" in columns

def test_real_photos_through_the_projects_matcher(tmp_path: Path, media_dir: Path) -> None:
    matching = pytest.importorskip("camera.matching")
    if not hasattr(matching, "template_from_image_file"):
        pytest.skip("camera.matching.template_from_image_file is not written yet")
    photos = media_dir / "faces"
    csv_file = tmp_path / "roster.csv"
    # 019_4 cuts part of the face off: the matcher must say so rather than guess (media README).
    csv_file.write_text(f"id_number,name,last_certified,photo\n{GOOD},甲,,deepface/{_first(photos / 'deepface')}\n"
                        f"{GOOD2},乙,,casia/019/019_4.png\n", encoding="utf-8")
    db = str(tmp_path / "c.db")  # about the matcher, not the database: SQLite only
    code, out = _run("roster", "import", str(csv_file), "--photos", str(photos), "--db", db, "--json")
    report = json.loads(out)
    assert code == 0 and (report["added"], report["templates"]) == (2, 1)
    assert [(error["line"], error["code"]) for error in report["errors"]] == [(3, "no_usable_face")]
    with session_factory(make_engine(db))() as session:
        template = decode_template(session.get(Pensioner, GOOD).templates[0])
    direct = matching.template_from_image_file(photos / "deepface" / _first(photos / "deepface"))
    # The matcher jitters reference photos at random, so two encodings differ slightly; the shipped
    # template must still be that face by a wide margin (match.max_distance is 0.36).
    assert float(np.linalg.norm(template - direct)) < 0.1


def _first(folder: Path) -> str:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[0]


def test_import_without_the_matcher_refuses_the_whole_file(centre_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import center.provincial_roster as roster

    def missing() -> None:
        raise ImportError("no matcher")

    monkeypatch.setattr(roster, "default_template_maker", missing)
    csv_file = tmp_path / "roster.csv"
    # The photo-less row comes first, so it is already in the session when the photo row fails.
    csv_file.write_text(f"id_number,name,last_certified,photo\n{GOOD2},李四,,\n{GOOD},张三,,a.jpg\n",
                        encoding="utf-8")
    (tmp_path / "a.jpg").write_bytes(b"a photo")
    with session_factory(make_engine(centre_db))() as session:
        with pytest.raises(RosterFileError, match="matcher"):
            import_csv(session, csv_file, tmp_path)
        session.rollback()
        assert session.scalars(select(Pensioner)).first() is None


def test_the_region_comes_from_the_option_or_the_id_number(centre_db: str, tmp_path: Path) -> None:
    db = centre_db
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(f"id_number,name,last_certified\n{GOOD},张三,2025年6月1日\n", encoding="utf-8")
    assert _run("roster", "import", str(csv_file), "--db", db)[0] == 0
    assert _run("roster", "import", str(csv_file), "--db", db, "--region", "11x")[0] != 0
    assert _run("roster", "import", str(csv_file), "--db", db, "--region", "110105")[0] == 0
    with session_factory(make_engine(db))() as session:
        row = session.get(Pensioner, GOOD)
    assert (row.region_code, str(row.last_certified), row.seq) == ("110105", "2025-06-01", 2)


@pytest.mark.parametrize("region", ["\u0661\u0661\u0660\u0661\u0660\u0665", "\uff11\uff11\uff10\uff11\uff10\uff15",
                                    "11010\u096b"])
def test_a_region_in_another_scripts_digits_is_refused(centre_db: str, tmp_path: Path, region: str) -> None:
    """#13: ``str.isdigit`` takes any script's digits; the region is ASCII 0-9 only."""
    db = centre_db
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(f"id_number,name,last_certified\n{GOOD},ZHANG SAN,2025-06-01\n", encoding="utf-8")
    assert _run("roster", "import", str(csv_file), "--db", db, "--region", region)[0] != 0
    with session_factory(make_engine(db))() as session:
        assert session.get(Pensioner, GOOD) is None


def test_a_postgresql_url_is_accepted_and_a_missing_driver_is_one_clear_line() -> None:
    from center.db import database_url

    url = "postgresql+psycopg://centre:pw@db.example:5432/kiosk"
    assert database_url(url) == url
    code, out = _run("device", "add", "x", "--db", url)
    assert code != 0
    # psycopg is locked now, so the answer is the driver's one line about the unreachable host.
    assert "cannot open the database" in out or "psycopg" in out, out
    assert "pw" not in out.replace("psycopg", ""), "the URL's password must never be printed"


def test_a_foreign_card_number_needs_the_region_given(centre_db: str, tmp_path: Path) -> None:
    """Its first six characters are no GB/T 2260 code (and the roster pages refuse anything else)."""
    foreign_2023, foreign_2017 = "931586198001010028", "USA450315123455"
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(f"id_number,name,last_certified,photo\n{GOOD},张三,,\n{foreign_2023},JOHN SMITH,,\n"
                        f"{foreign_2017},ANNA LEE,,\n", encoding="utf-8")
    with session_factory(make_engine(centre_db))() as session:
        report = import_csv(session, csv_file, None)
        assert report.added == 1 and [(e[0], e[1]) for e in report.errors] == [
            (3, "roster_region_unknown"), (4, "roster_region_unknown")]
        assert session.get(Pensioner, GOOD).region_code == GOOD[:6]
        report = import_csv(session, csv_file, None, region="310101")
        assert report.added == 2 and report.errors == []
        assert {session.get(Pensioner, n).region_code for n in (foreign_2023, foreign_2017)} == {"310101"}


def test_generating_the_same_people_again_replaces_them_with_new_sequence_numbers(centre_db: str) -> None:
    """roster generate is an upsert: the same seed gives the same numbers, which terminals must fetch again."""
    from sqlalchemy import func

    sessions = session_factory(make_engine(centre_db))
    with sessions() as session:
        assert generate_synthetic(session, 40, seed=5) == 40
        assert generate_synthetic(session, 40, seed=5) == 40
        count, lowest, highest = session.execute(select(func.count(), func.min(Pensioner.seq), func.max(Pensioner.seq))
                                                 .select_from(Pensioner)).one()
    assert (count, lowest, highest) == (40, 41, 80)
