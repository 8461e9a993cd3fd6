"""A home visit (issue 19) end to end: ``kiosk --profile visit certify --headless`` offline, then the
records reach the real centre on 127.0.0.1 with their channel and staff number.

Real simulator, real clip, real FaceMesh and dlib (loaded on demand: the visit profile saves the
battery), real SQLite, real HTTP to a real centre process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from centre_harness import CenterProcess
from conftest import run_cli
from kiosk.clock import SystemClock
from kiosk.config import load_config
from kiosk.sync.credentials import new_credentials, save_credentials
from kiosk.sync.worker import SyncWorker
from test_certify_headless import GENUINE, PROMPTS, import_roster, terminal  # noqa: F401 - the fixture
from test_sync_loopback import add_device

STAFF_NUMBER = "GH-0042"


def test_a_visit_certified_offline_syncs_later_with_its_channel(terminal: dict, data_dir: Path,  # noqa: F811
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "centre.db"
    device_id, secret = add_device(str(db))
    monkeypatch.setenv("KIOSK__TERMINAL__DEVICE_ID", device_id)
    monkeypatch.setenv("KIOSK__TERMINAL__STAFF_NUMBER", STAFF_NUMBER)
    import_roster(terminal, "same.jpg")
    capsys.readouterr()
    # In the person's home: no network, the laptop's profile.
    status = run_cli(["--profile", "visit", "certify", "--headless", "--reader", f"sim://{terminal['card_file']}",
                      "--camera", f"file:{terminal['media'] / GENUINE}", *PROMPTS, "--json", "--timeout-s", "120"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and result["outcome"] == "certified", result
    # Back at the office: the laptop is enrolled and on the network; the record goes up.
    with CenterProcess(db) as centre:
        save_credentials(data_dir, new_credentials(centre.url, device_id, secret))
        config = load_config(env=dict(os.environ), profile="visit")
        worker = SyncWorker(config, SystemClock())
        try:
            report = worker.run_once()
        finally:
            worker.stop()
        assert (report.error, report.pushed, report.pending) == (None, 1, 0)
        records = json.loads(centre.admin("certifications", "--device", device_id, "--json"))
    assert len(records) == 1
    record = records[0]
    assert record["record_id"] == result["record_id"] and record["outcome"] == "certified"
    assert record["channel"] == "home_visit" and record["staff_number"] == STAFF_NUMBER
    assert "assisted_by" not in record  # nobody from the family helped here


def test_the_centre_exports_the_days_visits_and_the_laptop_imports_them(tmp_path: Path, data_dir: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """kiosk-center roster export -> kiosk roster import: the people of the day, no template in the file."""
    from click.testing import CliRunner

    from center.cli import cli as center_cli
    from center.db import Pensioner, make_engine, session_factory
    from center.provincial_roster import generate_synthetic

    db = tmp_path / "centre.db"
    with session_factory(make_engine(str(db)))() as session:
        generate_synthetic(session, 12, seed=3, region="110101")
        numbers = sorted(row.id_number for row in session.query(Pensioner))
    ids = tmp_path / "today.txt"
    ids.write_text(f"# 今天上门\n{numbers[0]}\n{numbers[5]}\n\n110101194001010012\n", encoding="utf-8")
    out = tmp_path / "visit.csv"
    result = CliRunner().invoke(center_cli, ["roster", "export", "--region", "110101", "--ids", str(ids),
                                             "--out", str(out), "--db", str(db)])
    assert result.exit_code == 1, result.output  # one number of the list is not in the roster
    assert "exported 2 people" in result.output and "line 5" in result.output
    assert "110101194001010012" not in result.output  # the unknown number is named by its line only
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id_number,name,last_certified" and len(lines) == 3
    assert {line.split(",")[0] for line in lines[1:]} == {numbers[0], numbers[5]}
    assert run_cli(["roster", "import", str(out)]) == 0
    capsys.readouterr()
    assert run_cli(["roster", "show", numbers[5]]) == 0
    bad = CliRunner().invoke(center_cli, ["roster", "export", "--region", "11010", "--out", str(out), "--db", str(db)])
    assert bad.exit_code != 0 and "6 digits" in bad.output
