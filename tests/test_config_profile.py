"""The visit profile (issue 19): config/visit.toml over the defaults, under the site file and the environment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from kiosk.config import load_config
from kiosk.errors import ConfigError


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """``kiosk run`` installs the log file and console handlers on the root logger (a long-running
    command): they are taken off again so that later tests do not write to a closed stream."""
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


def test_the_visit_profile_is_a_windowed_battery_saving_home_visit() -> None:
    hall = load_config(env={})
    assert (hall.terminal.channel, hall.terminal.battery_saving, hall.terminal.staff_number) == ("hall", False, "")
    visit = load_config(env={}, profile="visit")
    assert (visit.terminal.channel, visit.terminal.battery_saving, visit.ui.fullscreen) == ("home_visit", True, False)
    assert visit.rules == hall.rules and visit.liveness == hall.liveness  # the same certification rules


def test_the_site_file_and_the_environment_win_over_the_profile(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[terminal]\nstaff_number = "GH-7"\n[ui]\nfullscreen = true\n', encoding="utf-8")
    config = load_config(site, env={"KIOSK__TERMINAL__BATTERY_SAVING": "false"}, profile="visit")
    assert (config.terminal.staff_number, config.ui.fullscreen, config.terminal.battery_saving) == ("GH-7", True, False)
    assert config.terminal.channel == "home_visit"


def test_an_unknown_profile_and_a_bad_staff_number_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile"):
        load_config(env={}, profile="holiday")
    site = tmp_path / "site.toml"
    site.write_text('[terminal]\nstaff_number = "工号 7"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="staff_number"):
        load_config(site, env={}, profile="visit")


def test_a_home_visit_will_not_start_without_a_staff_number(capsys: pytest.CaptureFixture[str],
                                                            restore_root_logging: None) -> None:
    assert run_cli(["run", "--profile", "visit"]) != 0
    assert "--staff-number" in capsys.readouterr().err
    assert run_cli(["run", "--profile", "visit", "--staff-number", "x y"]) != 0
    assert "--staff-number" in capsys.readouterr().err


def test_a_staff_number_on_an_ordinary_record_belongs_to_a_home_visit_only() -> None:
    from datetime import datetime, timezone

    from kiosk.store import CertificationRecord

    values = dict(session_id="s", occurred_at=datetime(2026, 5, 20, tzinfo=timezone.utc), device_id="D",
                  region_code="110101", id_number="110101194001010012", outcome="certified", staff_number="GH-7")
    assert CertificationRecord(**values, channel="home_visit").staff_number == "GH-7"
    with pytest.raises(ValueError, match="home visit"):
        CertificationRecord(**values)  # at the hall only a staff_verified record names staff
    with pytest.raises(ValueError, match="channel"):
        CertificationRecord(**{**values, "staff_number": None}, channel="bus")


def test_the_visit_signs_the_staff_member_in_with_their_own_account(capsys: pytest.CaptureFixture[str],
                                                                    restore_root_logging: None) -> None:
    from kiosk.clock import SystemClock
    from kiosk.staff_accounts import add_staff_account
    from kiosk.store import Store
    from kiosk.visit import VisitSignInError, sign_in_for_visit

    config = load_config(profile="visit")
    with Store.from_config(config, SystemClock()) as store:
        add_staff_account(store, "GH-7", "李*", "246813", {"verifier"})
    visit = config.model_copy(update={"terminal": config.terminal.model_copy(update={"staff_number": "GH-7"})})
    assert sign_in_for_visit(visit, "246813", SystemClock()) == "GH-7"
    with pytest.raises(VisitSignInError, match="wrong PIN"):
        sign_in_for_visit(visit, "135792", SystemClock())
    with pytest.raises(VisitSignInError, match="staff-number"):
        sign_in_for_visit(config, "246813", SystemClock())
    # kiosk run refuses to open the window for a refused sign-in (the window is never reached here).
    import io, sys  # noqa: E401

    sys_stdin = sys.stdin
    sys.stdin = io.StringIO("000000\n")
    try:
        assert run_cli(["run", "--profile", "visit", "--staff-number", "GH-7", "--pin-stdin"]) != 0
    finally:
        sys.stdin = sys_stdin
    assert "visit_sign_in_refused" in capsys.readouterr().err
