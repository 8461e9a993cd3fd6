"""Doctor checks of the reader: URL openable with a ready SAM, and the WLT decoder setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import KioskConfig
from kiosk.doctor import Status, all_checks
from kiosk.doctor.checks_reader import _HINTS, check_reader, check_wlt_decoder
from reader.simulator import forget_simulators


@pytest.fixture(autouse=True)
def _fresh_simulators() -> None:
    forget_simulators()
    yield
    forget_simulators()


def _with_reader(config: KioskConfig, **changes: object) -> KioskConfig:
    return config.model_copy(update={"reader": config.reader.model_copy(update=changes)})


def test_checks_are_registered() -> None:
    names = {check.name: check for check in all_checks()}
    assert names["reader URL openable"].required and not names["WLT photo decoder"].required


def test_simulated_reader_is_a_warning_with_the_sam_id(config: KioskConfig) -> None:
    result = check_reader(config)
    assert result.status is Status.WARNING and "SAM ID 05.01-20101025" in result.detail


@pytest.mark.parametrize(
    ("url", "code"),
    [("sim://?sam=selftest_fail", "sam_not_ready"), ("/dev/nonexistent-reader", "reader_unavailable"),
     ("bogus://x", "reader_url_invalid")],
)
def test_reader_failures_name_the_reason_and_a_hint(config: KioskConfig, url: str, code: str) -> None:
    result = check_reader(_with_reader(config, url=url))
    assert result.status is Status.FAILED and f"[{code}]" in result.detail
    assert result.hint == _HINTS[code]  # the reason's own hint, not the generic one


def test_wlt_decoder_setting(config: KioskConfig, tmp_path: Path) -> None:
    assert check_wlt_decoder(config).status is Status.OK
    result = check_wlt_decoder(_with_reader(config, wlt_decoder=str(tmp_path / "libwlt.so")))
    assert result.status is Status.FAILED and "wlt_decoder_unavailable" in result.detail
