"""Technician mode in the window: hidden gesture + PIN, lockout, pages with fake devices and a real
store file, every action audited, idle timeout, and nothing left on the pages after leaving."""

from __future__ import annotations

import threading
import time
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from conftest import wait_until
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig, load_config
from kiosk.doctor import Check, CheckResult, Finding, Status
from kiosk.flow import FlowView, State, TechnicianEntered, TechnicianLeft
from kiosk.store import CertificationRecord, Pensioner, Store
from kiosk.technician import hash_pin
from ui.app import build_main_window
from ui.screenshots import sample_preview
from ui.technician.services import TechnicianServices

ID = "110101195003070013"
PIN = "2580"


class FakeCard:
    card_type = "resident"
    name = "李秀英"
    id_number = ID


class Devices:
    """Fake camera preview (frames from another thread) and fake encoder."""

    def __init__(self) -> None:
        self.previewing = False
        self.encoded = 0

    def start_preview(self, sink) -> None:
        self.previewing = True
        threading.Thread(target=lambda: [sink(sample_preview()) for _ in range(3)]).start()

    def stop_preview(self) -> None:
        self.previewing = False

    def encode(self, frame: np.ndarray) -> np.ndarray:
        assert frame.ndim == 3
        self.encoded += 1
        return np.linspace(-0.2, 0.2, 128).astype(np.float32)


@pytest.fixture
def setup(qapp: QApplication, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site.toml"
    site.write_text(f'[technician]\npin_hash = "{hash_pin(PIN, n=2**10)}"\nmax_wrong_pins = 3\n', encoding="utf-8")
    config = load_config(site)
    clock = FakeClock()
    with Store.from_config(config, clock) as store:
        store.upsert_pensioner(Pensioner(ID, "李秀英", "110101", date(2025, 6, 1)))
        store.record_attempt(CertificationRecord(session_id="s1", occurred_at=clock.now(), device_id="d", region_code="110101",
                                                 id_number=ID, outcome="certified", valid_until=date(2027, 5, 20)))
        store.record_attempt(CertificationRecord(session_id="s2", occurred_at=clock.now(), device_id="d", region_code="110101",
                                                 id_number=ID, outcome="action_timeout", reason_code="action_timeout"))
    devices = Devices()
    exits: list[str] = []
    services = TechnicianServices(
        config=config, site_config_path=site, store_factory=lambda: Store.from_config(config, clock),
        checks=lambda _c: [Finding(Check("camera", lambda _x: CheckResult(Status.OK, "")), CheckResult(Status.OK, "device:0 gives frames")),
                           Finding(Check("reader", lambda _x: CheckResult(Status.OK, "")), CheckResult(Status.FAILED, "no answer", "plug it in"))],
        read_card=lambda: FakeCard(), start_preview=devices.start_preview, stop_preview=devices.stop_preview,
        encode_face=devices.encode, log_dir=data_dir / "logs",
        restart=lambda: exits.append("restart"), exit=lambda: exits.append("exit"), set_volume=exits.append)
    posted: list = []
    window = build_main_window(config, posted.append, clock=clock, technician_services=services)
    qapp.installEventFilter(window)
    window.show()
    yield window, posted, services, devices, config, clock, site, exits
    qapp.removeEventFilter(window)
    window.close()


def audit_codes(config: KioskConfig, clock) -> list[str]:
    with Store.from_config(config, clock) as store:
        return [entry["code"] for entry in store.audit_entries() if entry["step"] == "technician"]


def tap(window, x: int, y: int) -> None:
    """A real press: it enters through the window's QWindow and then reaches the widget under it."""
    QTest.mouseClick(window.windowHandle(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))


def tap_corner(window, times: int) -> None:
    for _ in range(times):
        tap(window, 20, 20)


def enter(qapp, window, posted) -> None:
    tap_corner(window, 5)
    pad = window._pin_pad
    assert pad is not None and pad.isVisible()
    for key in [*PIN, "ok"]:
        pad.press(key)
    assert isinstance(posted[-1], TechnicianEntered) and window._pin_pad is None
    window.show_view(FlowView(State.TECHNICIAN))  # what the flow answers


def test_gesture_and_pin_enter_and_wrong_pins_lock(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    tap_corner(window, 4)
    tap(window, 900, 500)  # elsewhere: the count starts again
    tap_corner(window, 1)
    assert window._pin_pad is None
    tap_corner(window, 4)
    pad = window._pin_pad
    assert pad is not None
    for _ in range(3):
        for key in ["1", "3", "7", "9", "ok"]:
            pad.press(key)
    assert "分钟" in pad.message.text()  # locked, in words
    for key in [*PIN, "ok"]:
        pad.press(key)
    assert not any(isinstance(event, TechnicianEntered) for event in posted)  # the right PIN is refused while locked
    clock.advance(config.technician.lockout_s + 1)
    for key in [*PIN, "ok"]:
        pad.press(key)
    assert isinstance(posted[-1], TechnicianEntered)
    wait_until(qapp, lambda: {"pin_wrong", "pin_locked", "pin_accepted"} <= set(audit_codes(config, clock)))
    assert "technician_pin_lockout" in audit_codes(config, clock)  # the core's alarm, written when the lock started


def test_pages_work_are_audited_and_leave_nothing_behind(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    enter(qapp, window, posted)
    panel = window.technician_panel
    assert panel.active and window.stack.currentWidget() is window.screens[State.TECHNICIAN]
    devices_page = panel.pages[0]
    wait_until(qapp, lambda: devices_page.rows.count() == 6)

    panel.show_page(2)  # reader test read: masked number only
    reader_page = panel.current
    reader_page.read.click()
    wait_until(qapp, lambda: "*" in reader_page.status.text())
    assert ID not in reader_page.status.text() and "李秀英" not in reader_page.status.text()
    assert ID[:4] + "*" * (len(ID) - 8) + ID[-4:] in reader_page.status.text()

    panel.show_page(3)  # settings: a bad value is refused and nothing is written
    settings = panel.current
    before = site.read_text()
    settings.fields["ui.volume"].setText("5")
    settings.save_values()
    assert site.read_text() == before and settings.status.text()
    settings.fields["ui.volume"].setText("0.5")
    settings.fields["session.consent_timeout_s"].setText("abc")
    settings.save_values()
    assert site.read_text() == before
    settings.fields["session.consent_timeout_s"].setText("120.0")
    settings.save_values()
    saved = tomllib.loads(site.read_text())
    assert saved["ui"]["volume"] == 0.5 and saved["session"]["consent_timeout_s"] == 120.0
    assert 0.5 in exits  # the new volume is applied to the voice at once (set_volume)
    assert saved["technician"]["pin_hash"]  # the rest of the site file is kept

    panel.show_page(5)  # today's counts
    today_page = panel.current
    wait_until(qapp, lambda: "1" in today_page.summary.text())
    assert "action_timeout" in today_page.reasons.text()

    panel.show_page(6)  # enrolment from a live frame
    enrol = panel.current
    wait_until(qapp, lambda: enrol.latest is not None)
    enrol.take_photo()
    enrol.id_number.setText("110101195003070015")  # bad check digit
    enrol.enrol()
    assert enrol.status.text() == window.catalogue.text("technician", "enrol_bad_id")
    enrol.id_number.setText(ID)
    enrol.enrol()
    wait_until(qapp, lambda: enrol.save.isEnabled() and enrol.status.text() != "", timeout_s=5)
    assert enrol.status.text() == window.catalogue.text("technician", "enrol_saved")
    with Store.from_config(config, clock) as store:
        assert store.has_reference(ID) and len(store.references(ID)) == 1
    assert enrol.frame is None and enrol.id_number.text() == ""

    panel.show_page(1)
    camera_page = panel.current
    wait_until(qapp, lambda: camera_page.camera.has_frame)
    panel.leave_button.click()
    assert isinstance(posted[-1], TechnicianLeft)
    window.show_view(FlowView(State.IDLE))
    assert not panel.active and not devices.previewing
    assert not camera_page.camera.has_frame and camera_page.latest is None
    assert reader_page.status.text() == "" and enrol.still.pixmap().isNull()
    wait_until(qapp, lambda: {"entered", "reader_test", "settings_rejected", "settings_saved", "reference_enrolled",
                              "camera_preview", "left"} <= set(audit_codes(config, clock)))


@pytest.mark.parametrize(("typed", "stored"), [("931586198001010028", "931586198001010028"),  # 2023 layout
                                               ("usa450315123455", "USA450315123455")])  # 2017 layout, typed in lower case
def test_enrolment_accepts_foreign_permanent_resident_card_numbers(qapp, setup, typed: str, stored: str) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    with Store.from_config(config, clock) as store:
        store.upsert_pensioner(Pensioner(stored, "Anna Weber", "110101", None))
    enter(qapp, window, posted)
    panel = window.technician_panel
    panel.show_page(6)
    enrol = panel.current
    wait_until(qapp, lambda: enrol.latest is not None)
    enrol.take_photo()
    enrol.id_number.setText(typed)
    enrol.enrol()
    wait_until(qapp, lambda: enrol.save.isEnabled() and enrol.status.text() != "", timeout_s=5)
    assert enrol.status.text() == window.catalogue.text("technician", "enrol_saved")
    with Store.from_config(config, clock) as store:
        assert store.has_reference(stored)


def test_the_pin_pad_never_covers_a_session_and_closes_by_itself(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    tap_corner(window, 5)
    assert window._pin_pad is not None
    window.show_view(FlowView(State.READING, session_id="s"))  # someone put a card down
    assert window._pin_pad is None
    window.show_view(FlowView(State.IDLE))
    tap_corner(window, 5)
    pad = window._pin_pad
    assert pad._idle.isActive() and pad._idle.interval() == int(config.technician.idle_timeout_s * 1000)
    pad._idle.timeout.emit()  # what the timer does when nobody types
    assert window._pin_pad is None


def test_inactivity_leaves_the_mode(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    enter(qapp, window, posted)
    panel = window.technician_panel
    assert panel._idle.interval() == int(config.technician.idle_timeout_s * 1000) and panel._idle.isActive()
    panel._idle.timeout.emit()  # what the timer does after idle_timeout_s without a touch
    assert isinstance(posted[-1], TechnicianLeft)
    wait_until(qapp, lambda: "idle_timeout" in audit_codes(config, clock))


def test_system_page_restart_and_exit_are_audited(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup
    enter(qapp, window, posted)
    panel = window.technician_panel
    panel.show_page(8)
    panel.current.restart.click()
    panel.current.exit.click()
    assert exits == ["restart", "exit"]
    assert {"restart", "exit"} <= set(audit_codes(config, clock))


def test_camera_preview_on_a_real_clip_gives_landmarks_and_ratios(qapp, media_dir: Path, config: KioskConfig) -> None:
    """The default technician preview runs the kiosk's liveness adapter on a recorded clip."""
    from ui.technician.services import camera_preview

    start, stop = camera_preview(config, f"file:{media_dir / 'videos' / 'blink_mouth_plain_bg.mp4'}")
    frames: list = []
    start(frames.append)
    deadline = time.monotonic() + 60
    while not any(p.eye_ratio is not None and p.landmarks is not None for p in frames) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop()
    seen = [p for p in frames if p.eye_ratio is not None]
    assert seen, "no frame with an eye ratio"
    assert 0.05 < seen[0].eye_ratio < 0.6 and seen[0].face_box is not None
    count = len(frames)
    time.sleep(0.3)
    assert len(frames) == count  # stopped means stopped


def test_enrolment_saves_a_full_width_number_as_the_ascii_one_and_refuses_other_digits(qapp, setup) -> None:
    """#13, one rule: what a Chinese input method types (full-width digits, ``ｘ``) is the same
    person; a digit of another script is a bad number, not a second person or a store error."""
    window, posted, services, devices, config, clock, site, exits = setup
    enter(qapp, window, posted)
    panel = window.technician_panel
    panel.show_page(6)
    enrol = panel.current
    wait_until(qapp, lambda: enrol.latest is not None)
    enrol.take_photo()
    for hostile in (ID[:-1] + "³", ID[:8] + "٠" + ID[9:]):
        enrol.id_number.setText(hostile)
        enrol.enrol()
        assert enrol.status.text() == window.catalogue.text("technician", "enrol_bad_id"), hostile
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in ID)
    enrol.id_number.setText(full_width)
    assert enrol.id_number.text() == full_width  # all 18 characters fit the field
    enrol.enrol()
    wait_until(qapp, lambda: enrol.save.isEnabled() and enrol.status.text() != "", timeout_s=5)
    assert enrol.status.text() == window.catalogue.text("technician", "enrol_saved")
    with Store.from_config(config, clock) as store:
        assert len(store.references(ID)) == 1
    wait_until(qapp, lambda: "reference_enrolled" in audit_codes(config, clock))


def test_a_failed_enrolment_or_test_read_shows_its_code_and_is_audited(qapp, setup) -> None:
    window, posted, services, devices, config, clock, site, exits = setup

    class ReaderTimeout(Exception):
        code = "reader_timeout"

    def failing_read() -> None:
        raise ReaderTimeout

    services.read_card = failing_read
    enter(qapp, window, posted)
    panel = window.technician_panel
    panel.show_page(2)
    reader_page = panel.current
    reader_page.read.click()
    wait_until(qapp, lambda: reader_page.read.isEnabled() and reader_page.status.text() != "")
    assert reader_page.status.text() == window.catalogue.text("technician", "reader_failed", code="reader_timeout")

    panel.show_page(6)
    enrol = panel.current
    wait_until(qapp, lambda: enrol.latest is not None)
    enrol.take_photo()
    enrol.id_number.setText("11010519491231002X")  # a valid number that is not in the roster
    enrol.enrol()
    wait_until(qapp, lambda: enrol.save.isEnabled() and enrol.status.text() != "", timeout_s=5)
    assert enrol.status.text() == window.catalogue.text("technician", "enrol_failed", code="not_in_roster")

    def failures() -> list[dict]:
        with Store.from_config(config, clock) as store:
            return [entry["detail"] for entry in store.audit_entries()
                    if entry["code"] in {"reader_test", "reference_enrol_failed"}]

    wait_until(qapp, lambda: len(failures()) == 2)
    assert sorted(failures(), key=str) == sorted([{"ok": False, "reason": "reader_timeout"},
                                                 {"reason": "not_in_roster"}], key=str)
