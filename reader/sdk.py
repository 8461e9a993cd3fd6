"""Vendor-SDK backends through ctypes, for readers sold with a library instead of a documented port.

Two families (protocol report §5.2):

* ``sdtapi`` (the 公安部 SDT API of Routon, Synjones, Huaxu and others): every call returns the raw
  SW3 (``0x90`` ok, ``0x9F`` card found) or a host-only code (1 port, 2 timeout, 3 transmit, 5 baud);
  ``SDT_ReadBaseMsg`` hands back the same 256-byte text and 1024-byte photo as the serial protocol.
* ``termb`` (ChinaVision CVR-100 style): calls return 1 for success; ``CVR_Authenticate`` finds and
  selects the card, ``CVR_ReadBaseMsg`` returns the raw blocks (Linux variant of the library).

Both are cdecl on Linux (``CDLL``) and stdcall on Windows (``WinDLL``). They implement
:class:`~reader.client.CardReader`, so the reader service drives them like a serial reader.
Thread rules: one thread at a time (vendor libraries keep global state).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from reader.card import IdCard
from reader.errors import ReaderError, ReaderReason, ReaderTimeout, ReaderUnavailable, StatusError
from reader.layouts import parse_card
from reader.protocol import SW3_FOUND, SW3_OK, Response

# Host-library codes, never sent on the wire (report §2.2).
_HOST_CODES = {
    0x01: ReaderReason.READER_UNAVAILABLE,
    0x02: ReaderReason.READER_TIMEOUT,
    0x03: ReaderReason.READER_TRANSMIT_FAILED,
    0x05: ReaderReason.READER_UNAVAILABLE,
}
_TEXT_MAX = 256
_PHOTO_MAX = 1024
_FINGER_MAX = 1024


def _load(library: str) -> ctypes.CDLL:
    if not Path(library).is_file():
        raise ReaderError(ReaderReason.VENDOR_LIBRARY_UNAVAILABLE, f"vendor library {library} does not exist")
    loader = ctypes.WinDLL if os.name == "nt" else ctypes.CDLL  # type: ignore[attr-defined]
    try:
        return loader(library)
    except OSError as exc:
        raise ReaderError(ReaderReason.VENDOR_LIBRARY_UNAVAILABLE, f"vendor library {library}: {exc}") from None


def _bind(lib: ctypes.CDLL, name: str, argtypes: list, restype: type = ctypes.c_int):  # noqa: ANN202
    try:
        function = getattr(lib, name)
    except AttributeError:
        raise ReaderError(ReaderReason.VENDOR_LIBRARY_UNAVAILABLE, f"vendor library lacks {name}") from None
    function.argtypes = argtypes
    function.restype = restype
    return function


def _sdt_error(code: int, call: str) -> ReaderError:
    if code in _HOST_CODES:
        reason = _HOST_CODES[code]
        if reason is ReaderReason.READER_TIMEOUT:
            return ReaderTimeout(f"{call} timed out")
        return ReaderUnavailable(f"{call} returned {code}", code=reason)
    if not 0 <= code <= 0xFF:
        return StatusError(ReaderReason.SAM_STATUS_UNKNOWN, code & 0xFF, f"{call} returned {code}")
    return Response(0, 0, code, b"").error()


class SdtApiReader:
    """A reader behind the standard ``SDT_*`` library; ``port`` 1-16 = COM, 1001-1016 = USB."""

    def __init__(self, library: str, port: int) -> None:
        lib = _load(library)
        u8p, uintp, c_int = ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), ctypes.c_int
        self._open = _bind(lib, "SDT_OpenPort", [c_int])
        self._close = _bind(lib, "SDT_ClosePort", [c_int])
        self._status = _bind(lib, "SDT_GetSAMStatus", [c_int, c_int])
        self._find = _bind(lib, "SDT_StartFindIDCard", [c_int, u8p, c_int])
        self._select = _bind(lib, "SDT_SelectIDCard", [c_int, u8p, c_int])
        self._read = _bind(lib, "SDT_ReadBaseMsg", [c_int, u8p, uintp, u8p, uintp, c_int])
        self.port = port
        code = self._open(port)
        if code != SW3_OK:
            raise ReaderUnavailable(f"SDT_OpenPort({port}) returned {code}")
        self._is_open = True

    def sam_status(self) -> None:
        """Raises unless ``SDT_GetSAMStatus`` answers 0x90."""
        code = self._status(self.port, 0)
        if code != SW3_OK:
            raise _sdt_error(code, "SDT_GetSAMStatus")

    def find_card(self) -> bool:
        """True on 0x9F, False on 0x80 (no card); anything else raises."""
        code = self._find(self.port, ctypes.create_string_buffer(4), 0)
        if code == 0x80:
            return False
        if code != SW3_FOUND:
            raise _sdt_error(code, "SDT_StartFindIDCard")
        return True

    def read_card(self, *, find: bool = True) -> IdCard:
        """Find (unless just done), select, read base info; raises ReaderError."""
        if find and not self.find_card():
            raise StatusError(ReaderReason.NO_CARD, 0x80, "no card on the reader")
        code = self._select(self.port, ctypes.create_string_buffer(8), 0)
        if code != SW3_OK:
            raise _sdt_error(code, "SDT_SelectIDCard")
        text, photo = ctypes.create_string_buffer(_TEXT_MAX + 16), ctypes.create_string_buffer(_PHOTO_MAX + 16)
        text_len, photo_len = ctypes.c_uint(0), ctypes.c_uint(0)
        code = self._read(self.port, text, ctypes.byref(text_len), photo, ctypes.byref(photo_len), 0)
        if code != SW3_OK:
            raise _sdt_error(code, "SDT_ReadBaseMsg")
        return parse_card(text.raw[:min(text_len.value, _TEXT_MAX)], photo.raw[:min(photo_len.value, _PHOTO_MAX)])

    def close(self) -> None:
        """``SDT_ClosePort`` (idempotent)."""
        if self._is_open:
            self._is_open = False
            self._close(self.port)


class TermbReader:
    """A ChinaVision-style reader behind ``CVR_*`` (1 = success). ``port`` as for the SDT API."""

    def __init__(self, library: str, port: int) -> None:
        lib = _load(library)
        u8p, uintp, c_int = ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), ctypes.c_int
        self._init = _bind(lib, "CVR_InitComm", [c_int])
        self._close = _bind(lib, "CVR_CloseComm", [])
        self._authenticate = _bind(lib, "CVR_Authenticate", [])
        self._read = _bind(lib, "CVR_ReadBaseMsg", [u8p, uintp, u8p, uintp, u8p, uintp, c_int])
        self._sam_id = getattr(lib, "CVR_GetSAMID", None)
        if self._sam_id is not None:
            self._sam_id.argtypes, self._sam_id.restype = [u8p], c_int
        self.port = port
        code = self._init(port)
        if code != 1:
            raise ReaderUnavailable(f"CVR_InitComm({port}) returned {code}")
        self._is_open = True

    def sam_status(self) -> None:
        """Reads the SAM ID when the library offers it (the CVR API has no status call)."""
        if self._sam_id is not None and self._sam_id(ctypes.create_string_buffer(64)) != 1:
            raise StatusError(ReaderReason.SAM_NOT_READY, 0x60, "CVR_GetSAMID failed")

    def find_card(self) -> bool:
        """``CVR_Authenticate`` (find and select in one): 1 = a card is ready."""
        return self._authenticate() == 1

    def read_card(self, *, find: bool = True) -> IdCard:
        """Authenticate (unless just done), then ``CVR_ReadBaseMsg``; raises ReaderError."""
        if find and not self.find_card():
            raise StatusError(ReaderReason.NO_CARD, 0x80, "no card on the reader")
        text, photo = ctypes.create_string_buffer(_TEXT_MAX + 16), ctypes.create_string_buffer(_PHOTO_MAX + 16)
        finger = ctypes.create_string_buffer(_FINGER_MAX + 16)
        lengths = [ctypes.c_uint(0) for _ in range(3)]
        code = self._read(text, ctypes.byref(lengths[0]), photo, ctypes.byref(lengths[1]), finger,
                          ctypes.byref(lengths[2]), 1)
        if code != 1:
            raise StatusError(ReaderReason.CARD_READ_FAILED, 0x41, f"CVR_ReadBaseMsg returned {code}")
        return parse_card(text.raw[:min(lengths[0].value, _TEXT_MAX)], photo.raw[:min(lengths[1].value, _PHOTO_MAX)])

    def close(self) -> None:
        """``CVR_CloseComm`` (idempotent)."""
        if self._is_open:
            self._is_open = False
            self._close()


def open_sdk_reader(kind: str, library: str, port: int) -> SdtApiReader | TermbReader:
    """Opens ``kind`` (``sdtapi`` or ``termb``) from ``library`` on ``port``; raises ReaderError."""
    if kind == "sdtapi":
        return SdtApiReader(library, port)
    if kind == "termb":
        return TermbReader(library, port)
    raise ReaderError(ReaderReason.READER_URL_INVALID, f"unknown vendor SDK kind {kind!r}")
