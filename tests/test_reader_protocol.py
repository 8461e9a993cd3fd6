"""SAM_V frames: literal frames of the protocol report, the chunked parser, resync, status words."""

from __future__ import annotations

from pathlib import Path

import pytest

from reader.errors import FrameError, ReaderReason, StatusError
from reader.protocol import (
    SW3_TABLE,
    Command,
    CommandFrame,
    FrameParser,
    Response,
    build_command,
    build_response,
    describe_frame,
    set_baud_command,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "docs" / "reference" / "example_read_base_zero_photo.bin"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (build_command(Command.RESET_SAM), "AA AA AA 96 69 00 03 10 FF EC"),
        (build_command(Command.SAM_STATUS), "AA AA AA 96 69 00 03 11 FF ED"),
        (build_command(Command.SAM_ID), "AA AA AA 96 69 00 03 12 FF EE"),
        (build_command(Command.FIND_CARD), "AA AA AA 96 69 00 03 20 01 22"),
        (build_command(Command.SELECT_CARD), "AA AA AA 96 69 00 03 20 02 21"),
        (build_command(Command.READ_BASE), "AA AA AA 96 69 00 03 30 01 32"),
        (build_command(Command.READ_APPENDED_ADDRESS), "AA AA AA 96 69 00 03 30 03 30"),
        (build_command(Command.READ_BASE_FINGERPRINT), "AA AA AA 96 69 00 03 30 10 23"),
        (build_command(Command.SET_MAX_RF_BYTES, b"\x50"), "AA AA AA 96 69 00 04 61 FF 50 CA"),
        (set_baud_command(115200), "AA AA AA 96 69 00 03 60 00 63"),
        (set_baud_command(57600), "AA AA AA 96 69 00 03 60 01 62"),
        (set_baud_command(38400), "AA AA AA 96 69 00 03 60 02 61"),
        (set_baud_command(19200), "AA AA AA 96 69 00 03 60 03 60"),
        (set_baud_command(9600), "AA AA AA 96 69 00 03 60 04 67"),
        (build_response(0x90), "AA AA AA 96 69 00 04 00 00 90 94"),
        (build_response(0x60), "AA AA AA 96 69 00 04 00 00 60 64"),
        (build_response(0x9F, bytes(4)), "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"),
        (build_response(0x80), "AA AA AA 96 69 00 04 00 00 80 84"),
        (build_response(0x90, bytes(8)), "AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C"),
        (build_response(0x81), "AA AA AA 96 69 00 04 00 00 81 85"),
        (build_response(0x41), "AA AA AA 96 69 00 04 00 00 41 45"),
    ],
)
def test_frames_match_the_report_byte_for_byte(frame: bytes, expected: str) -> None:
    assert frame == bytes.fromhex(expected)


def test_bad_baud_rate_and_missing_para_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot run at 4800"):
        set_baud_command(4800)
    with pytest.raises(ValueError):
        build_command(Command.SET_BAUD)


def test_reference_read_answer_parses_in_any_chunking() -> None:
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} not found")
    frame = EXAMPLE.read_bytes()
    assert len(frame) == 1295 and frame[-1] == 0x33
    for size in (1, 2, 7, 64, 1294, 5000):
        parser = FrameParser()
        items = [item for start in range(0, len(frame), size) for item in parser.feed(frame[start:start + size])]
        assert len(items) == 1 and isinstance(items[0], Response)
        assert items[0].sw3 == 0x90 and items[0].data[:4] == bytes.fromhex("01000400") and len(items[0].data) == 1284


def test_stray_bytes_glued_frames_and_the_captured_aa_00_prefix() -> None:
    find_ok, select_ok = build_response(0x9F, bytes(4)), build_response(0x90, bytes(8))
    parser = FrameParser()
    # Source I's capture began "AA 00 AA AA 96 69 ...": the first AA is stray.
    items = parser.feed(b"\xaa\x00" + find_ok[:3]) + parser.feed(find_ok[3:] + b"\x13\xaa" + select_ok)
    assert [item.sw3 for item in items] == [0x9F, 0x90]
    assert parser.discarded == 4 and parser.pending == 0


def test_corrupt_checksum_yields_a_typed_error_then_resyncs() -> None:
    good = build_response(0x90)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    items = FrameParser().feed(bad + good)
    assert isinstance(items[0], FrameError) and items[0].code == ReaderReason.FRAME_CHECKSUM
    assert isinstance(items[1], Response) and items[1].sw3 == 0x90


def test_false_preamble_with_huge_length_does_not_swallow_the_real_answer() -> None:
    good = build_response(0x9F, bytes(4))
    items = FrameParser().feed(b"\xaa\xaa\xaa\x96\x69\xff\xff" + good)
    assert isinstance(items[0], FrameError) and items[0].code == ReaderReason.FRAME_LENGTH
    assert items[-1] == Response(0, 0, 0x9F, bytes(4))


def test_false_preamble_with_plausible_length_is_abandoned_on_timeout() -> None:
    good = build_response(0x90)
    parser = FrameParser()
    assert parser.feed(b"\xaa\xaa\xaa\x96\x69\x01\x00" + good) == []  # waits for 256 bytes that never come
    assert parser.abandon() == [Response(0, 0, 0x90, b"")]


def test_command_side_parser_for_the_simulator() -> None:
    parser = FrameParser(commands=True)
    assert parser.feed(build_command(Command.SET_MAX_RF_BYTES, b"\x50")) == [CommandFrame(0x61, 0xFF, b"\x50")]


@pytest.mark.parametrize("sw3", sorted(SW3_TABLE))
def test_every_status_word_maps_to_a_named_reason(sw3: int) -> None:
    response = Response(0, 0, sw3, b"")
    if sw3 in (0x90, 0x9F):
        assert response.ok
        return
    error = response.error()
    assert isinstance(error, StatusError) and error.sw3 == sw3
    # Its own reason from the table, not the catch-all for status words the table lacks.
    assert error.code == SW3_TABLE[sw3][0] != ReaderReason.SAM_STATUS_UNKNOWN


def test_status_word_outside_the_table_is_still_typed() -> None:
    with pytest.raises(StatusError) as info:
        Response(0, 0, 0x55, b"").expect(0x90)
    assert info.value.code == ReaderReason.SAM_STATUS_UNKNOWN


def test_tap_description_masks_card_bytes() -> None:
    text = "张三".encode("utf-16-le").ljust(256, b" ")
    frame = build_response(0x90, bytes.fromhex("01000400") + text + bytes(1024))
    line = describe_frame(frame, outgoing=False)
    assert "text=256B[masked]" in line and "photo=1024B[masked]" in line and "sw=00 00 90" in line
    assert "5F" not in line.upper().split("SW=")[1]  # no text byte (张 = 20 5F) leaks
    assert describe_frame(build_command(Command.FIND_CARD), outgoing=True) == ">> len=3 cmd=20 01 chk=22"
