"""The simulator on a real pseudo-terminal (``kiosk reader simulate``) and the real serial stack."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from reader.client import SamClient
from reader.errors import ReaderError, ReaderReason
from reader.pty_server import PtySimulator
from reader.samples import sample_card_path
from reader.service import CardPlaced, CardRead, ReaderReady, ReaderService
from reader.settings import ReaderSettings
from reader.simulator import SimOptions, Simulator, load_card
from reader.transport import open_reader

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")


@pytest.fixture(scope="module")
def simulate() -> Iterator[tuple[subprocess.Popen, str]]:
    """``kiosk reader simulate`` in its own process, paced at 115200 baud."""
    card = sample_card_path("foreign_permanent_2023")
    # Ctrl-C reaches a program run in the foreground, where SIGINT has its default action. A test
    # run started as a background job (CI scripts, `cmd &` without job control) inherits SIGINT
    # *ignored*, exec keeps it so, and Python then installs no KeyboardInterrupt handler: give the
    # child the foreground's disposition, or the interrupt test would hang.
    process = subprocess.Popen([sys.executable, "-m", "kiosk", "reader", "simulate", "--card", str(card)],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout is not None
    path = process.stdout.readline().strip()
    yield process, path
    if process.poll() is None:
        process.kill()
        process.wait()


def test_simulate_prints_a_tty_that_reads_like_a_reader(simulate: tuple[subprocess.Popen, str]) -> None:
    _, path = simulate
    assert path.startswith("/dev/") and Path(path).exists()
    reader = open_reader(path, timeout_s=2.0)
    try:
        reader.sam_status()
        card = reader.read_card()
        expected = json.loads(sample_card_path("foreign_permanent_2023").read_text(encoding="utf-8"))
        assert card.to_json(show_personal=True)["name_en"] == expected["name_en"]
    finally:
        reader.close()


def test_service_over_the_pty(simulate: tuple[subprocess.Popen, str]) -> None:
    _, path = simulate
    events: queue.Queue = queue.Queue()
    settings = ReaderSettings(url=path, baudrate=115200, poll_interval_s=0.3, command_timeout_s=2.0,
                              reconnect_max_backoff_s=1.0, wlt_decoder="")
    service = ReaderService(path, settings, events.put)
    service.start()
    try:
        got = [events.get(timeout=10) for _ in range(3)]
    finally:
        service.stop()
    assert [type(e) for e in got] == [ReaderReady, CardPlaced, CardRead]


def test_simulate_stops_cleanly_on_interrupt(simulate: tuple[subprocess.Popen, str]) -> None:
    process, _ = simulate
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=10)  # reads the pipes while waiting: a full pipe cannot block the exit
    assert process.returncode == 0 and "Traceback" not in err


def test_baud_switch_on_the_pty_then_mismatch_gives_a_timeout() -> None:
    server = PtySimulator(Simulator(load_card("resident_long_term"), SimOptions(pace=True)))
    server.start()
    try:
        reader = open_reader(server.path, timeout_s=1.0)
        assert isinstance(reader, SamClient)
        try:
            reader.set_baudrate(57600)
            assert server.simulator.baud == 57600
            assert reader.read_card().card_type.value == "resident"
            reader.port.baudrate = 115200
            with pytest.raises(ReaderError) as info:
                reader.find_card()
            assert info.value.code == ReaderReason.READER_TIMEOUT
        finally:
            reader.close()
    finally:
        server.close()
