"""The reader adapter: flow events from the real reader service talking to the real simulator."""

from __future__ import annotations

import json
import queue
from datetime import datetime
from pathlib import Path

import pytest

from kiosk.clock import CHINA_STANDARD_TIME, FakeClock
from kiosk.config import KioskConfig
from kiosk.devices.card_reader import CardReaderAdapter, translate
from kiosk.flow import CardPlaced, CardRead, CardRejected, CardRemoved, DeviceFailed, MaintenanceRequired
from reader import service as rs
from reader.samples import sample_card_paths
from reader.simulator import forget_simulators


@pytest.fixture(autouse=True)
def fresh_simulators():
    forget_simulators()
    yield
    forget_simulators()


def collect(url: str, config: KioskConfig, clock: FakeClock, wanted: int, timeout: float = 10.0) -> list:
    events: queue.Queue = queue.Queue()
    adapter = CardReaderAdapter(url, config.reader, clock)
    adapter.start(events.put)
    got = []
    try:
        while len(got) < wanted:
            got.append(events.get(timeout=timeout))
    finally:
        adapter.stop()
    return got


def test_a_placed_card_becomes_a_masked_card_read(config: KioskConfig) -> None:
    card = json.loads(Path(sample_card_paths()[0]).read_text(encoding="utf-8"))
    events = collect("sim://", config, FakeClock(), wanted=3)
    kinds = [type(e) for e in events]
    assert CardPlaced in kinds and CardRead in kinds
    read = next(e for e in events if isinstance(e, CardRead))
    assert len(read.id_number) == 18
    assert read.display_name.endswith("*") and len(read.display_name) <= len(card["name"])


def test_an_expired_card_is_refused(config: KioskConfig, tmp_path: Path) -> None:
    path = tmp_path / "expired.json"
    for sample in sample_card_paths():
        data = json.loads(Path(sample).read_text(encoding="utf-8"))
        if data.get("card_type") == "resident" and data.get("valid_until") != "长期":
            data["valid_until"] = "2020-01-01"
            data["valid_from"] = "2010-01-01"
            path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            break
    clock = FakeClock(datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME))
    events = collect(f"sim://{path}", config, clock, wanted=3)
    assert CardRejected("card_expired") in events
    assert not any(isinstance(e, CardRead) for e in events)


def test_removal_and_loss_translate() -> None:
    clock = FakeClock()
    assert translate(rs.CardRemoved(), clock) == [CardRemoved()]
    assert translate(rs.ReaderLost("reader_unavailable"), clock) == [
        DeviceFailed("reader_unavailable"), MaintenanceRequired("reader_unavailable", device="reader")]
    assert translate(rs.CardReadFailed("card_read_failed"), clock) == [CardRejected("card_read_failed")]


def test_the_technician_test_read_borrows_the_running_service(config: KioskConfig) -> None:
    from reader.errors import ReaderError, ReaderReason

    adapter = CardReaderAdapter("sim://", config.reader, FakeClock())
    with pytest.raises(ReaderError) as error:
        adapter.read_card_now(1.0)
    assert error.value.code == ReaderReason.READER_UNAVAILABLE  # not started: nothing owns the port
    events: queue.Queue = queue.Queue()
    adapter.start(events.put)
    try:
        while not isinstance(events.get(timeout=10.0), CardRead):  # ready, placed, read
            pass
        card = adapter.read_card_now(10.0)
        assert card.card_type.value == "resident" and len(card.id_number) == 18
    finally:
        adapter.stop()
    with pytest.raises(ReaderError) as error:
        adapter.read_card_now(1.0)
    assert error.value.code == ReaderReason.READER_UNAVAILABLE  # stopped: the port has no owner again
