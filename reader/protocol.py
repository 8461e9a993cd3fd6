"""SAM_V host-interface frames (GA 467): build commands, parse a byte stream, map status words.

Pure bytes in, typed values out; no I/O and no threads (see ``docs/reference/idcard-protocol.md``
§1-§2 for every byte). A frame is::

    AA AA AA 96 69 | LenH LenL | body ... | CHK

``Len`` (big-endian) counts every byte after itself including CHK; CHK is the XOR of the bytes from
LenH up to the byte before CHK. A command body is ``CMD PARA DATA``; a response body is
``SW1 SW2 SW3 DATA``. Success is decided on SW3 alone (``90``, and ``9F`` for find card).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import reduce
from operator import xor

from reader.errors import FrameError, ReaderReason, StatusError

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER_SIZE = 7  # preamble + 2 length bytes; a frame is HEADER_SIZE + Len bytes long
# The largest answer of the protocol is `30 10` with two fingerprints (Len 0x090A = 2314). A length
# well above it can only come from noise that happened to look like a preamble: reject it at once
# rather than wait for 64 KiB that will never come and swallow the real answer.
MAX_LENGTH = 4096

SW3_OK = 0x90
SW3_FOUND = 0x9F
SW3_NO_CONTENT = 0x91


class Command(Enum):
    """The command set (§2) as ``(CMD, PARA)``; set-baud and set-max-RF carry their own bytes."""

    RESET_SAM = (0x10, 0xFF)
    SAM_STATUS = (0x11, 0xFF)
    SAM_ID = (0x12, 0xFF)
    FIND_CARD = (0x20, 0x01)
    SELECT_CARD = (0x20, 0x02)
    READ_BASE = (0x30, 0x01)
    READ_APPENDED_ADDRESS = (0x30, 0x03)
    READ_BASE_FINGERPRINT = (0x30, 0x10)
    SET_BAUD = (0x60, None)          # PARA = BAUD_CODES[rate]
    SET_MAX_RF_BYTES = (0x61, 0xFF)  # DATA = one byte N


# `60 xx` parameter for each rate (source F and O of the report).
BAUD_CODES: dict[int, int] = {115200: 0x00, 57600: 0x01, 38400: 0x02, 19200: 0x03, 9600: 0x04}
BAUD_RATES: dict[int, int] = {code: rate for rate, code in BAUD_CODES.items()}

# SW3 -> (reason, English meaning). Complete as found in the report's §2.2.
SW3_TABLE: dict[int, tuple[ReaderReason | None, str]] = {
    0x90: (None, "success"),
    0x9F: (None, "find card success"),
    0x91: (ReaderReason.CARD_ITEM_EMPTY, "no content for this item"),
    0x10: (ReaderReason.COMMAND_CHECKSUM_REJECTED, "host frame checksum error"),
    0x11: (ReaderReason.COMMAND_LENGTH_REJECTED, "host frame length error"),
    0x21: (ReaderReason.COMMAND_REJECTED, "bad command or parameter"),
    0x23: (ReaderReason.OPERATION_NOT_PERMITTED, "unauthorised operation"),
    0x24: (ReaderReason.SAM_UNKNOWN_ERROR, "unknown error"),
    0x31: (ReaderReason.CARD_AUTHENTICATION_FAILED, "card failed to authenticate SAM"),
    0x32: (ReaderReason.CARD_AUTHENTICATION_FAILED, "SAM failed to authenticate card"),
    0x33: (ReaderReason.CARD_VERIFICATION_FAILED, "information verification error"),
    0x40: (ReaderReason.CARD_UNRECOGNISED, "unrecognised card type"),
    0x41: (ReaderReason.CARD_READ_FAILED, "read card failed"),
    0x47: (ReaderReason.CARD_RANDOM_FAILED, "get-random failed"),
    0x60: (ReaderReason.SAM_NOT_READY, "SAM self-test failed"),
    0x66: (ReaderReason.SAM_NOT_AUTHORISED, "SAM not authorised"),
    0x80: (ReaderReason.NO_CARD, "find card failed"),
    0x81: (ReaderReason.CARD_SELECT_FAILED, "select card failed"),
}


def checksum(data: bytes) -> int:
    """XOR of ``data`` (pass the bytes from LenH up to the byte before CHK).

    Folds the bytes as one big integer, halving it each step: C-speed big-int operations instead
    of a Python loop per byte, which keeps the parser fast on 1295-byte answers and on noise.
    """
    size = len(data)
    if size < 16:
        return reduce(xor, data, 0)
    value = int.from_bytes(data, "little")
    while size > 1:
        half = (size + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        size = half
    return value


def build_frame(body: bytes) -> bytes:
    """Wraps a body (command or response) into a full frame with length and checksum.

    Raises ValueError when the body is empty or too long for the 16-bit length field.
    """
    if not body or len(body) + 1 > 0xFFFF:
        raise ValueError(f"frame body of {len(body)} bytes cannot be framed")
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def build_command(command: Command, data: bytes = b"", *, para: int | None = None) -> bytes:
    """The frame for ``command``; ``para`` is needed only for :attr:`Command.SET_BAUD`."""
    cmd, default_para = command.value
    para = default_para if para is None else para
    if para is None:
        raise ValueError(f"{command.name} needs an explicit PARA byte")
    return build_frame(bytes([cmd, para]) + data)


def set_baud_command(rate: int) -> bytes:
    """The `60 xx` frame switching the SAM to ``rate`` baud; ValueError for a rate it lacks."""
    if rate not in BAUD_CODES:
        raise ValueError(f"the SAM cannot run at {rate} baud (allowed: {sorted(BAUD_CODES)})")
    return build_command(Command.SET_BAUD, para=BAUD_CODES[rate])


def build_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A response frame (used by the simulator and tests)."""
    return build_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class Response:
    """A checksum-valid answer of the SAM. ``data`` follows SW3 (may be empty)."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def ok(self) -> bool:
        """True for ``90`` and ``9F`` (the two success words)."""
        return self.sw3 in (SW3_OK, SW3_FOUND)

    def error(self) -> StatusError:
        """The typed error for a failure status (also for an SW3 missing from the table)."""
        reason, meaning = SW3_TABLE.get(self.sw3, (ReaderReason.SAM_STATUS_UNKNOWN, "status not in the table"))
        return StatusError(reason or ReaderReason.SAM_STATUS_UNKNOWN, self.sw3,
                           f"SAM status SW3=0x{self.sw3:02X} ({meaning})")

    def expect(self, *accepted: int) -> Response:
        """Returns self when SW3 is one of ``accepted``, else raises the matching StatusError."""
        if self.sw3 not in accepted:
            raise self.error()
        return self


@dataclass(frozen=True)
class CommandFrame:
    """A checksum-valid command as the SAM (or the simulator) receives it."""

    cmd: int
    para: int
    data: bytes


Parsed = Response | CommandFrame | FrameError


class FrameParser:
    """Turns byte chunks of any size into frames, resynchronising on the next preamble.

    ``feed(chunk)`` returns every frame completed by the chunk, in order: :class:`Response` (or
    :class:`CommandFrame` when ``commands=True``, for the simulator side) or a :class:`FrameError`
    value standing in for a corrupt frame (it is returned, never raised). Bytes before a preamble
    are skipped and counted in :attr:`discarded`. After a corrupt frame only its first byte is
    dropped and the search restarts, so a real frame hidden behind a false preamble is still found.

    Not thread-safe: one parser per reading thread. Never raises on any input.
    """

    def __init__(self, *, commands: bool = False, max_length: int = MAX_LENGTH) -> None:
        self._commands = commands
        self._max_length = max_length
        self._buffer = bytearray()
        self.discarded = 0

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Parsed]:
        """Adds ``chunk`` and returns the frames (or frame errors) it completes."""
        self._buffer += chunk
        out: list[Parsed] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def abandon(self) -> list[Parsed]:
        """Gives up on the frame being assembled (its rest never came) and rescans what follows.

        Called by a client whose deadline passed: a false preamble with a large length may be
        hiding a complete real frame behind it. Every call shortens what is pending, so a client
        looping ``while parser.pending`` always ends: what does not begin with a whole preamble
        (the start of one, ``AA AA``, that never went on) cannot hide a frame and is dropped.
        """
        if len(self._buffer) >= len(PREAMBLE) and self._buffer.startswith(PREAMBLE):
            del self._buffer[:1]
            self.discarded += 1
        else:
            self.reset()
        return self.feed(b"")

    def reset(self) -> None:
        """Drops everything buffered (after reopening the port)."""
        self.discarded += len(self._buffer)
        self._buffer.clear()

    def _next(self) -> Parsed | None:
        buffer = self._buffer
        start = buffer.find(PREAMBLE)
        if start < 0:
            # Keep a tail that may be the beginning of a preamble split across chunks.
            keep = next((n for n in range(len(PREAMBLE) - 1, 0, -1) if buffer.endswith(PREAMBLE[:n])), 0)
            drop = len(buffer) - keep
            self.discarded += drop
            del buffer[:drop]
            return None
        if start:
            self.discarded += start
            del buffer[:start]
        if len(buffer) < HEADER_SIZE:
            return None
        length = buffer[5] << 8 | buffer[6]
        minimum = 3 if self._commands else 4
        if length < minimum or length > self._max_length:
            del buffer[:1]
            self.discarded += 1
            return FrameError(ReaderReason.FRAME_LENGTH, f"impossible frame length {length}")
        total = HEADER_SIZE + length
        if len(buffer) < total:
            return None
        frame = bytes(buffer[:total])
        if checksum(frame[5:-1]) != frame[-1]:
            del buffer[:1]
            self.discarded += 1
            return FrameError(ReaderReason.FRAME_CHECKSUM, f"checksum mismatch in a {total}-byte frame")
        del buffer[:total]
        body = frame[HEADER_SIZE:-1]
        if self._commands:
            return CommandFrame(body[0], body[1], body[2:])
        return Response(body[0], body[1], body[2], body[3:])


def describe_frame(frame: bytes, *, outgoing: bool) -> str:
    """A one-line description of a raw frame for the debugging tap: header and lengths only.

    Card text, photo, fingerprint and SAM-ID bytes are never shown (personal data): only their
    sizes. Safe to log at any level.
    """
    direction = ">>" if outgoing else "<<"
    if len(frame) < HEADER_SIZE + 1 or not frame.startswith(PREAMBLE):
        return f"{direction} {len(frame)} bytes, not a frame"
    length = frame[5] << 8 | frame[6]
    body = frame[HEADER_SIZE:-1]
    if outgoing:
        head = " ".join(f"{b:02X}" for b in body[:2])
        rest = f" data={len(body) - 2}B" if len(body) > 2 else ""
        return f"{direction} len={length} cmd={head}{rest} chk={frame[-1]:02X}"
    if len(body) < 3:
        return f"{direction} len={length} short body"
    sw = " ".join(f"{b:02X}" for b in body[:3])
    data = body[3:]
    if len(data) >= 4 and data[:2] == b"\x01\x00":
        # A read-base answer: text and photo lengths (and fingerprint length for `30 10`).
        text_len, photo_len = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
        if len(data) == 4 + text_len + photo_len:
            return f"{direction} len={length} sw={sw} text={text_len}B[masked] photo={photo_len}B[masked]"
        fp_len = int.from_bytes(data[4:6], "big") if len(data) >= 6 else 0
        return (f"{direction} len={length} sw={sw} text={text_len}B[masked] photo={photo_len}B[masked] "
                f"fingerprint={fp_len}B[masked]")
    return f"{direction} len={length} sw={sw} data={len(data)}B[masked]" if data else f"{direction} len={length} sw={sw}"
