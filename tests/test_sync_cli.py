"""``kiosk enroll-device``, ``kiosk sync --once --json`` and the sync lines of ``kiosk doctor``."""

from __future__ import annotations

import json
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from center.db import Device, make_engine, session_factory
from centre_harness import CenterProcess, free_port
from kiosk.cli.sync_cmd import checked_center_url
from kiosk.clock import SystemClock
from kiosk.config import load_config
from kiosk.errors import SyncError
from kiosk.store import CertificationRecord, Store
from wire import signing
from kiosk.sync.credentials import credentials_path, load_credentials
from kiosk.sync.worker import backoff_delay


@pytest.fixture(scope="module")
def centre(module_centre_db: str) -> Iterator[CenterProcess]:
    """The centre for this module's tests, once on SQLite and once on PostgreSQL."""
    with CenterProcess(module_centre_db) as process:
        yield process


@pytest.fixture
def device(centre: CenterProcess) -> tuple[str, str]:
    output = json.loads(centre.admin("device", "add", "CLI hall", "--json"))
    assert set(output) >= {"device_id", "secret"}
    return output["device_id"], output["secret"]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_enrol_then_sync_once(centre: CenterProcess, device: tuple[str, str], data_dir: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    device_id, secret = device
    assert run_cli(["enroll-device", "--center", centre.url, "--device-id", device_id, "--secret", secret, "--json"]) == 0
    out = capsys.readouterr().out
    enrolled = json.loads(out)
    assert enrolled["registered"] is True and enrolled["device_id"] == device_id
    path = credentials_path(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in out
    clock = SystemClock()
    with Store.from_config(load_config(), clock) as store:
        for index in range(3):
            store.record_attempt(CertificationRecord(session_id=f"s{index}", occurred_at=clock.now(), device_id=device_id,
                                                     region_code="110101", id_number=None, outcome="card_unreadable"))
    assert run_cli(["sync", "--once", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["pushed"], report["pending"], "error" in report) == (3, 0, False)
    assert "pulled" in report
    assert run_cli(["sync", "--once", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pushed"] == 0
    received = json.loads(centre.admin("certifications", "--device", device_id, "--json"))
    assert sorted(r["outcome"] for r in received) == ["card_unreadable"] * 3
    assert run_cli(["sync", "--status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["enrolled"], status["pending"], status["sent"], status["last_error_code"]) == (True, 0, 3, None)


def test_sync_without_a_reachable_centre_prints_the_error_not_a_traceback(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    secret = signing.new_secret()
    assert run_cli(["enroll-device", "--center", f"http://127.0.0.1:{port}", "--device-id", "T9", "--secret", secret,
                    "--json"]) == 0
    enrolled = json.loads(capsys.readouterr().out)
    assert (enrolled["registered"], enrolled["error"]) == (False, "center_unreachable")
    assert load_credentials(data_dir) is not None  # kept: the key is registered at the first sync
    assert run_cli(["sync", "--once", "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["error"] == "center_unreachable" and report["pushed"] == 0 and "pending" in report
    assert "Traceback" not in captured.err
    assert run_cli(["doctor", "--json"]) in (0, 1)
    checks = {item["check"]: item for item in _json_lines(capsys.readouterr().out)}
    assert checks["center reachable"]["status"] == "warning"
    assert "center_unreachable" in checks["last sync"]["detail"]


def test_enrolment_with_a_wrong_secret_stores_nothing(centre: CenterProcess, device: tuple[str, str],
                                                      data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device_id, _secret = device
    status = run_cli(["enroll-device", "--center", centre.url, "--device-id", device_id, "--secret", "ab" * 32])
    assert status == 2 and "auth_failed" in capsys.readouterr().err
    assert load_credentials(data_dir) is None


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--center", "ftp://x", "--device-id", "T1", "--secret", "ab" * 32], "sync_url_invalid"),
    (["--center", "http://10.0.0.1", "--device-id", "T1", "--secret", "ab" * 32], "https"),
    (["--center", "https://c.example", "--device-id", "bad id!", "--secret", "ab" * 32], "sync_device_id_invalid"),
    (["--center", "https://c.example", "--device-id", "T1", "--secret", "short"], "sync_secret_invalid"),
    (["--center", "http://[::1", "--device-id", "T1", "--secret", "ab" * 32], "sync_url_invalid"),
    (["--center", "https://c.example:99999", "--device-id", "T1", "--secret", "ab" * 32], "sync_url_invalid"),
    (["--center", "https://c.example:abc", "--device-id", "T1", "--secret", "ab" * 32], "sync_url_invalid"),
    (["--center", "https://c.example/\x01", "--device-id", "T1", "--secret", "ab" * 32], "sync_url_invalid"),
])
def test_bad_enrolment_input_is_refused_with_a_reason(argv: list[str], fragment: str, data_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["enroll-device", *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert load_credentials(data_dir) is None


@pytest.mark.parametrize(("url", "problem"), [
    ("http://[::1", "Invalid IPv6 URL"),
    ("https://[fe80::1/x", "Invalid IPv6 URL"),
    ("https://c.example:99999", "out of range"),
    ("https://c.example:abc", "Port"),
    ("https://exa mple.example", "space"),
    ("https://c.example/" + "a" * 5000, "characters"),
])
def test_an_unparsable_centre_url_is_a_reason_not_an_internal_error(url: str, problem: str) -> None:
    with pytest.raises(SyncError) as info:
        checked_center_url(url, "--center")
    assert info.value.code == "sync_url_invalid"
    assert "--center" in info.value.message and problem in info.value.message
    assert len(info.value.message) < 400  # a long URL is not echoed whole


@pytest.mark.parametrize(("url", "expected"), [
    ("https://c.example/", "https://c.example"),
    ("https://c.example:8443/kiosk", "https://c.example:8443/kiosk"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("http://127.0.0.1:9", "http://127.0.0.1:9"),
])
def test_a_usable_centre_url_passes(url: str, expected: str) -> None:
    assert checked_center_url(url, "--center") == expected


def test_cli_names_an_invalid_centre_url_instead_of_an_internal_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    status = run_cli(["enroll-device", "--center", "http://[::1", "--device-id", "T1", "--secret", "ab" * 32])
    err = capsys.readouterr().err
    assert status == 2 and status != 70, err
    assert "[sync_url_invalid]" in err and "--center" in err and "http://[::1" in err and "IPv6" in err
    monkeypatch.setenv("KIOSK__SYNC__CENTER_URL", "'https://c.example:abc'")
    status = run_cli(["enroll-device", "--device-id", "T1", "--secret", "ab" * 32])
    err = capsys.readouterr().err
    assert status == 2 and "[sync_url_invalid]" in err and "sync.center_url" in err
    assert load_credentials(data_dir) is None


def test_sync_before_enrolment_says_not_enrolled(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sync", "--once", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "not_enrolled"


def test_credentials_readable_by_others_are_refused(centre: CenterProcess, device: tuple[str, str], data_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    device_id, secret = device
    assert run_cli(["enroll-device", "--center", centre.url, "--device-id", device_id, "--secret", secret]) == 0
    capsys.readouterr()
    credentials_path(data_dir).chmod(0o644)
    assert run_cli(["sync", "--once", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "sync_credentials_invalid"
    credentials_path(data_dir).write_text("{broken")
    credentials_path(data_dir).chmod(0o600)
    assert run_cli(["sync", "--once", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "sync_credentials_invalid"


def test_a_disabled_device_shows_as_an_auth_failure(centre: CenterProcess, device: tuple[str, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    device_id, secret = device
    assert run_cli(["enroll-device", "--center", centre.url, "--device-id", device_id, "--secret", secret]) == 0
    capsys.readouterr()
    centre.admin("device", "disable", device_id)
    assert run_cli(["sync", "--once", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "auth_failed"
    with session_factory(make_engine(centre.db))() as session:
        assert session.get(Device, device_id).disabled


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(5)
    delays = [[backoff_delay(n, 900.0, rng) for _ in range(200)] for n in range(1, 13)]
    for n, samples in enumerate(delays, start=1):
        step = min(900.0, 2.0 * 2 ** (n - 1))
        assert all(step / 2 <= d <= step for d in samples)
        assert max(samples) - min(samples) > step / 10  # jittered, not in lock step
    assert max(delays[-1]) <= 900.0


def test_a_kiosk_killed_mid_batch_resends_and_the_centre_keeps_one_copy(
        centre: CenterProcess, device: tuple[str, str], data_dir: Path) -> None:
    import os
    import subprocess
    import sys

    from sqlalchemy import func, select

    from center.db import Certification
    from centre_harness import REPO_ROOT, FaultProxy

    device_id, secret = device
    proxy = FaultProxy(centre.port).start()
    try:
        assert run_cli(["enroll-device", "--center", proxy.url, "--device-id", device_id, "--secret", secret]) == 0
        clock = SystemClock()
        with Store.from_config(load_config(), clock) as store:
            for index in range(250):
                store.record_attempt(CertificationRecord(session_id=f"k{index}", occurred_at=clock.now(),
                                                         device_id=device_id, region_code="110101",
                                                         id_number=None, outcome="card_unreadable"))
        env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir)}
        kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "sync", "--once", "--json"], cwd=REPO_ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The centre stores the first batch, then the kiosk dies before it reads the receipts.
        proxy.add_fault("call_after", "/v1/results", callback=kiosk.kill)
        kiosk.wait(60)
        assert kiosk.returncode == -9
        with Store.from_config(load_config(), clock) as store:
            assert store.outbox_counts()["pending"] == 250  # nothing was marked sent
        with session_factory(make_engine(centre.db))() as session:
            assert session.scalar(select(func.count()).where(Certification.device_id == device_id)) == 100
        again = subprocess.run([sys.executable, "-m", "kiosk", "sync", "--once", "--json"], cwd=REPO_ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["pending"] == 0
        with session_factory(make_engine(centre.db))() as session:
            rows = session.execute(select(func.count(), func.count(func.distinct(Certification.record_id)))
                                   .where(Certification.device_id == device_id)).one()
        assert tuple(rows) == (250, 250)
    finally:
        proxy.close()


def test_https_with_the_regions_ca_and_refusal_without_it(tmp_path: Path, data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from centre_harness import self_signed_tls

    certificate, key, ca = self_signed_tls(tmp_path)
    with CenterProcess(tmp_path / "tls.db", tls=(certificate, key, ca)) as centre:
        added = json.loads(centre.admin("device", "add", "TLS hall", "--json"))
        device_id, secret = added["device_id"], added["secret"]
        monkeypatch.setenv("KIOSK__SYNC__CA_FILE", str(ca))
        assert run_cli(["enroll-device", "--center", centre.url, "--device-id", device_id, "--secret", secret,
                        "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["registered"] is True
        assert run_cli(["sync", "--once", "--json"]) == 0
        assert "error" not in json.loads(capsys.readouterr().out)
        monkeypatch.setenv("KIOSK__SYNC__CA_FILE", "")
        assert run_cli(["sync", "--once", "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["error"] == "center_certificate_invalid"
        monkeypatch.setenv("KIOSK__SYNC__CA_FILE", str(tmp_path / "missing.pem"))
        assert run_cli(["sync", "--once", "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["error"] == "sync_ca_file_invalid"


def test_an_unreachable_centre_is_probed_every_interval_while_errors_back_off(data_dir: Path) -> None:
    from kiosk.sync.status import SyncReport
    from kiosk.sync.worker import SyncWorker

    config = load_config()
    worker = SyncWorker(config, SystemClock(), rng=random.Random(1))
    errors = [worker._next_delay(SyncReport(error="center_error")) for _ in range(12)]
    assert errors[-1] > config.sync.interval_s and errors[-1] <= config.sync.max_backoff_s
    offline = [worker._next_delay(SyncReport(error="center_unreachable")) for _ in range(12)]
    assert max(offline) <= config.sync.interval_s
    assert worker._next_delay(SyncReport()) == config.sync.interval_s  # success resets the count
    assert worker._next_delay(SyncReport(error="center_error")) <= 2.0
    worker.notify_network_changed(True)  # also resets it
    assert worker._failures == 0


def test_an_unusable_ca_file_does_not_count_as_reaching_the_centre(tmp_path: Path, data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.sync.credentials import new_credentials, save_credentials
    from kiosk.sync.worker import SyncWorker

    save_credentials(data_dir, new_credentials("http://127.0.0.1:9", "t9", signing.new_secret()))  # nothing there
    monkeypatch.setenv("KIOSK__SYNC__CA_FILE", str(tmp_path / "missing.pem"))
    worker = SyncWorker(load_config(), SystemClock())
    assert worker.run_once().error == "sync_ca_file_invalid"
    assert worker.status().online is None  # no request left the terminal: neither online nor offline
