"""The simulator through sim:// and the SAM client: every switch, the sequence rules, baud change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import serial

from reader.client import SamClient
from reader.errors import ReaderError, ReaderReason, ReaderUnavailable, StatusError, UrlError
from reader.protocol import Command, build_command
from reader.samples import sample_card_paths
from reader.simulator import SimOptions, forget_simulators, parse_sim_url, simulator_for
from reader.transport import open_reader, open_serial


@pytest.fixture(autouse=True)
def _fresh_simulators() -> None:
    forget_simulators()
    yield
    forget_simulators()


def _client(url: str, timeout_s: float = 0.3) -> SamClient:
    reader = open_reader(url, timeout_s=timeout_s)
    assert isinstance(reader, SamClient)
    return reader


def test_serial_for_url_knows_sim_after_registration() -> None:
    port = open_serial("sim://")
    try:
        port.write(build_command(Command.SAM_STATUS))
        assert port.read(11) == bytes.fromhex("AAAAAA9669000400009094")
    finally:
        port.close()


def test_url_forms_and_bad_switches() -> None:
    path, options = parse_sim_url("sim://hk_mo_tw_permit?present=0&corrupt=0.5&seed=3")
    assert path.stem == "hk_mo_tw_permit" and options == SimOptions(present=False, corrupt=0.5, seed=3)
    for bad in ("sim://?corrupt=2", "sim://?present=maybe", "sim://?loud=1", "sim://no_such_sample", "sim://?sam=odd",
                "sim://?baud=4800"):
        with pytest.raises(UrlError) as info:
            parse_sim_url(bad)
        assert info.value.code == ReaderReason.READER_URL_INVALID


def test_bad_card_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"card_type": "passport"}), encoding="utf-8")
    for path in (broken, wrong, tmp_path / "missing.json"):
        with pytest.raises(UrlError) as info:
            open_reader(f"sim://{path}")
        assert info.value.code == ReaderReason.SIM_CARD_INVALID


@pytest.mark.parametrize("path", sample_card_paths(), ids=lambda p: p.stem)
def test_every_sample_reads_through_the_wire(path: Path) -> None:
    reader = _client(f"sim://{path}")
    card = reader.read_card()
    assert card.to_json(show_personal=True)["id_number"] == json.loads(path.read_text(encoding="utf-8"))["id_number"]
    assert len(card.photo_wlt) == 1024


def test_sam_commands_and_appended_address() -> None:
    reader = _client("sim://")
    reader.reset_sam()
    reader.sam_status()
    assert reader.sam_id() == "05.01-20101025-0012345678-1234567890"
    reader.set_max_rf_bytes(0x50)
    reader.read_card()
    assert reader.read_appended_address() == "上海市黄浦区样板街12号201室"


def test_address_answers_91_when_the_card_has_none() -> None:
    reader = _client("sim://hk_mo_tw_permit")
    reader.read_card()
    assert reader.read_appended_address() is None


def test_read_without_select_fails_like_a_module() -> None:
    reader = _client("sim://")
    with pytest.raises(StatusError) as info:
        reader.read_base()
    assert info.value.code == ReaderReason.CARD_READ_FAILED and info.value.sw3 == 0x41


def test_fingerprint_read_honours_the_lengths() -> None:
    card = _client("sim://resident_twenty_years").read_card(with_fingerprint=True)
    assert len(card.fingerprint) == 1024
    assert _client("sim://").read_card(with_fingerprint=True).fingerprint == b""


def test_no_card_then_placed_then_removed() -> None:
    reader = _client("sim://?present=0")
    assert reader.find_card() is False
    with pytest.raises(StatusError) as info:
        reader.read_card()
    assert info.value.code == ReaderReason.NO_CARD
    simulator = simulator_for("sim://?present=0")
    simulator.place_card(sample_card_paths()[0])
    assert reader.find_card() is True
    simulator.remove_card()
    assert reader.find_card() is False


def test_card_given_as_a_mapping() -> None:
    simulator = simulator_for("sim://?present=0")
    fields = json.loads(sample_card_paths()[0].read_text(encoding="utf-8"))
    simulator.place_card(fields)
    assert _client("sim://?present=0").read_card().card_type.value == fields["card_type"]


def test_corrupt_answers_are_retried_then_reported() -> None:
    assert _client("sim://?corrupt=0.3&seed=1").read_card().card_type.value == "resident"
    with pytest.raises(ReaderError) as info:
        _client("sim://?corrupt=1").find_card()
    assert info.value.code == ReaderReason.FRAME_CHECKSUM


def test_noise_before_answers_is_skipped() -> None:
    reader = _client("sim://?noise=1&seed=5")
    for _ in range(20):
        assert reader.read_card().card_type.value == "resident"


def test_read_failures_then_success() -> None:
    reader = _client("sim://?fail_reads=2")
    for _ in range(2):
        with pytest.raises(StatusError) as info:
            reader.read_card()
        assert info.value.code == ReaderReason.CARD_READ_FAILED
    reader.read_card()


def test_no_reread_module_answers_80_until_the_card_is_laid_again() -> None:
    reader = _client("sim://?reread=0")
    reader.read_card()
    assert reader.find_card() is False
    simulator_for("sim://?reread=0").place_card()
    assert reader.find_card() is True


def test_swap_lays_the_other_card_after_a_gap() -> None:
    url = "sim://?swap=foreign_permanent_2017"
    reader = _client(url)
    assert reader.read_card().card_type.value == "resident"
    assert [reader.find_card() for _ in range(3)] == [False, False, True]
    assert reader.read_card(find=False).card_type.value == "foreign_permanent_2017"


@pytest.mark.parametrize(("sam", "code"), [("selftest_fail", ReaderReason.SAM_NOT_READY),
                                           ("unauthorised", ReaderReason.SAM_NOT_AUTHORISED)])
def test_failed_sam(sam: str, code: ReaderReason) -> None:
    with pytest.raises(StatusError) as info:
        _client(f"sim://?sam={sam}").sam_status()
    assert info.value.code == code


def test_baud_change_answers_at_the_old_rate_then_switches() -> None:
    reader = _client("sim://")
    reader.set_baudrate(9600)
    assert simulator_for("sim://").baud == 9600 and reader.port.baudrate == 9600
    reader.read_card()
    reader.port.baudrate = 115200  # host and SAM disagree: nothing recognisable arrives
    with pytest.raises(ReaderError) as info:
        reader.find_card()
    assert info.value.code == ReaderReason.READER_TIMEOUT


def test_pacing_delivers_at_wire_speed_without_breaking_reads() -> None:
    reader = _client("sim://?pace=1&baud=38400", timeout_s=1.0)
    reader.port.baudrate = 38400
    assert reader.read_card().card_type.value == "resident"


def test_unplug_kills_open_ports_until_plugged_and_reopened() -> None:
    reader = _client("sim://")
    simulator = simulator_for("sim://")
    simulator.unplug()
    with pytest.raises(ReaderUnavailable):
        reader.find_card()
    with pytest.raises(ReaderUnavailable):
        open_reader("sim://")
    simulator.plug()
    with pytest.raises(ReaderUnavailable):
        reader.find_card()  # the old descriptor stays dead, like a USB port after unplug
    assert _client("sim://").find_card() is True


def test_host_frames_the_sam_rejects() -> None:
    port = open_serial("sim://")
    try:
        bad = bytearray(build_command(Command.FIND_CARD))
        bad[-1] ^= 0xFF
        port.write(bytes(bad) + bytes.fromhex("AAAAAA96690003999903"))
        assert port.read(22) == bytes.fromhex("AAAAAA9669000400001014") + bytes.fromhex("AAAAAA9669000400002125")
    finally:
        port.close()


def test_an_echoing_line_is_reported_as_a_bad_frame() -> None:
    port = serial.serial_for_url("loop://", timeout=0.05)
    reader = SamClient(port, timeout_s=0.2, retries=0)
    with pytest.raises(ReaderError) as info:  # loop:// echoes the command: a 3-byte body is no answer
        reader.find_card()
    assert info.value.code == ReaderReason.FRAME_LENGTH


def test_timeout_when_nothing_answers() -> None:
    port = open_serial("sim://?latency_ms=500")
    reader = SamClient(port, timeout_s=0.1, retries=0)
    with pytest.raises(ReaderError) as info:
        reader.find_card()
    assert info.value.code == ReaderReason.READER_TIMEOUT
    reader.timeout_s = 1.0
    assert reader.find_card() is True  # the late answer to the first find was dropped, not taken for this one
