"""The maintenance screen: shown while any device is missing, left only when every one is back;
the idle terminal's camera check puts it there and takes it away; a nearly full disk refuses new
sessions until space is freed.

Free space is faked through ``shutil.disk_usage`` as the controller sees it (the doctor's own
free-space check is in test_doctor_core.py); everything else is real (store file, flow, thread).
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest

import kiosk.devices.presence as presence
import kiosk.disk
import kiosk.session
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.devices.presence import PresenceWatcher
from kiosk.flow import (
    CardPlaced, CardRead, CardRejected, DevicesReady, FlowView, MaintenanceRequired, State, TechnicianEntered,
    TechnicianLeft,
)
from kiosk.ports import LivenessScores
from kiosk.session import SessionController
from kiosk.store import Store


class _Devices:
    """Reader, camera, matcher and voice that do nothing (events are posted by the test)."""

    def start(self, *_args) -> None:
        pass

    def stop(self) -> None:
        pass

    def best_frames(self) -> list:
        return []

    def scores(self) -> LivenessScores:
        return LivenessScores()

    def wipe(self) -> None:
        pass

    def speak(self, _prompt) -> None:
        pass


@pytest.fixture
def terminal(config: KioskConfig, tmp_path: Path):
    views: list[FlowView] = []
    changed = threading.Condition()

    def on_view(view: FlowView) -> None:
        with changed:
            views.append(view)
            changed.notify_all()

    clock = FakeClock()
    devices = _Devices()
    controller = SessionController(
        config, clock, store_factory=lambda: Store.open(tmp_path / "data", tmp_path / "key", clock),
        reader=devices, liveness=devices, matcher=devices, voice=devices, on_view=on_view,
    )

    def wait_for(state: State, code: str | None = None) -> FlowView:
        def reached() -> bool:
            return bool(views) and views[-1].state is state and (code is None or views[-1].maintenance_code == code)

        with changed:
            assert changed.wait_for(reached, timeout=5), views[-1:]
            return views[-1]

    controller.start()
    try:
        yield controller, wait_for, clock, config
    finally:
        controller.stop()


def test_idle_only_when_every_device_is_back(terminal) -> None:
    controller, wait_for, _clock, _config = terminal
    controller.post(MaintenanceRequired("reader_unavailable", device="reader"))
    controller.post(MaintenanceRequired("camera_unavailable", device="camera"))
    wait_for(State.MAINTENANCE, "camera_unavailable")
    controller.post(DevicesReady(device="reader"))
    wait_for(State.MAINTENANCE, "camera_unavailable")  # the camera is still missing
    controller.post(CardPlaced())  # no session on the maintenance screen
    controller.post(DevicesReady(device="camera"))
    view = wait_for(State.IDLE)
    assert view.session_id is None


def test_a_device_lost_during_a_session_shows_maintenance_after_the_result(terminal) -> None:
    controller, wait_for, clock, config = terminal
    controller.post(CardPlaced())
    wait_for(State.READING)
    controller.post(MaintenanceRequired("reader_unavailable", device="reader"))  # ignored by the session
    controller.post(CardRejected("card_read_failed"))
    wait_for(State.RESULT)
    clock.advance(config.session.result_display_s + 1)
    wait_for(State.MAINTENANCE, "reader_unavailable")


def test_leaving_the_technician_mode_returns_to_maintenance_while_a_device_is_missing(terminal) -> None:
    controller, wait_for, _clock, _config = terminal
    controller.post(MaintenanceRequired("camera_unavailable", device="camera"))
    wait_for(State.MAINTENANCE)
    controller.post(TechnicianEntered())
    wait_for(State.TECHNICIAN)
    controller.post(TechnicianLeft())
    wait_for(State.MAINTENANCE, "camera_unavailable")
    controller.post(CardRead("x", "a*"))  # nothing starts
    controller.post(DevicesReady(device="camera"))
    wait_for(State.IDLE)


def test_the_watcher_reports_a_missing_camera_and_its_return(config: KioskConfig, tmp_path: Path, media_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence, "REOPEN_EVERY_S", 0.05)
    clip = tmp_path / "camera.mp4"
    events: queue.Queue = queue.Queue()
    watcher = PresenceWatcher(f"file:{clip}", config.camera)
    watcher.start(events.put)
    try:
        assert events.get(timeout=10) == MaintenanceRequired("camera_unavailable", device="camera")
        shutil.copy(media_dir / "videos" / "blink_mouth_plain_bg.mp4", clip)  # plugged back in
        assert events.get(timeout=10) == DevicesReady(device="camera")
    finally:
        watcher.stop()


Usage = namedtuple("Usage", "total used free")


def test_low_disk_refuses_a_session_then_recovers(terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    controller, wait_for, clock, config = terminal
    need = config.terminal.min_free_disk_mb * 1_000_000
    free = [need - 1]
    looked = [0]  # how often the controller measured the disk

    def disk_usage(_path):
        looked[0] += 1
        return Usage(100 * need, 99 * need, free[0])

    monkeypatch.setattr(kiosk.disk.shutil, "disk_usage", disk_usage)

    controller.post(CardPlaced())
    view = wait_for(State.MAINTENANCE, "storage_full")
    assert view.session_id is None
    # Still full a while later: the worker looks again (it ticks every 0.1 s) and stays.
    looks = looked[0]
    clock.advance(kiosk.session.DISK_RECHECK_S + 1)
    deadline = time.monotonic() + 5
    while looked[0] == looks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert looked[0] > looks  # it did look again (else staying proves nothing)
    time.sleep(0.3)
    assert controller.view.state is State.MAINTENANCE and controller.view.maintenance_code == "storage_full"
    # Staff freed space: the controller looks again by itself and returns to idle.
    free[0] = need  # exactly the minimum is enough, as the doctor counts it (kiosk.disk)
    clock.advance(kiosk.session.DISK_RECHECK_S + 1)
    wait_for(State.IDLE)
    controller.post(CardPlaced())
    assert wait_for(State.READING).session_id is not None


def test_unreadable_data_folder_is_a_storage_error(terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    controller, wait_for, _clock, _config = terminal

    def broken(_path):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(kiosk.disk.shutil, "disk_usage", broken)
    controller.post(CardPlaced())
    wait_for(State.MAINTENANCE, "storage_error")
