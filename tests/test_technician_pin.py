"""Technician gatekeeping: PIN hashing, wrong-PIN lockout, the hidden corner gesture, set-pin CLI."""

from __future__ import annotations

import io
import os
import stat
import tomllib
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.technician import (MAX_LOCKOUT_S, CornerTaps, PinCheck, PinError, PinGuard, check_pin_format, hash_pin,
                              lockout_state_file, technician_pin_guard, verify_pin)
from tests.conftest import run_cli

FAST_N = 2**10  # tests use a cheap scrypt cost; the format and the check are the same


def test_hash_is_salted_and_verifies() -> None:
    first, second = hash_pin("2580", n=FAST_N), hash_pin("2580", n=FAST_N)
    assert first != second and "2580" not in first
    assert verify_pin("2580", first) and not verify_pin("2581", first)


@pytest.mark.parametrize("pin", ["", "12a4", "123", "1234567890123", "1111", "1234", "9876", "٣٤٥٦"])
def test_bad_pins_are_refused(pin: str) -> None:
    with pytest.raises(PinError):
        check_pin_format(pin)


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$4$5", "scrypt$1024$8$1$!!$!!"])
def test_a_broken_stored_hash_is_an_error_not_a_pass(stored: str) -> None:
    with pytest.raises(PinError):
        verify_pin("2580", stored)


def test_lockout_after_max_wrong_pins_and_release(tmp_path: Path) -> None:
    clock = FakeClock()
    state = tmp_path / "lock.json"
    guard = PinGuard(hash_pin("2580", n=FAST_N), max_wrong=3, lockout_s=600, clock=clock, state_file=state)
    assert guard.try_pin("0000").tries_left == 2
    assert guard.try_pin("0000").result is PinCheck.WRONG
    assert guard.try_pin("0000").result is PinCheck.LOCKED
    assert guard.try_pin("2580").result is PinCheck.LOCKED  # the right PIN is not even tried while locked
    # A restart does not clear the lock.
    again = PinGuard(hash_pin("2580", n=FAST_N), max_wrong=3, lockout_s=600, clock=clock, state_file=state)
    assert again.try_pin("2580").result is PinCheck.LOCKED
    clock.advance(601)
    assert again.try_pin("2580").result is PinCheck.ACCEPTED
    assert again.try_pin("0000").tries_left == 2  # the count started again


def test_deleting_the_state_file_unlocks_a_running_guard(tmp_path: Path) -> None:
    state = tmp_path / "lock.json"
    guard = PinGuard(hash_pin("2580", n=FAST_N), max_wrong=2, lockout_s=600, clock=FakeClock(), state_file=state)
    guard.try_pin("0000")
    assert guard.try_pin("0000").result is PinCheck.LOCKED
    state.unlink()  # what `kiosk technician unlock` does
    assert guard.try_pin("2580").result is PinCheck.ACCEPTED


def test_unlock_command_clears_the_lock(data_dir: Path) -> None:
    state = lockout_state_file(data_dir)
    clock = FakeClock()
    guard = PinGuard(hash_pin("2580", n=FAST_N), max_wrong=1, lockout_s=600, clock=clock, state_file=state)
    assert guard.try_pin("0000").result is PinCheck.LOCKED and state.is_file()
    assert run_cli(["technician", "unlock"]) == 0
    assert not state.exists()
    assert guard.try_pin("2580").result is PinCheck.ACCEPTED
    assert run_cli(["technician", "unlock"]) == 0  # nothing to clear is fine


def test_no_pin_set_means_no_entry() -> None:
    guard = PinGuard("", max_wrong=5, lockout_s=60, clock=FakeClock())
    assert not guard.enabled and guard.try_pin("2580").result is PinCheck.NOT_SET


def test_corner_gesture() -> None:
    clock = FakeClock()
    taps = CornerTaps(clock, taps=5, window_s=3.0, corner_px=100)
    assert not any(taps.touch(10, 10) for _ in range(4))
    assert taps.touch(20, 30)
    for _ in range(4):
        taps.touch(10, 10)
    assert not taps.touch(500, 500)  # a touch elsewhere resets the count
    assert not taps.touch(10, 10)
    slow = CornerTaps(clock, taps=5, window_s=3.0, corner_px=100)
    results = []
    for _ in range(5):
        clock.advance(1.0)
        results.append(slow.touch(5, 5))
    assert not any(results)


def test_set_pin_command_writes_only_a_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("2580\n"))
    assert run_cli(["--config", str(site), "technician", "set-pin", "--pin-stdin"]) == 0
    stored = tomllib.loads(site.read_text())["technician"]["pin_hash"]
    assert "2580" not in site.read_text() and verify_pin("2580", stored)
    monkeypatch.setattr("sys.stdin", io.StringIO("1111\n"))
    assert run_cli(["--config", str(site), "technician", "set-pin", "--pin-stdin"]) == 2
    assert tomllib.loads(site.read_text())["technician"]["pin_hash"] == stored  # bad input lost nothing


@pytest.mark.parametrize("existing", [True, False])
def test_set_pin_leaves_the_site_file_readable_by_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 existing: bool) -> None:
    # The file holds the PIN hash: readable by others, it can be guessed offline at leisure.
    site = tmp_path / "site.toml"
    if existing:
        site.write_text("[rules]\ngrace_days = 20\n")
        site.chmod(0o600)
    old_umask = os.umask(0o022)
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO("2580\n"))
        assert run_cli(["--config", str(site), "technician", "set-pin", "--pin-stdin"]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site.toml"]  # no temporary file left behind
    if existing:
        assert tomllib.loads(site.read_text())["rules"]["grace_days"] == 20


def test_lockouts_double_up_to_the_cap_until_a_correct_pin_and_survive_a_restart(tmp_path: Path) -> None:
    # Without escalation a 900 s lock after 5 wrong PINs lets a patient guesser try ~480 PINs a day.
    clock = FakeClock()
    state = tmp_path / "lock.json"
    alarms: list[tuple[int, float]] = []
    pin_hash = hash_pin("2580", n=FAST_N)

    def guard() -> PinGuard:  # a new guard is a restart of the kiosk
        return PinGuard(pin_hash, max_wrong=2, lockout_s=600, clock=clock, state_file=state,
                        on_lockout=lambda count, seconds: alarms.append((count, seconds)))

    def lock_out(g: PinGuard) -> float:
        assert g.try_pin("0000").result is PinCheck.WRONG
        answer = g.try_pin("0000")
        assert answer.result is PinCheck.LOCKED
        clock.advance(answer.locked_s + 1)
        return answer.locked_s

    lengths = [lock_out(guard()) for _ in range(8)]
    assert lengths == [600, 1200, 2400, 4800, 9600, MAX_LOCKOUT_S, MAX_LOCKOUT_S, MAX_LOCKOUT_S]
    assert alarms == [(n, length) for n, length in enumerate(lengths, start=1)]
    assert guard().try_pin("2580").result is PinCheck.ACCEPTED  # only the right PIN ends the escalation
    assert lock_out(guard()) == 600


def test_a_lockout_is_an_alarm_in_the_audit_log(config, data_dir: Path) -> None:
    from kiosk.store import Store

    clock = FakeClock()
    technician = config.technician.model_copy(update={"pin_hash": hash_pin("2580", n=FAST_N), "max_wrong_pins": 2,
                                                      "lockout_s": 900.0})
    guard = technician_pin_guard(config.model_copy(update={"technician": technician}), clock)
    guard.try_pin("1357")
    guard.try_pin("1357")
    with Store.from_config(config, clock) as store:
        entries = [e for e in store.audit_entries() if e["code"] == "technician_pin_lockout"]
    assert len(entries) == 1
    assert entries[0]["step"] == "technician" and entries[0]["detail"] == {"lockouts": 1, "lockout_s": 900}
    assert "1357" not in str(entries)  # the PIN tried is never written anywhere
    assert lockout_state_file(data_dir).is_file()


def test_a_failing_alarm_does_not_lift_the_lock(tmp_path: Path) -> None:
    def broken_alarm(_count: int, _seconds: float) -> None:
        raise OSError("disk full")

    guard = PinGuard(hash_pin("2580", n=FAST_N), max_wrong=1, lockout_s=600, clock=FakeClock(),
                     state_file=tmp_path / "lock.json", on_lockout=broken_alarm)
    assert guard.try_pin("0000").result is PinCheck.LOCKED
    assert guard.try_pin("2580").result is PinCheck.LOCKED
