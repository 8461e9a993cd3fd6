"""The shape of the code base: dependencies point one way, and only ui/ imports Qt.

``wire/`` is the contract between the terminal and the provincial centre: both ``kiosk/`` and
``center/`` import it, it imports neither, and the two sides never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["kiosk", "camera", "reader", "ui", "center", "wire"]
PROJECT = set(PACKAGES)


def imported_top_levels(package: str) -> dict[str, set[str]]:
    """Maps each top-level module name imported anywhere in ``package`` to the files importing it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", ["kiosk", "camera", "reader", "center", "wire"])
def test_no_qt_outside_ui(package: str) -> None:
    if not (ROOT / package).is_dir():
        pytest.skip(f"{package}/ does not exist yet")
    imports = imported_top_levels(package)
    for qt in ("PySide6", "PyQt5", "PyQt6", "shiboken6"):
        assert qt not in imports, f"{package}/ imports {qt} in {sorted(imports[qt])}; only ui/ may"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("camera", {"kiosk", "ui", "reader", "center", "wire"}),
        ("reader", {"kiosk", "ui", "camera", "center", "wire"}),
        ("kiosk", {"ui", "center"}),
        # The centre talks to terminals through the wire contract only; it may use the device-free
        # parsers of reader/ (ID number rules) and camera/ (templates from roster photos).
        ("center", {"kiosk", "ui"}),
        ("wire", PROJECT - {"wire"}),
    ],
)
def test_dependencies_point_one_way(package: str, forbidden: set[str]) -> None:
    imports = imported_top_levels(package)
    for name in forbidden:
        assert name not in imports, f"{package}/ must not import {name}/ (found in {sorted(imports[name])})"


def test_every_package_is_guarded() -> None:
    """A new top-level package must be added to PACKAGES (and given its rules above)."""
    found = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "scripts", "build", "dist"}
    assert found <= PROJECT, f"packages without architecture rules: {sorted(found - PROJECT)}"


def test_the_centres_test_harness_is_not_in_the_production_package() -> None:
    assert not (ROOT / "center" / "testing.py").exists()
    assert (ROOT / "tests" / "centre_harness.py").exists()
    assert "tests" not in imported_top_levels("center") and "centre_harness" not in imported_top_levels("center")


def test_the_guard_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walker itself works: a planted Qt import is found."""
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "m.py").write_text("from PySide6.QtCore import QObject\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert "PySide6" in imported_top_levels("fake")


def test_ui_does_not_probe_objects_for_optional_behaviour() -> None:
    """The UI calls real methods of typed interfaces (Protocols in kiosk, base-class methods):
    no hasattr/getattr checks for behaviour that may or may not be there."""
    probes = []
    for path in (ROOT / "ui").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        probes += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")]
    assert probes == []
