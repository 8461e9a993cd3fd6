"""The host side of the SAM_V protocol over any pyserial-like port: one command, one answer.

:class:`SamClient` sends a command frame, feeds what comes back to a :class:`FrameParser` and
returns the answer or raises a typed :class:`~reader.errors.ReaderError`. It also implements the
:class:`CardReader` interface the reader service drives (the vendor-SDK backend is the other one).

Thread rules: a client belongs to one thread at a time (the service's). Every call blocks for at
most about ``timeout_s`` per attempt. Privacy: the debugging tap (logger ``reader.tap``, DEBUG)
logs frame headers and lengths only; no card bytes reach any log.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import serial

from reader.card import IdCard
from reader.errors import FrameError, ReaderReason, ReaderTimeout, ReaderUnavailable, StatusError
from reader.layouts import parse_card, split_read_base
from reader.protocol import (
    SW3_FOUND,
    SW3_NO_CONTENT,
    SW3_OK,
    Command,
    FrameParser,
    Response,
    build_command,
    describe_frame,
    set_baud_command,
)

log = logging.getLogger(__name__)
tap = logging.getLogger("reader.tap")

# Answers whose loss is harmless to ask again for: the SAM state does not move on a repeat.
_RETRYABLE = frozenset({ReaderReason.FRAME_CHECKSUM, ReaderReason.FRAME_LENGTH,
                        ReaderReason.COMMAND_CHECKSUM_REJECTED, ReaderReason.COMMAND_LENGTH_REJECTED})


class CardReader(Protocol):
    """What the reader service needs from a backend (serial SAM client or vendor SDK)."""

    def sam_status(self) -> None:
        """Raises a ReaderError unless the module is ready."""

    def find_card(self) -> bool:
        """True when a card lies on the reader (find answered ``9F``), False for ``80``."""

    def read_card(self, *, find: bool = True) -> IdCard:
        """Finds (unless just done), selects and reads the card; raises ReaderError."""

    def close(self) -> None:
        """Releases the port or library (idempotent)."""


class SamClient:
    """Talks to a SAM over ``port`` (an open ``serial.Serial`` or anything with its methods).

    ``timeout_s``: longest wait for one complete answer (seconds). ``retries``: extra attempts
    after a corrupt answer or a frame the SAM rejected as corrupt.
    """

    def __init__(self, port: serial.SerialBase, *, timeout_s: float = 3.0, retries: int = 1) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.retries = retries
        self._parser = FrameParser()
        # A short port timeout lets the loop notice the deadline; whole answers are read in bulk.
        self.port.timeout = min(0.05, timeout_s)

    # -- raw exchange --------------------------------------------------------------------------
    def exchange(self, frame: bytes, *, timeout_s: float | None = None) -> Response:
        """Sends one command frame and returns the first answer, retrying corrupt ones.

        Raises ReaderTimeout, ReaderUnavailable (port I/O error), FrameError (still corrupt
        after the retries) or StatusError for SW3 10/11 after the retries. Other status words are
        returned to the caller, who knows which ones mean success for its command.
        """
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                response = self._exchange_once(frame, timeout_s or self.timeout_s)
                if response.sw3 in (0x10, 0x11) and attempt + 1 < attempts:
                    log.info("SAM rejected a command frame (SW3 %02X); sending it again", response.sw3)
                    continue
                return response
            except FrameError as exc:
                if exc.code not in _RETRYABLE or attempt + 1 == attempts:
                    raise
                log.info("corrupt answer (%s); asking again", exc.code)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange_once(self, frame: bytes, timeout_s: float) -> Response:
        port = self.port
        try:
            port.reset_input_buffer()  # a late answer to an earlier, timed-out command must not pose as this one
            self._parser.reset()
            self._parser.discarded = 0
            tap.debug("%s", describe_frame(frame, outgoing=True))
            port.write(frame)
            deadline = time.monotonic() + timeout_s
            while True:
                chunk = port.read(max(1, port.in_waiting))
                items = self._parser.feed(chunk) if chunk else []
                if not items and time.monotonic() >= deadline:
                    while self._parser.pending and not items:
                        items = self._parser.abandon()
                    if not items:
                        raise ReaderTimeout(f"no complete answer within {timeout_s:.1f} s")
                if items:
                    return self._first(items)
        except (serial.SerialException, OSError) as exc:
            raise ReaderUnavailable(f"port I/O failed: {type(exc).__name__}") from None

    def _first(self, items: list) -> Response:
        if self._parser.discarded:
            tap.debug("<< skipped %d stray bytes before the answer", self._parser.discarded)
        item = items[0]
        if isinstance(item, FrameError):
            tap.debug("<< corrupt frame: %s", item.code)
            raise item
        tap.debug("<< len=%d sw=%02X %02X %02X data=%dB[masked]", len(item.data) + 4, item.sw1, item.sw2,
                  item.sw3, len(item.data))
        return item

    def command(self, command: Command, *accepted: int, timeout_s: float | None = None) -> Response:
        """Sends ``command`` and returns its answer when SW3 is in ``accepted`` (default ``90``)."""
        return self.exchange(build_command(command), timeout_s=timeout_s).expect(*(accepted or (SW3_OK,)))

    # -- the command set -----------------------------------------------------------------------
    def reset_sam(self) -> None:
        """`10 FF`: resets the SAM."""
        self.command(Command.RESET_SAM)

    def sam_status(self) -> None:
        """`11 FF`: raises StatusError(sam_not_ready) when the SAM failed its self-test."""
        self.command(Command.SAM_STATUS)

    def sam_id(self) -> str:
        """`12 FF`: the SAM's management number, as ``05.01-20101025-0012345678-1234567890``."""
        data = self.command(Command.SAM_ID).data
        if len(data) < 16:
            raise FrameError(ReaderReason.FRAME_LENGTH, f"SAM ID answer of {len(data)} bytes, expected 16")
        u16 = lambda at: int.from_bytes(data[at:at + 2], "little")  # noqa: E731
        u32 = lambda at: int.from_bytes(data[at:at + 4], "little")  # noqa: E731
        return f"{u16(0):02d}.{u16(2):02d}-{u32(4):08d}-{u32(8):010d}-{u32(12):010d}"

    def find_card(self) -> bool:
        """`20 01`: True on ``9F`` (a card is there), False on ``80``; other words raise."""
        response = self.exchange(build_command(Command.FIND_CARD))
        if response.sw3 == 0x80:
            return False
        response.expect(SW3_FOUND)
        return True

    def select_card(self) -> bytes:
        """`20 02`: selects the found card; returns its 8-byte serial (zeros on most modules)."""
        return self.command(Command.SELECT_CARD).data

    def read_base(self, *, with_fingerprint: bool = False) -> IdCard:
        """`30 01` (or `30 10`): reads and parses the card; raises StatusError / CardDataError."""
        command = Command.READ_BASE_FINGERPRINT if with_fingerprint else Command.READ_BASE
        data = self.command(command).data
        text, photo, fingerprint = split_read_base(data, with_fingerprint=with_fingerprint)
        return parse_card(text, photo, fingerprint)

    def read_appended_address(self) -> str | None:
        """`30 03`: the latest appended address, or None when the card holds none (``91``)."""
        response = self.command(Command.READ_APPENDED_ADDRESS, SW3_OK, SW3_NO_CONTENT)
        if response.sw3 == SW3_NO_CONTENT:
            return None
        try:
            return response.data.decode("utf-16-le").strip(" \x00")
        except UnicodeDecodeError:
            raise FrameError(ReaderReason.FRAME_UNEXPECTED, "appended address is not UCS-2") from None

    def set_baudrate(self, rate: int) -> None:
        """`60 xx`: switches the SAM to ``rate`` and reopens the port at it.

        The SAM answers at the old rate, then needs about 5 ms (Synjones notes) before it listens
        at the new one. Raises ValueError for a rate the SAM lacks, StatusError when it refuses.
        """
        self.exchange(set_baud_command(rate)).expect(SW3_OK)
        time.sleep(0.005)
        self.port.baudrate = rate

    def set_max_rf_bytes(self, count: int) -> None:
        """`61 FF N`: the largest RF frame between SAM and card (some readers want 0x50 at start)."""
        if not 0 < count < 256:
            raise ValueError("RF frame size must be 1-255 bytes")
        self.exchange(build_command(Command.SET_MAX_RF_BYTES, bytes([count]))).expect(SW3_OK)

    def read_card(self, *, find: bool = True, with_fingerprint: bool = False) -> IdCard:
        """Find (unless just done), select, read: the whole sequence the modules require.

        Raises StatusError(no_card) when there is no card, else the first error of the sequence.
        """
        if find and not self.find_card():
            raise StatusError(ReaderReason.NO_CARD, 0x80, "no card on the reader")
        self.select_card()
        return self.read_base(with_fingerprint=with_fingerprint)

    def cancel(self) -> None:
        """Wakes a read blocked in another thread (best effort; used by the service's stop)."""
        cancel_read = getattr(self.port, "cancel_read", None)
        if cancel_read is not None:
            try:
                cancel_read()
            except (serial.SerialException, OSError, AttributeError):
                pass

    def close(self) -> None:
        """Closes the port (idempotent, never raises)."""
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

