"""Optional receipt on an ESC/POS thermal printer behind a pyserial URL (``ui.receipt_printer_url``).

The receipt holds no name and no ID number (it may be left behind): hall, time, result, valid-until
date. Text is GB18030, the code page of Chinese ESC/POS printers in their default "Chinese mode".
Printing runs on a short-lived thread; a printer fault never disturbs the session: it is logged
(reason only) and reported through ``on_done(False)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import serial

from kiosk.clock import CHINA_STANDARD_TIME
from kiosk.flow import FlowView
from kiosk.reasons import CERTIFYING_OUTCOMES, Outcome
from ui.catalogue import Catalogue

log = logging.getLogger(__name__)

ESC_INIT = b"\x1b@"
ESC_ALIGN_CENTRE = b"\x1ba\x01"
ESC_ALIGN_LEFT = b"\x1ba\x00"
GS_SIZE_DOUBLE = b"\x1d!\x11"
GS_SIZE_NORMAL = b"\x1d!\x00"
FS_CHINESE_ON = b"\x1c&"  # enter Chinese character mode (GB18030 double-byte)
GS_CUT_FEED = b"\x1dVB\x03"  # feed 3 lines then partial cut


def receipt_lines(catalogue: Catalogue, view: FlowView, hall: str, when: datetime, review_days: int) -> list[str]:
    """The receipt's text lines for a result view; [] for outcomes that get no receipt."""
    lines = [catalogue.text("receipt", "hall", hall=hall),
             catalogue.text("receipt", "time", time=when.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M"))]
    if view.outcome in CERTIFYING_OUTCOMES and view.valid_until is not None:
        return lines + [catalogue.text("receipt", "certified"), catalogue.text("receipt", "valid_until", valid_until=view.valid_until)]
    if view.outcome == Outcome.MANUAL_REVIEW_REQUESTED:
        return lines + [catalogue.text("receipt", "manual_review"), catalogue.text("receipt", "manual_review_note", days=review_days)]
    return []


def escpos_bytes(title: str, lines: list[str], footer: str) -> bytes:
    """An ESC/POS job: a big centred title, the lines, a footer, feed and cut."""
    out = bytearray(ESC_INIT + FS_CHINESE_ON + ESC_ALIGN_CENTRE + GS_SIZE_DOUBLE)
    out += title.encode("gb18030") + b"\n" + GS_SIZE_NORMAL + ESC_ALIGN_LEFT + b"\n"
    for line in lines:
        out += line.encode("gb18030") + b"\n"
    out += b"\n" + ESC_ALIGN_CENTRE + footer.encode("gb18030") + b"\n" + GS_CUT_FEED
    return bytes(out)


def print_receipt(url: str, job: bytes, on_done: Callable[[bool], None] = lambda _ok: None, *, timeout_s: float = 5.0) -> threading.Thread:
    """Sends ``job`` to the printer at ``url`` on a new thread; ``on_done(ok)`` runs on that thread."""

    def send() -> None:
        ok = False
        try:
            with serial.serial_for_url(url, baudrate=9600, timeout=timeout_s, write_timeout=timeout_s) as port:
                port.write(job)
                port.flush()
            ok = True
        except (serial.SerialException, OSError, ValueError) as exc:
            log.warning("receipt printer failed: %s", type(exc).__name__)
        on_done(ok)

    thread = threading.Thread(target=send, name="receipt-printer", daemon=True)
    thread.start()
    return thread
