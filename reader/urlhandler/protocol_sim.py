"""``sim://`` for ``serial.serial_for_url``: a serial port wired to an in-process :class:`Simulator`.

URL forms (see :func:`reader.simulator.parse_sim_url`): ``sim://`` (the default sample card),
``sim://SAMPLE`` (a shipped sample by name), ``sim:///abs/path/card.json?present=0&corrupt=0.1``.

Behaves like a real port: ``read(size)`` honours ``timeout`` (None = block, 0 = non-blocking),
answers arrive after the SAM's latency and, with ``pace=1``, at its wire speed; when the port's
``baudrate`` differs from the SAM's the host receives garbage (as on a real line). After
:meth:`Simulator.unplug` every call raises ``SerialException`` until the port is opened again
after :meth:`Simulator.plug`. Thread-safe for one reader thread plus one writer thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from serial import SerialBase, SerialException
from serial.serialutil import PortNotOpenError

from reader.errors import ReaderError
from reader.protocol import BAUD_CODES
from reader.simulator import Simulator, garble_for_wrong_baud, simulator_for


class Serial(SerialBase):
    """A pyserial port whose far end is a :class:`Simulator`."""

    BAUDRATES = tuple(sorted(BAUD_CODES))

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - pyserial's signature
        self.simulator: Simulator | None = None
        self._generation = -1
        self._cond = threading.Condition()
        # Each entry: [monotonic time of the first byte, seconds per byte, bytes, bytes consumed].
        self._outbox: deque[list] = deque()
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Connects to the URL's simulator; SerialException when it is unplugged or the URL is bad."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            simulator = simulator_for(self._port)
        except ReaderError as exc:
            raise SerialException(f"cannot open {self._port}: {exc}") from exc
        if not simulator.plugged:
            raise SerialException("simulated reader is unplugged")
        self.simulator, self._generation = simulator, simulator.generation
        self.is_open = True
        self._outbox.clear()

    def close(self) -> None:
        """Closes the port (the simulator, the device, lives on)."""
        self.is_open = False
        with self._cond:
            self._outbox.clear()
            self._cond.notify_all()

    def _reconfigure_port(self) -> None:
        """Nothing to configure: the baud rate is compared with the SAM's on every answer."""

    def _check(self) -> Simulator:
        if not self.is_open or self.simulator is None:
            raise PortNotOpenError()
        if not self.simulator.plugged or self.simulator.generation != self._generation:
            raise SerialException("simulated reader disconnected")
        return self.simulator

    def write(self, data: bytes) -> int:
        """Sends host bytes to the simulator and schedules its answers."""
        simulator = self._check()
        data = bytes(data)
        answers = simulator.receive(data)
        options = simulator.options
        now = time.monotonic()
        with self._cond:
            start = max(now, self._outbox[-1][0] + self._outbox[-1][1] * len(self._outbox[-1][2])) if self._outbox else now
            for payload, baud in answers:
                if baud != self._baudrate:
                    # Wrong speed on a real UART: framing errors, nothing recognisable arrives.
                    payload = garble_for_wrong_baud(payload)
                per_byte = 10.0 / baud if options.pace else 0.0
                begin = start + options.latency_ms / 1000.0
                self._outbox.append([begin, per_byte, payload, 0])
                start = begin + per_byte * len(payload)
            self._cond.notify_all()
        return len(data)

    def _available(self, now: float) -> int:
        count = 0
        for begin, per_byte, payload, used in self._outbox:
            if now < begin:
                break
            arrived = len(payload) if per_byte == 0 else min(len(payload), int((now - begin) / per_byte) + 1)
            count += arrived - used
            if arrived < len(payload):
                break
        return count

    def _take(self, size: int) -> bytes:
        out = bytearray()
        now = time.monotonic()
        while self._outbox and len(out) < size:
            entry = self._outbox[0]
            begin, per_byte, payload, used = entry
            if now < begin:
                break
            arrived = len(payload) if per_byte == 0 else min(len(payload), int((now - begin) / per_byte) + 1)
            n = min(arrived - used, size - len(out))
            out += payload[used:used + n]
            entry[3] = used + n
            if entry[3] == len(payload):
                self._outbox.popleft()
            else:
                break
        return bytes(out)

    def _next_arrival(self, now: float) -> float:
        if not self._outbox:
            return now + 3600.0
        begin, per_byte, payload, used = self._outbox[0]
        return max(now, begin + per_byte * used)

    @property
    def in_waiting(self) -> int:
        """Bytes that have arrived and not been read."""
        self._check()
        with self._cond:
            return self._available(time.monotonic())

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` seconds for all of them."""
        self._check()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        data = bytearray()
        with self._cond:
            while len(data) < size:
                data += self._take(size - len(data))
                if len(data) >= size:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wake = self._next_arrival(now)
                if deadline is not None:
                    wake = min(wake, deadline)
                self._cond.wait(max(0.0005, wake - now))
                self._check()
        return bytes(data)

    def reset_input_buffer(self) -> None:
        """Drops answers not read yet (including those still on the wire)."""
        self._check()
        with self._cond:
            self._outbox.clear()

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on the way out: writes reach the simulator at once."""
        self._check()

    @property
    def out_waiting(self) -> int:
        """Always 0 (see :meth:`reset_output_buffer`)."""
        return 0

    def cancel_read(self) -> None:
        """Wakes a blocked :meth:`read`."""
        with self._cond:
            self._cond.notify_all()

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass
