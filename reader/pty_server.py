"""The simulator behind a real pseudo-terminal, so that the whole serial stack is exercised.

:class:`PtySimulator` opens a pty pair, puts it in raw mode and answers whatever a host writes to
the slave side (``/dev/pts/N``), which any program opens like ``/dev/ttyUSB0``. With pacing on,
bytes leave at the SAM's wire speed (10 bits a byte) and a `60 xx` speed change takes effect after
the answer; when the host's termios speed differs from the SAM's, the host receives garbage, as on
a real line. ``python -m reader.pty_server --card FILE`` (or ``kiosk reader simulate``) prints the
tty path on the first line of stdout and serves until interrupted.

POSIX only. Thread rules: :meth:`PtySimulator.serve` runs in one thread; :meth:`PtySimulator.stop`
may be called from any other.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from dataclasses import replace
from pathlib import Path

from reader.protocol import BAUD_CODES
from reader.simulator import SimOptions, Simulator, garble_for_wrong_baud, load_card
from reader.samples import DEFAULT_SAMPLE

_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in sorted(BAUD_CODES)}
_CHUNK = 32  # bytes written per pacing step: ~2.8 ms at 115200 baud


class PtySimulator:
    """Serves ``simulator`` on a new pseudo-terminal; :attr:`path` is the tty to open."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attributes = termios.tcgetattr(self._slave)
        attributes[4] = attributes[5] = termios.B115200
        termios.tcsetattr(self._slave, termios.TCSANOW, attributes)
        # Keeping our own slave descriptor open means the master never sees EIO when the host
        # closes and reopens the port (the reader stays "plugged in" between sessions).
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()

    def _host_baud(self) -> int | None:
        try:
            return _SPEEDS.get(termios.tcgetattr(self._slave)[5])
        except termios.error:
            return None

    def serve(self) -> None:
        """Answers until :meth:`stop`; returns then. Never raises on host behaviour."""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return  # close() from another thread shut the descriptor under the select
                raise
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                time.sleep(0.01)
                continue
            for answer, baud in self.simulator.receive(data):
                self._send(answer, baud)

    def _send(self, answer: bytes, baud: int) -> None:
        options = self.simulator.options
        host = self._host_baud()
        if host is not None and host != baud:
            answer = garble_for_wrong_baud(answer)
        if options.latency_ms:
            time.sleep(options.latency_ms / 1000.0)
        if not options.pace:
            os.write(self._master, answer)
            return
        per_byte = 10.0 / baud
        started = time.perf_counter()
        for offset in range(0, len(answer), _CHUNK):
            due = started + per_byte * offset
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            os.write(self._master, answer[offset:offset + _CHUNK])
        # The last chunk is not "on the wire" before its own transmission time has passed.
        remaining = started + per_byte * len(answer) - time.perf_counter()
        if remaining > 0:
            time.sleep(remaining)

    def start(self) -> threading.Thread:
        """Serves in a daemon thread and returns it."""
        thread = threading.Thread(target=self.serve, name="pty-simulator", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Asks :meth:`serve` to return (within ~50 ms)."""
        self._stop.set()

    def close(self) -> None:
        """Stops serving and closes both ends of the pty."""
        self.stop()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def serve_card(card: str | Path, options: SimOptions, announce=print) -> None:  # noqa: ANN001
    """Builds a simulator for ``card`` (file or sample name), announces the tty path, serves until
    SIGINT or SIGTERM. Raises UrlError(sim_card_invalid) for a bad card file."""
    server = PtySimulator(Simulator(load_card(card), options))
    previous = signal.signal(signal.SIGTERM, lambda *_: server.stop())
    announce(server.path)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m reader.pty_server --card FILE [--pace] [--switches QUERY]``."""
    parser = argparse.ArgumentParser(description="Serve a simulated ID card reader on a pty.")
    parser.add_argument("--card", default=DEFAULT_SAMPLE, help="card JSON file or sample name")
    parser.add_argument("--pace", action="store_true", help="send at the SAM's wire speed")
    parser.add_argument("--switches", default="", help="simulator switches as a URL query")
    args = parser.parse_args(argv)
    options = SimOptions.from_query(args.switches)
    if args.pace:
        options = replace(options, pace=True)
    serve_card(args.card, options, announce=lambda path: (print(path), sys.stdout.flush()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
