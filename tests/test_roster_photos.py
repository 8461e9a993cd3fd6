"""Roster photos are judged by their content, and only photos inside the photos folder are read.

Roster photos are named after the ID number, so a corrected photo (the old one showed somebody else)
keeps its file name. A reference built from the old photo must never survive the import that brings
the new one: not when the new photo gives a template, not when it gives none, not when templates
are built later. The unit tests use a fake template builder that derives the template from the
file's bytes; the end-to-end test with real faces is in ``test_certify_headless.py``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from conftest import run_cli
from kiosk.clock import FakeClock
from kiosk.roster_import import import_roster
from kiosk.store import DeviceKey, Store

A = "11010519491231002X"
B = "110101194503151237"
TODAY = date(2026, 5, 20)
HEADER = "id_number,name,last_certified,photo\n"


@pytest.fixture
def store() -> Store:
    return Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate())


def template_of(content: bytes) -> np.ndarray:
    """The fake builder's template: a unit vector drawn from the bytes, so each content has its own."""
    vector = np.random.default_rng(int.from_bytes(hashlib.sha256(content).digest()[:8], "big")).normal(size=128)
    return vector / np.linalg.norm(vector)


class FakeBuilder:
    """Builds template_of(bytes) and counts calls; ``no_face`` contents give None like a photo without a face."""

    def __init__(self, no_face: frozenset[bytes] = frozenset()) -> None:
        self.calls = 0
        self.no_face = no_face

    def __call__(self, path: Path) -> np.ndarray | None:
        self.calls += 1
        content = path.read_bytes()
        return None if content in self.no_face else template_of(content)


def roster(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def run(store: Store, csv_file: Path, builder: FakeBuilder | None, **kwargs):
    return import_roster(store, csv_file, region_code="110101", today=TODAY, photos_dir=csv_file.parent / "photos",
                         build_templates=builder is not None, template_builder=builder, **kwargs)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


def stored_templates(store: Store, id_number: str) -> list[np.ndarray]:
    return store.references(id_number) if store.has_reference(id_number) else []


def test_a_corrected_photo_under_the_same_name_replaces_the_reference(store: Store, tmp_path: Path, photos: Path) -> None:
    (photos / f"{A}.jpg").write_bytes(b"first person's photo")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    builder = FakeBuilder()
    assert run(store, csv_file, builder).templates_built == 1
    (photos / f"{A}.jpg").write_bytes(b"the right person's photo")  # same name, other face
    summary = run(store, csv_file, builder)
    assert summary.templates_built == 1 and summary.updated == 1 and summary.unchanged == 0
    [template] = stored_templates(store, A)
    assert np.allclose(template, template_of(b"the right person's photo"))
    assert store.roster_photo_sha256(A) == hashlib.sha256(b"the right person's photo").hexdigest()


def test_the_same_photo_again_is_not_encoded_again(store: Store, tmp_path: Path, photos: Path) -> None:
    (photos / f"{A}.jpg").write_bytes(b"photo")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    builder = FakeBuilder()
    run(store, csv_file, builder)
    summary = run(store, csv_file, builder)
    assert builder.calls == 1 and summary.templates_built == 0 and summary.unchanged == 1


def test_a_corrected_photo_without_a_face_leaves_no_reference(store: Store, tmp_path: Path, photos: Path) -> None:
    (photos / f"{A}.jpg").write_bytes(b"wrong person")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    run(store, csv_file, FakeBuilder())
    (photos / f"{A}.jpg").write_bytes(b"blurred scan")
    summary = run(store, csv_file, FakeBuilder(no_face=frozenset({b"blurred scan"})))
    assert [p.code for p in summary.problems] == ["roster_photo_no_face"]
    assert not store.has_reference(A) and store.roster_photo_sha256(A) is None


def test_a_corrected_photo_imported_without_building_drops_the_old_reference(store: Store, tmp_path: Path,
                                                                             photos: Path) -> None:
    (photos / f"{A}.jpg").write_bytes(b"wrong person")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    run(store, csv_file, FakeBuilder())
    (photos / f"{A}.jpg").write_bytes(b"right person")
    summary = run(store, csv_file, None)  # no templates now: they are built later
    assert summary.photos_pending == 1 and not store.has_reference(A)
    builder = FakeBuilder()
    assert run(store, csv_file, builder).templates_built == 1  # the later build still happens
    assert np.allclose(stored_templates(store, A)[0], template_of(b"right person"))


def test_a_photo_moved_to_another_name_drops_the_old_reference_even_when_missing(store: Store, tmp_path: Path,
                                                                                 photos: Path) -> None:
    (photos / "old.jpg").write_bytes(b"old photo")
    run(store, roster(tmp_path, f"{A},张三,,old.jpg\n"), FakeBuilder())
    summary = run(store, roster(tmp_path, f"{A},张三,,new.jpg\n"), FakeBuilder())  # new.jpg not delivered yet
    assert [p.code for p in summary.problems] == ["roster_photo_missing"]
    assert not store.has_reference(A)


def test_a_missing_photo_under_the_same_name_keeps_the_reference_and_is_reported(store: Store, tmp_path: Path,
                                                                                photos: Path) -> None:
    """An unmounted photo share is no new content: the reference built from the known photo stays."""
    (photos / f"{A}.jpg").write_bytes(b"photo")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    run(store, csv_file, FakeBuilder())
    (photos / f"{A}.jpg").unlink()
    summary = run(store, csv_file, FakeBuilder())
    assert [p.code for p in summary.problems] == ["roster_photo_missing"]
    assert store.has_reference(A)


def test_references_that_came_from_the_old_photo_go_and_independent_ones_stay(store: Store, tmp_path: Path,
                                                                              photos: Path) -> None:
    (photos / f"{A}.jpg").write_bytes(b"wrong person")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    run(store, csv_file, FakeBuilder())
    store.refresh_live_reference(A, template_of(b"a live capture matched to the wrong photo"))
    store.add_reference(A, template_of(b"centre's copy of the wrong photo"), "center")
    store.add_reference(A, template_of(b"staff enrolment"), "staff_enrolment")
    store.add_reference(A, template_of(b"chip photo"), "chip_photo")
    (photos / f"{A}.jpg").write_bytes(b"right person")
    run(store, csv_file, FakeBuilder())
    sources = store.db.execute(
        "SELECT r.source, count(*) FROM face_references r JOIN pensioners p ON p.person_key = r.person_key "
        "WHERE p.id_number = ? GROUP BY r.source", (A,)).fetchall()
    assert dict(sources) == {"roster_photo": 1, "staff_enrolment": 1, "chip_photo": 1}


def test_a_reference_from_before_hashes_were_kept_is_rebuilt_once(store: Store, tmp_path: Path, photos: Path) -> None:
    """After the upgrade nobody knows which photo an old reference came from: it is rebuilt from the current one."""
    (photos / f"{A}.jpg").write_bytes(b"current photo")
    csv_file = roster(tmp_path, f"{A},张三,,{A}.jpg\n")
    run(store, csv_file, None)  # row and path stored, no template
    store.replace_references(A, [template_of(b"unknown older photo")], "roster_photo")  # as an old import left it
    builder = FakeBuilder()
    assert run(store, csv_file, builder).templates_built == 1
    assert np.allclose(stored_templates(store, A)[0], template_of(b"current photo"))
    assert run(store, csv_file, builder).templates_built == 0 and builder.calls == 1


@pytest.mark.parametrize("photo", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.jpg"])
def test_a_photo_path_outside_the_photos_folder_is_a_line_problem(store: Store, tmp_path: Path, photos: Path,
                                                                 photo: str) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"not for the roster")
    (photos / f"{B}.jpg").write_bytes(b"fine")
    builder = FakeBuilder()
    summary = run(store, roster(tmp_path, f"{A},张三,,{photo}\n{B},李四,,{B}.jpg\n"), builder)
    assert [(p.line, p.code) for p in summary.problems] == [(2, "roster_photo_outside_folder")]
    assert store.get_pensioner(A) is None and store.get_pensioner(B) is not None
    assert builder.calls == 1  # only B's photo was opened


def test_a_symlink_leading_out_of_the_photos_folder_is_refused(store: Store, tmp_path: Path, photos: Path) -> None:
    (tmp_path / "secret").write_bytes(b"x")
    (photos / f"{A}.jpg").symlink_to(tmp_path / "secret")
    summary = run(store, roster(tmp_path, f"{A},张三,,{A}.jpg\n"), FakeBuilder())
    assert [p.code for p in summary.problems] == ["roster_photo_outside_folder"]


def test_the_cli_reports_the_rebuilt_template(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What the issue saw: 'unchanged 1, templates built 0' after the photo was replaced."""
    import camera.matching

    monkeypatch.setattr(camera.matching, "template_from_image_file",
                        lambda path, _settings=None: template_of(Path(path).read_bytes()))
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ref.jpg").write_bytes(b"first")
    csv_file = roster(tmp_path, f"{A},张三,,ref.jpg\n")
    assert run_cli(["roster", "import", str(csv_file), "--photos", str(photos), "--region", "110101"]) == 0
    (photos / "ref.jpg").write_bytes(b"second")
    capsys.readouterr()
    assert run_cli(["roster", "import", str(csv_file), "--photos", str(photos), "--region", "110101"]) == 0
    out = capsys.readouterr().out
    assert "updated 1" in out and "templates built 1" in out, out
