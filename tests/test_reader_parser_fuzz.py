"""Robustness: the frame parser takes well over 100,000 random and mutated frames in any chunking.

Properties: it never raises and never hangs; it only ever yields Response or FrameError values;
its buffer stays bounded; and intact frames separated by garbage that cannot form a preamble come
out exactly, in order, whatever the chunking.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from reader.errors import FrameError
from reader.protocol import MAX_LENGTH, FrameParser, Response, build_response

EXAMPLES = 120
FRAMES_PER_EXAMPLE = 900  # 120 x 900 = 108,000 frames per property
TOTAL = EXAMPLES * FRAMES_PER_EXAMPLE
_NO_69 = bytes(b if b != 0x69 else 0x68 for b in range(256))
SW3S = (0x90, 0x9F, 0x91, 0x80, 0x81, 0x41, 0x40, 0x60, 0x10, 0x11, 0x21)


def _frame(rng: random.Random) -> tuple[bytes, Response]:
    sw3, sw1 = rng.choice(SW3S), rng.randrange(2)
    size = rng.choice((0, 0, 4, 8, 16, rng.randrange(0, 64), 1284 if rng.random() < 0.2 else 70))
    data = rng.randbytes(size)
    return build_response(sw3, data, sw1, 0), Response(sw1, 0, sw3, data)


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # flip a byte
        at = rng.randrange(len(frame))
        return frame[:at] + bytes([frame[at] ^ (1 + rng.randrange(255))]) + frame[at + 1:]
    if kind == 1:  # truncate
        return frame[: rng.randrange(len(frame))]
    if kind == 2:  # duplicate a slice
        at = rng.randrange(len(frame))
        return frame[:at] + frame[at:at + rng.randrange(1, 9)] + frame[at:]
    if kind == 3:  # drop a byte
        at = rng.randrange(len(frame))
        return frame[:at] + frame[at + 1:]
    if kind == 4:  # random length field
        return frame[:5] + rng.randbytes(2) + frame[7:]
    return rng.randbytes(rng.randrange(1, 40))  # pure noise


def _chunks(rng: random.Random, stream: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(stream):
        size = rng.choice((1, 3, 7, 64, 512, 4096))
        out.append(stream[at:at + size])
        at += size
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), mutation_rate=st.floats(min_value=0.0, max_value=1.0))
def test_mutated_frames_never_break_the_parser(seed: int, mutation_rate: float) -> None:
    rng = random.Random(seed)
    pieces = []
    for _ in range(FRAMES_PER_EXAMPLE):
        frame, _ = _frame(rng)
        pieces.append(_mutate(rng, frame) if rng.random() < mutation_rate else frame)
    parser = FrameParser()
    for chunk in _chunks(rng, b"".join(pieces)):
        for item in parser.feed(chunk):
            assert isinstance(item, (Response, FrameError))
        assert parser.pending <= 7 + MAX_LENGTH + 4096
    while parser.pending:  # the deadline path: give up on whatever is half-assembled
        before = parser.pending
        for item in parser.abandon():
            assert isinstance(item, (Response, FrameError))
        assert parser.pending < before  # every abandon() shortens: a client's deadline loop ends


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_intact_frames_between_garbage_come_out_exactly(seed: int) -> None:
    rng = random.Random(seed)
    expected, pieces = [], []
    # Garbage without 0x69 can never complete a preamble, so every frame must come out intact.
    for _ in range(FRAMES_PER_EXAMPLE):
        frame, response = _frame(rng)
        if rng.random() < 0.3:
            pieces.append(rng.randbytes(rng.randrange(1, 12)).translate(_NO_69))
        pieces.append(frame)
        expected.append(response)
    parser = FrameParser()
    got = [item for chunk in _chunks(rng, b"".join(pieces)) for item in parser.feed(chunk)]
    assert got == expected
    assert parser.pending == 0


def test_the_fuzz_volume_meets_the_issue() -> None:
    assert TOTAL >= 100_000


def test_abandon_drops_a_preamble_that_never_went_on() -> None:
    """A port that sent a stray byte and the start of a preamble, then nothing: the client's
    deadline loop must end in a timeout, not spin on bytes abandon() would keep."""
    for stub in (b"\x13\xaa", b"\xaa\xaa", b"\xaa\xaa\xaa\x96"):
        parser = FrameParser()
        assert parser.feed(stub) == []
        assert parser.abandon() == []
        assert parser.pending == 0


def test_a_client_on_a_port_that_stops_mid_preamble_times_out() -> None:
    """The whole path: SamClient's deadline loop over such a port raises reader_timeout."""
    from reader.client import SamClient
    from reader.errors import ReaderTimeout
    from reader.protocol import Command, build_command

    class Port:
        timeout = 0.05
        in_waiting = 0

        def __init__(self) -> None:
            self.sent = False

        def reset_input_buffer(self) -> None:
            pass

        def write(self, data: bytes) -> int:
            return len(data)

        def read(self, _size: int) -> bytes:
            if self.sent:
                return b""
            self.sent = True
            return b"\x13\xaa"

    client = SamClient(Port(), timeout_s=0.2, retries=0)  # type: ignore[arg-type]
    with pytest.raises(ReaderTimeout):
        client.exchange(build_command(Command.SAM_STATUS))
