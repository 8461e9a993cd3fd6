"""Shared fixtures: a private data folder per test, the shared media folder, the configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MEDIA_DIR = REPO_ROOT.parent / "shared" / "media"

# Tests never touch a real display, a real /etc/kiosk or the user's data folder.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path_factory.mktemp("kiosk-data")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(data_dir))
    for name in list(os.environ):
        if name.startswith("KIOSK__"):
            monkeypatch.delenv(name)
    return data_dir


@pytest.fixture
def data_dir(_private_data_dir: Path) -> Path:
    """This test's own data folder (also in KIOSK_DATA_DIR)."""
    return _private_data_dir


@pytest.fixture
def media_dir() -> Path:
    """``../shared/media``; the test is skipped with a reason when it is absent."""
    if not MEDIA_DIR.is_dir():
        pytest.skip(f"shared media folder not found at {MEDIA_DIR} (tests on real faces need ../shared/media)")
    return MEDIA_DIR


@pytest.fixture
def config():
    """The shipped default configuration (with this test's data folder)."""
    from kiosk.config import load_config

    return load_config()


def run_cli(argv: list[str]) -> int:
    """Runs ``kiosk ARGV`` in-process the way the console script does; returns the exit status."""
    from kiosk.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
