"""Doctor checks of the ID card reader: the configured URL opens and its SAM is ready; the photo
decoder, when one is configured, loads.

The reader check talks to the device for at most about one command timeout per command; it reads
no card. Details carry reason codes and the SAM's management number, never card data.
"""

from __future__ import annotations

from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status
from reader.client import SamClient
from reader.errors import ReaderError, ReaderReason
from reader.transport import open_reader, redact_url
from reader.wlt import load_wlt_decoder

_HINTS = {
    ReaderReason.READER_UNAVAILABLE: "check the cable and reader.url (ls /dev/ttyUSB* /dev/serial/by-id/), "
                                     "and that the kiosk user is in the dialout group",
    ReaderReason.READER_TIMEOUT: "the port opened but nothing answered: check reader.baudrate (115200 or 9600) "
                                 "and that the reader has power (modules need up to 5 s after power-on)",
    ReaderReason.READER_URL_INVALID: "fix reader.url (see config/kiosk.toml for the URL forms)",
    ReaderReason.SAM_NOT_READY: "the reader's SAM failed its self-test: power-cycle the reader, else replace it",
    ReaderReason.SAM_NOT_AUTHORISED: "the reader's SAM is not authorised: contact the reader vendor",
    ReaderReason.VENDOR_LIBRARY_UNAVAILABLE: "install the vendor library named in reader.url",
}


def check_reader(config: KioskConfig) -> CheckResult:
    """Opens ``reader.url``, asks for the SAM status and, on a serial reader, the SAM ID."""
    settings = config.reader
    url = redact_url(settings.url)
    try:
        reader = open_reader(settings.url, baudrate=settings.baudrate, timeout_s=settings.command_timeout_s)
        try:
            reader.sam_status()
            sam_id = reader.sam_id() if isinstance(reader, SamClient) else ""
        finally:
            reader.close()
    except ReaderError as exc:
        hint = _HINTS.get(exc.code, "see docs/reader.md for this reason code")  # str-enum keys match codes
        return CheckResult(Status.FAILED, f"{url}: [{exc.code}] {exc.detail}", hint)
    detail = f"{url}: SAM ready" + (f", SAM ID {sam_id}" if sam_id else "")
    if settings.url.lower().startswith("sim:"):
        return CheckResult(Status.WARNING, detail + " (simulated reader)",
                           "set reader.url to the real reader before certifying people")
    return CheckResult(Status.OK, detail)


def check_wlt_decoder(config: KioskConfig) -> CheckResult:
    """Loads ``reader.wlt_decoder`` when set; an empty setting is fine (the photo is not used)."""
    try:
        decoder = load_wlt_decoder(config.reader.wlt_decoder)
    except ReaderError as exc:
        return CheckResult(Status.FAILED, f"[{exc.code}] {exc.detail}",
                           "fix reader.wlt_decoder (path to the vendor's libwlt2bmp-style .so) or set it to \"\"")
    if decoder is None:
        return CheckResult(Status.OK, "not configured: the chip photo is not used")
    return CheckResult(Status.OK, f"{decoder.path} loaded")


CHECKS: list[Check] = [
    Check("reader URL openable", check_reader, required=True, order=30),
    Check("WLT photo decoder", check_wlt_decoder, required=False, order=31),
]
