"""The hall's local staff signal: a light or a buzzer that a terminal switches on when a staff call
could not reach the centre, configured by URL like the other devices (``staff.signal_url``).

* ``""`` or ``null://``: no device (the screen and the voice still signal);
* ``file:///path``: writes ``1`` / ``0`` and a newline to the file (a GPIO ``value`` file of the
  sysfs, a relay board's control file; also what the tests read);
* anything else: a pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``, ``loop://``,
  ``hwgrep://...``); the signal writes the line ``ON`` or ``OFF`` (CR LF), the protocol of the
  common USB signal towers with a serial control chip.

Thread rule: a signal belongs to the thread of the staff-call desk. A device that fails is logged
(reason codes only) and never stops the call: the screen still tells the person what to do.
"""

from __future__ import annotations

import logging
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


def open_staff_signal(url: str) -> StaffSignal:
    """The signal of ``url`` (see the module docstring). Never opens a device here: a missing light
    must not stop the kiosk from starting."""
    if not url or url.startswith("null:"):
        return NullSignal()
    if url.startswith("file:"):
        return FileSignal(Path(unquote(urlsplit(url).path)))
    return SerialSignal(url)
