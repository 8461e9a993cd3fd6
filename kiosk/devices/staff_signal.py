"""The hall's local staff signal: a light or a buzzer that a terminal switches on when a staff call
could not reach the centre, configured by URL like the other devices (``staff.signal_url``).

* ``""`` or ``null://``: no device (the screen and the voice still signal);
* ``file:///path``: writes ``1`` / ``0`` and a newline to the file (a GPIO ``value`` file of the
  sysfs, a relay board's control file; also what the tests read);
* ``escpos:`` followed by a pyserial URL (``escpos:/dev/ttyS1``, the receipt printer's port): the
  printer's buzzer beeps (``ESC B n t``: 3 beeps of 200 ms) when the signal goes on, and again at
  most every :data:`BEEP_REPEAT_S` seconds while it stays on (the desk re-asserts the signal at each
  retry); the port is opened for each beep only, so receipts still print between beeps;
* anything else: a pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``, ``loop://``,
  ``hwgrep://...``); the signal writes the line ``ON`` or ``OFF`` (CR LF), the protocol of the
  common USB signal towers with a serial control chip.

Thread rule: a signal belongs to the thread of the staff-call desk. A device that fails is logged
(reason codes only) and never stops the call: the screen still tells the person what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)


class StaffSignal(Protocol):
    """A light or buzzer: on while a call waits for staff and the centre could not be told."""

    def set(self, on: bool) -> None:
        """Switches the signal (idempotent; never raises)."""

    def close(self) -> None:
        """Switches it off and releases the device."""


class NullSignal:
    """No device; remembers the last state (for tests and the technician page)."""

    def __init__(self) -> None:
        self.on = False

    def set(self, on: bool) -> None:
        self.on = on

    def close(self) -> None:
        self.on = False


class FileSignal:
    """Writes ``1``/``0`` to a file on every change."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._on: bool | None = None

    def set(self, on: bool) -> None:
        if on == self._on:
            return
        try:
            self._path.write_text("1\n" if on else "0\n")
            self._on = on
        except OSError as exc:
            log.warning("staff signal file cannot be written: %s", type(exc).__name__)

    def close(self) -> None:
        self.set(False)


class SerialSignal:
    """Writes ``ON``/``OFF`` lines to a pyserial URL; opened on first use, reopened after an error."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._port = None
        self._on: bool | None = None

    def set(self, on: bool) -> None:
        if on == self._on:
            return
        import serial  # noqa: PLC0415 - pyserial is imported only when a serial signal is configured

        try:
            if self._port is None:
                self._port = serial.serial_for_url(self._url, baudrate=9600, timeout=1, write_timeout=1)
            self._port.write(b"ON\r\n" if on else b"OFF\r\n")
            self._port.flush()
            self._on = on
        except (serial.SerialException, OSError, ValueError) as exc:
            log.warning("staff signal device cannot be reached: %s", type(exc).__name__)
            self._drop_port()

    def close(self) -> None:
        self.set(False)
        self._drop_port()

    def _drop_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # noqa: BLE001 - closing a broken port must not raise
                pass
            self._port = None


BEEP_REPEAT_S = 30.0
ESC_POS_BEEP = b"\x1bB\x03\x02"  # ESC B n t: n = 3 beeps, t = 2 x 100 ms each


class PrinterBuzzerSignal:
    """Beeps the receipt printer's buzzer (see the module docstring); ``monotonic`` is injectable."""

    def __init__(self, url: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._monotonic = monotonic
        self._beeped_at: float | None = None

    def set(self, on: bool) -> None:
        if not on:
            self._beeped_at = None
            return
        now = self._monotonic()
        if self._beeped_at is not None and now - self._beeped_at < BEEP_REPEAT_S:
            return
        import serial  # noqa: PLC0415 - pyserial is imported only when a buzzer is configured

        try:
            with serial.serial_for_url(self._url, baudrate=9600, timeout=1, write_timeout=1) as port:
                port.write(ESC_POS_BEEP)
                port.flush()
        except (serial.SerialException, OSError, ValueError) as exc:
            log.warning("printer buzzer cannot be reached: %s", type(exc).__name__)
        self._beeped_at = now  # a printer that is away is not asked again at every step either

    def close(self) -> None:
        self.set(False)


def open_staff_signal(url: str) -> StaffSignal:
    """The signal of ``url`` (see the module docstring). Never opens a device here: a missing light
    must not stop the kiosk from starting."""
    if not url or url.startswith("null:"):
        return NullSignal()
    if url.startswith("file:"):
        return FileSignal(Path(unquote(urlsplit(url).path)))
    if url.startswith("escpos:"):
        return PrinterBuzzerSignal(url.removeprefix("escpos:"))
    return SerialSignal(url)
