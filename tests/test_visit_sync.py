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
