"""Staff accounts and their sign-in (issue 17, item 2): own PIN or card, hashed; roles; lock after
wrong entries; audited; managed by ``kiosk staff add/list/disable`` (run as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlite_utils import Database

from kiosk.clock import FakeClock
from kiosk.errors import StorageError
from kiosk.staff_accounts import (
    SignInResult, StaffAccountError, StaffSignIn, add_staff_account, disable_staff_account,
)
from kiosk.store import DeviceKey, Store
from kiosk.technician import PinError

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store() -> Iterator[Store]:
    with Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate()) as opened:
        yield opened


def sign_in(store: Store, clock: FakeClock, max_wrong: int = 3) -> StaffSignIn:
    @contextmanager
    def borrowed() -> Iterator[Store]:
        yield store  # the test's in-memory store, not closed after each answer

    return StaffSignIn(borrowed, clock, max_wrong=max_wrong, lockout_s=60)


def test_an_account_keeps_a_hash_not_the_pin_nor_the_card(store: Store) -> None:
    account = add_staff_account(store, "S-001", "王芳", "4826", {"verifier"}, card_number="CARD123456")
    assert account.pin_hash.startswith("scrypt$") and "4826" not in account.pin_hash and account.has_card
    dump = "\n".join(map(str, store.db.execute("SELECT * FROM staff_accounts").fetchall()))
    assert "4826" not in dump and "CARD123456" not in dump
    assert "pin_hash" not in repr(account) and "scrypt" not in repr(account)
    assert [entry["code"] for entry in store.audit_entries()] == ["added"]


def test_bad_accounts_are_refused_with_a_reason(store: Store) -> None:
    with pytest.raises(StaffAccountError):
        add_staff_account(store, "S 1", "王芳", "4826", {"verifier"})
    with pytest.raises(StaffAccountError):
        add_staff_account(store, "S-1", "王芳", "4826", {"janitor"})
    with pytest.raises(PinError):
        add_staff_account(store, "S-1", "王芳", "1234", {"verifier"})
    add_staff_account(store, "S-1", "王芳", "4826", {"verifier"})
    with pytest.raises(StorageError, match="already registered"):
        add_staff_account(store, "S-1", "李明", "5937", {"verifier"})


def test_sign_in_with_pin_or_card_and_roles(store: Store) -> None:
    clock = FakeClock()
    add_staff_account(store, "S-001", "王芳", "4826", {"verifier"}, card_number="CARD-A")
    add_staff_account(store, "T-001", "李明", "5937", {"technician"})
    guard = sign_in(store, clock)
    answer = guard.with_pin("S-001", "4826")
    assert answer.result is SignInResult.ACCEPTED and answer.account.staff_number == "S-001"
    assert guard.with_card("CARD-A").account.staff_number == "S-001"
    assert guard.with_pin("T-001", "5937").result is SignInResult.WRONG  # a technician may not certify
    assert guard.with_pin("T-001", "5937", role="technician").result is SignInResult.ACCEPTED
    disable_staff_account(store, "S-001")
    assert guard.with_pin("S-001", "4826").result is SignInResult.WRONG
    codes = [entry["code"] for entry in store.audit_entries() if entry["step"] == "staff"]
    assert codes == ["sign_in_accepted", "sign_in_accepted", "sign_in_refused", "sign_in_accepted", "sign_in_refused"]
    assert all("4826" not in json.dumps(entry) for entry in store.audit_entries())


def test_wrong_entries_lock_sign_in_for_every_number(store: Store) -> None:
    clock = FakeClock()
    add_staff_account(store, "S-001", "王芳", "4826", {"verifier"})
    guard = sign_in(store, clock, max_wrong=3)
    assert guard.with_pin("S-001", "0000").tries_left == 2
    assert guard.with_pin("X-9", "4826").tries_left == 1  # unknown numbers count too
    assert guard.with_pin("S-002", "4826").result is SignInResult.LOCKED
    assert guard.with_pin("S-001", "4826").result is SignInResult.LOCKED  # even the right PIN, while locked
    clock.advance(61)
    assert guard.with_pin("S-001", "4826").result is SignInResult.ACCEPTED


def run_kiosk(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK__TERMINAL__KEY_FILE": str(tmp_path / "device.key")}
    return subprocess.run([sys.executable, "-m", "kiosk", "staff", *args], cwd=REPO_ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_staff_command_adds_lists_and_disables(tmp_path: Path) -> None:
    added = run_kiosk(tmp_path, "add", "--number", "S-001", "--name", "王芳", "--role", "verifier", "--card",
                      "--pin-stdin", stdin="4826\nCARD-A\n")
    assert added.returncode == 0, added.stderr
    assert "S-001 added (verifier)" in added.stdout
    again = run_kiosk(tmp_path, "add", "--number", "S-001", "--name", "王芳", "--pin-stdin", stdin="4826\n")
    assert again.returncode == 2 and "storage_duplicate_staff" in again.stderr
    weak = run_kiosk(tmp_path, "add", "--number", "S-002", "--name", "李明", "--pin-stdin", stdin="1111\n")
    assert weak.returncode == 2 and "technician_pin_invalid" in weak.stderr
    listed = run_kiosk(tmp_path, "list", "--json")
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {"staff_number": "S-001", "name": "王芳", "roles": ["verifier"], "disabled": False, "card": True}]
    assert run_kiosk(tmp_path, "disable", "S-001").returncode == 0
    assert "(disabled)" in run_kiosk(tmp_path, "list").stdout
    missing = run_kiosk(tmp_path, "disable", "S-404")
    assert missing.returncode != 0 and "no staff account S-404" in missing.stderr


def test_the_technician_page_adds_disables_and_lists_calls(qapp, data_dir: Path) -> None:
    from datetime import datetime, timezone

    from conftest import wait_until
    from kiosk.config import load_config
    from ui.catalogue import Catalogue
    from ui.technician.pages_staff import StaffPage
    from ui.technician.services import TechnicianServices

    config = load_config()
    clock = FakeClock()
    with Store.from_config(config, clock) as store:
        store.add_staff_call("6f1c2e3a-1111-4222-8333-944455556666", clock.now(), "result", "attempts_exhausted")
        store.mark_staff_call_delivered("6f1c2e3a-1111-4222-8333-944455556666", clock.now())
        store.mark_staff_call_acknowledged("6f1c2e3a-1111-4222-8333-944455556666",
                                           datetime(2026, 5, 20, 1, 2, tzinfo=timezone.utc), "S-009", here=False)
    audited: list[str] = []
    services = TechnicianServices(config=config, site_config_path=data_dir / "site.toml",
                                  store_factory=lambda: Store.from_config(config, clock))
    services.audit = lambda code, **_detail: audited.append(code)  # type: ignore[method-assign]
    page = StaffPage(Catalogue.load(), services)
    page.show()
    page.entered()
    wait_until(qapp, lambda: "attempts_exhausted" in page.calls.text())
    assert "09:00:00" in page.calls.text() and "09:02:00" in page.calls.text() and "S-009" in page.calls.text()
    page.number.setText("S-001")
    page.name.setText("王芳")
    page.pin.setText("4826")
    page.add_account()
    assert page.pin.text() == ""  # never left in the field
    wait_until(qapp, lambda: "S-001" in page.accounts.text())
    assert audited == ["staff_added"]
    page.pin.setText("1111")
    page.number.setText("S-002")
    page.name.setText("李明")
    page.add_account()
    wait_until(qapp, lambda: "technician_pin_invalid" in page.status.text())
    page.chosen.setCurrentText("S-001")
    page.set_disabled(True)
    wait_until(qapp, lambda: "已停用" in page.accounts.text())
    with Store.from_config(config, clock) as store:
        assert store.staff_account("S-001").disabled and store.staff_account("S-002") is None
    if os.environ.get("KIOSK_SHOTS"):
        page.resize(1400, 900)
        qapp.processEvents()
        page.grab().save(str(Path(os.environ["KIOSK_SHOTS"]) / "technician_staff.png"))
    page.close()
