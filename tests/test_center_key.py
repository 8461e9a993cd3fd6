"""The centre's own key file (center/center_key.py): made once, private, whole before anyone reads it."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from center import center_key
from wire.signing import private_key_to_text


def test_a_worker_starting_while_another_writes_the_key_gets_the_same_key(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers of `kiosk-center serve --workers N` start together on a new database. The first one
    # is held between making its key and writing it; the second must neither read a half-made
    # (empty) file nor keep a key of its own: both end with one key.
    path = tmp_path / "center.db.center-key"
    made = center_key.new_signing_key
    first_is_making, let_first_go = threading.Event(), threading.Event()
    holds = iter([True])

    def slow_for_the_first() -> object:
        if next(holds, False):
            first_is_making.set()
            let_first_go.wait(10)
        return made()

    monkeypatch.setattr(center_key, "new_signing_key", slow_for_the_first)
    results: dict[str, object] = {}

    def first() -> None:
        try:
            results["first"] = center_key.load_or_create(path)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results["first"] = exc

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert first_is_making.wait(10)
        second = center_key.load_or_create(path)
    finally:
        let_first_go.set()
        worker.join(10)
    assert not isinstance(results["first"], Exception), results["first"]
    assert private_key_to_text(results["first"]) == private_key_to_text(second)  # type: ignore[arg-type]
    assert private_key_to_text(center_key.load_or_create(path)) == private_key_to_text(second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "center.db.center-key"
    center_key.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(center_key.CenterKeyError, match="readable by others"):
        center_key.load_or_create(path)


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "center.db.center-key"
    path.write_text("not a key\n", encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(center_key.CenterKeyError, match="does not hold"):
        center_key.load_or_create(path)
