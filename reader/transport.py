"""Reader URLs: open the right backend for ``reader.url``.

Serial transports go through ``serial.serial_for_url`` (115200 8N1, no flow control by default):

* a device path: ``/dev/ttyUSB0``, ``/dev/ttyS1``, ``COM3``;
* ``hwgrep://REGEX`` (pyserial: the first port whose description or ``VID:PID`` matches,
  e.g. ``hwgrep://10c4:ea60``);
* ``socket://host:port`` (network readers); ``loop://`` (tests of the host side only);
* ``sim://``, ``sim://SAMPLE``, ``sim:///path/card.json?switches`` (the in-process simulator,
  registered here as a pyserial handler package).

Vendor libraries go through ctypes (:mod:`reader.sdk`): ``sdtapi:///path/libsdtapi.so?port=1001``
and ``termb:///path/libtermb.so?port=1``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import serial

from reader.client import CardReader, SamClient
from reader.errors import ReaderError, ReaderReason, ReaderUnavailable, UrlError

HANDLER_PACKAGE = "reader.urlhandler"
SDK_SCHEMES = ("sdtapi", "termb")


def register_url_handlers() -> None:
    """Makes ``sim://`` known to ``serial.serial_for_url`` (idempotent)."""
    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


def open_serial(url: str, *, baudrate: int = 115200, timeout_s: float = 0.05) -> serial.SerialBase:
    """Opens a serial-type reader URL at ``baudrate`` 8N1 with no flow control.

    Raises UrlError(reader_url_invalid) for an unknown scheme, ReaderUnavailable when the port
    cannot be opened (missing, busy, unplugged, permission).
    """
    register_url_handlers()
    if not url:
        raise UrlError(ReaderReason.READER_URL_INVALID, "the reader URL is empty")
    try:
        return serial.serial_for_url(url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1,
                                     timeout=timeout_s, xonxoff=False, rtscts=False, dsrdtr=False)
    except ValueError as exc:
        raise UrlError(ReaderReason.READER_URL_INVALID, f"cannot use reader URL: {exc}") from None
    except (serial.SerialException, OSError) as exc:
        if isinstance(exc.__cause__, ReaderError):
            raise exc.__cause__ from None  # the simulator's own reason (bad switch, bad card file)
        # The message can contain the device path but never personal data.
        raise ReaderUnavailable(f"cannot open the reader port: {exc}") from None


def open_reader(url: str, *, baudrate: int = 115200, timeout_s: float = 3.0) -> CardReader:
    """The backend for ``url``: a :class:`SamClient` on a serial URL, or a vendor-SDK reader.

    Raises UrlError, ReaderUnavailable, or ReaderError(vendor_library_unavailable).
    """
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in SDK_SCHEMES:
        from reader.sdk import open_sdk_reader

        library, port = parse_sdk_url(url)
        return open_sdk_reader(scheme, library, port)
    return SamClient(open_serial(url, baudrate=baudrate), timeout_s=timeout_s)


def parse_sdk_url(url: str) -> tuple[str, int]:
    """``sdtapi:///path/lib.so?port=1001`` -> (library path, port number)."""
    parts = urlsplit(url)
    library = unquote(parts.path)
    if not library:
        raise UrlError(ReaderReason.READER_URL_INVALID, f"{parts.scheme}:// needs the library path")
    query = parse_qs(parts.query)
    try:
        port = int(query.get("port", ["1001"])[-1])
    except ValueError:
        raise UrlError(ReaderReason.READER_URL_INVALID, "port must be a number (1-16 COM, 1001-1016 USB)") from None
    unknown = set(query) - {"port"}
    if unknown:
        raise UrlError(ReaderReason.READER_URL_INVALID, f"unknown option(s) {sorted(unknown)} in the SDK URL")
    return library, port


def redact_url(url: str) -> str:
    """The URL without its query (card file switches may carry paths; keep logs short)."""
    return url.split("?", 1)[0]
