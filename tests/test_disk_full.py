"""A nearly full disk: no new session starts (maintenance screen, storage_full), and it recovers.

The controller checks free space in the data folder when a card is placed (kiosk.session); the
doctor's free-space check has its own test in test_doctor_core.py. Free space is faked through
``shutil.disk_usage`` as the controller sees it; everything else is real (store file, flow, thread).
"""

from __future__ import annotations

import threading
from collections import namedtuple
from pathlib import Path

import pytest

import kiosk.session
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.flow import CardPlaced, FlowView, State
from kiosk.ports import LivenessScores
from kiosk.session import SessionController
from kiosk.store import Store

Usage = namedtuple("Usage", "total used free")


class _Idle:
    """Reader, camera, matcher and voice that do nothing: this test never gets past the card."""

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

    def verify(self, *_args):  # pragma: no cover - never reached
        raise AssertionError("no match without a session")

    def speak(self, _prompt) -> None:
        pass


@pytest.fixture
def controller(config: KioskConfig, tmp_path: Path):
    views: list[FlowView] = []
    changed = threading.Condition()

    def on_view(view: FlowView) -> None:
        with changed:
            views.append(view)
            changed.notify_all()

    clock = FakeClock()
    device = _Idle()
    ctl = SessionController(
        config, clock, store_factory=lambda: Store.open(tmp_path / "data", tmp_path / "key", clock),
        reader=device, liveness=device, matcher=device, voice=device, on_view=on_view,
    )

    def wait_for(state: State) -> FlowView:
        with changed:
            assert changed.wait_for(lambda: views and views[-1].state is state, timeout=5), views[-1:]
            return views[-1]

    ctl.start()
    try:
        yield ctl, wait_for, clock
    finally:
        ctl.stop()


def test_low_disk_refuses_a_session_then_recovers(controller, config: KioskConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, wait_for, clock = controller
    need = config.terminal.min_free_disk_mb * 1_000_000
    free = [need - 1]
    monkeypatch.setattr(kiosk.session.shutil, "disk_usage", lambda _path: Usage(100 * need, 99 * need, free[0]))

    ctl.post(CardPlaced())
    view = wait_for(State.MAINTENANCE)
    assert view.maintenance_code == "storage_full" and view.session_id is None

    # Still full a while later: the maintenance screen stays.
    clock.advance(kiosk.session.DISK_RECHECK_S + 1)
    ctl.post(CardPlaced())  # ignored in maintenance; gives the worker a turn to re-check
    assert wait_for(State.MAINTENANCE).maintenance_code == "storage_full"
    # Staff freed space: the controller looks again by itself and returns to idle.
    free[0] = need + 1
    clock.advance(kiosk.session.DISK_RECHECK_S + 1)
    wait_for(State.IDLE)
    ctl.post(CardPlaced())
    assert wait_for(State.READING).session_id is not None


def test_unreadable_data_folder_is_a_storage_error(controller, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, wait_for, _clock = controller

    def broken(_path):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(kiosk.session.shutil, "disk_usage", broken)
    ctl.post(CardPlaced())
    assert wait_for(State.MAINTENANCE).maintenance_code == "storage_error"
