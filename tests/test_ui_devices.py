"""The UI's own devices: the receipt printer on a serial port (a pty), Qt audio playing a real
rendered clip to its end, and the demo panel driving the reader simulator."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from kiosk.clock import CHINA_STANDARD_TIME
from kiosk.flow import FlowView, State
from kiosk.reasons import NextStep, Outcome
from ui.catalogue import Catalogue
from ui.voice_clips import Clip
from ui.voice_render import render_clips
from ui.receipt import escpos_bytes, print_receipt, receipt_lines


def test_receipt_goes_to_a_serial_printer_without_personal_data() -> None:
    catalogue = Catalogue.load()
    view = FlowView(State.RESULT, session_id="s", outcome=Outcome.CERTIFIED, next_step=NextStep.NONE,
                    valid_until=date(2027, 5, 20))
    lines = receipt_lines(catalogue, view, "示例社保服务大厅", datetime(2026, 5, 20, 9, 30, tzinfo=CHINA_STANDARD_TIME), 3)
    assert any("2027年5月20日" in line for line in lines)
    job = escpos_bytes(catalogue.text("receipt", "title"), lines, catalogue.text("receipt", "footer"))
    master, slave = os.openpty()
    done: list[bool] = []
    print_receipt(os.ttyname(slave), job, done.append).join(10)
    received = b""
    while len(received) < len(job):
        received += os.read(master, 4096)
    os.close(master), os.close(slave)
    assert done == [True] and received == job
    text = job.decode("gb18030", "replace")
    assert "认证成功" in text and job.startswith(b"\x1b@") and job.endswith(b"\x1dVB\x03")
    assert not receipt_lines(catalogue, FlowView(State.RESULT, outcome=Outcome.MISMATCH), "h", datetime.now(CHINA_STANDARD_TIME), 3)


def test_a_missing_printer_is_reported_not_raised() -> None:
    done: list[bool] = []
    print_receipt("/dev/no-such-printer", b"x", done.append).join(10)
    assert done == [False]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_qt_audio_plays_a_rendered_clip_to_its_end(qapp: QApplication, tmp_path: Path) -> None:
    pytest.importorskip("PySide6.QtMultimedia")
    from ui.voice import QtAudioBackend

    render_clips([Clip("num-1", "一")], tmp_path)
    backend = QtAudioBackend(volume=0.1)
    ended: list[bool] = []
    backend.on_finished = lambda: ended.append(True)
    backend.play(tmp_path / "num-1.wav")
    deadline = time.monotonic() + 15
    while not ended and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert ended, "QMediaPlayer never reported the end of the clip"


def test_demo_panel_places_and_removes_sample_cards(qapp: QApplication) -> None:
    simulator_module = pytest.importorskip("reader.simulator")
    from ui.demo_panel import DemoPanel

    simulator_module.forget_simulators()
    panel = DemoPanel("sim://")
    assert panel.choice.count() >= 1
    panel.place.click()
    assert simulator_module.simulator_for("sim://").card_present and "placed" in panel.status.text()
    panel.remove.click()
    assert not simulator_module.simulator_for("sim://").card_present
    simulator_module.forget_simulators()


def test_the_print_button_of_the_result_screen_prints(qapp: QApplication, config) -> None:
    """The whole path a pensioner takes: the result screen's print button to bytes on the port."""
    from ui.app import build_main_window
    from ui.screens.result import ResultScreen

    master, slave = os.openpty()
    try:
        printing = config.model_copy(update={"ui": config.ui.model_copy(update={"receipt_printer_url": os.ttyname(slave)})})
        window = build_main_window(printing, lambda _event: None)
        window.show_view(FlowView(State.RESULT, session_id="s", outcome=Outcome.CERTIFIED, next_step=NextStep.NONE,
                                  valid_until=date(2027, 5, 20)))
        result = window.screens[State.RESULT]
        assert isinstance(result, ResultScreen)
        result.print_requested.emit()
        received = b""
        deadline = time.monotonic() + 10
        os.set_blocking(master, False)
        while not received.endswith(b"\x1dVB\x03") and time.monotonic() < deadline:
            qapp.processEvents()
            try:
                received += os.read(master, 4096)
            except BlockingIOError:
                time.sleep(0.05)
        assert "2027年5月20日".encode("gb18030") in received
        window.close()
    finally:
        os.close(master), os.close(slave)
