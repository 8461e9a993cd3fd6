"""Rotating log files with a size cap, owner-only files, and the ID-number guard."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.config import LoggingSettings
from kiosk.logsetup import ID_NUMBER_LIKE, LOG_FILE_NAME, configure_logging, log_dir


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _settings(max_bytes: int = 10_000, backup_count: int = 2, level: str = "INFO") -> LoggingSettings:
    return LoggingSettings(level=level, max_bytes=max_bytes, backup_count=backup_count)


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_rotation_caps_the_total_size(tmp_path: Path, restore_root: None) -> None:
    path = configure_logging(_settings(max_bytes=10_000, backup_count=2), tmp_path)
    assert path == log_dir(tmp_path) / LOG_FILE_NAME
    log = logging.getLogger("kiosk.test")
    for index in range(2000):  # ~150 kB of log lines into a 30 kB budget
        log.info("record %06d stored: certified (attempt 1) %s", index, "." * 40)
    _flush()
    files = sorted(log_dir(tmp_path).iterdir())
    assert [f.name for f in files] == ["kiosk.log", "kiosk.log.1", "kiosk.log.2"]
    assert all(f.stat().st_size <= 10_000 for f in files)
    assert "record 001999" in path.read_text(encoding="utf-8")  # the newest line survived
    assert "record 000000" not in "".join(f.read_text(encoding="utf-8") for f in files)


def test_files_are_owner_only(tmp_path: Path, restore_root: None) -> None:
    path = configure_logging(_settings(), tmp_path)
    logging.getLogger("kiosk.test").warning("hello")
    _flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_dir(tmp_path).stat().st_mode) == 0o700


def test_level_from_settings(tmp_path: Path, restore_root: None) -> None:
    path = configure_logging(_settings(level="WARNING"), tmp_path)
    logging.getLogger("kiosk.test").info("chatter")
    logging.getLogger("kiosk.test").warning("problem")
    _flush()
    text = path.read_text(encoding="utf-8")
    assert "problem" in text and "chatter" not in text


def test_id_number_in_message_args_or_traceback_is_withheld(tmp_path: Path, restore_root: None) -> None:
    path = configure_logging(_settings(), tmp_path)
    log = logging.getLogger("kiosk.leaky")
    log.info("looked up %s", "11010519491231002X")
    log.warning("card ABC123456789012 rejected")
    try:
        raise ValueError("bad number 110105194912310021")
    except ValueError:
        log.exception("parse failed")
    log.info("record 01HZX stored at 1732262400123456789 ns, 2048 bytes")
    _flush()
    text = path.read_text(encoding="utf-8")
    for secret in ("11010519491231002X", "ABC123456789012", "110105194912310021"):
        assert secret not in text
    assert text.count("log record withheld") == 3
    assert "test_logsetup.py:" in text  # says where the leaking call is
    assert "1732262400123456789 ns" in text  # a 19-digit number is not an ID number


def test_reconfiguring_replaces_our_handlers_only(tmp_path: Path, restore_root: None) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    configure_logging(_settings(), tmp_path / "a")
    configure_logging(_settings(), tmp_path / "b")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_kiosk_logsetup", False)]
    assert len(ours) == 2 and other in logging.getLogger().handlers
    logging.getLogger().removeHandler(other)


def test_unwritable_data_dir_raises(tmp_path: Path, restore_root: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        configure_logging(_settings(), blocker)


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"\d{17}[\dX]", fullmatch=True), st.sampled_from(["", " ", "id=", "：", "x "]))
def test_any_id_shape_is_caught(number: str, prefix: str) -> None:
    assert ID_NUMBER_LIKE.search(f"{prefix}{number} end")


@pytest.mark.parametrize("text", ["first-generation 110105491231002 end", "id=ABC123456789012"])
def test_fifteen_digit_and_foreign_card_numbers_are_caught(text: str) -> None:
    assert ID_NUMBER_LIKE.search(text)


@pytest.mark.parametrize("text", ["1234567890123456", "12345678901234567890", "device KIOSK-DEV-0001", "abc110105194912310021"])
def test_other_numbers_pass(text: str) -> None:
    assert ID_NUMBER_LIKE.search(text) is None


def test_run_and_demo_log_to_the_data_folder(data_dir: Path, restore_root: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from kiosk.cli import LOGGED_COMMANDS, CliState, _log_to_files

    assert LOGGED_COMMANDS == {"run", "demo"}
    _log_to_files(CliState(None))
    logging.getLogger("kiosk.test").warning("started")
    _flush()
    assert "started" in (log_dir(data_dir) / LOG_FILE_NAME).read_text(encoding="utf-8")

    blocked = data_dir / "blocked"
    blocked.write_text("a file where the data folder should be")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(blocked))
    with pytest.raises(click.ClickException, match="cannot write the log folder"):
        _log_to_files(CliState(None))
