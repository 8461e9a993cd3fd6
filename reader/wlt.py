"""Decoding the chip photo (WLT, 1024 bytes) through a licensed vendor library, via ctypes.

No open decoder exists (protocol report §5.1): the photo is wavelet-compressed and encrypted, and
only the reader vendor's library turns it into pixels. Configure ``reader.wlt_decoder`` with the path
of a library exporting the common ``libwlt2bmp`` entry point::

    int wlt2bmp(const unsigned char *wlt1024, unsigned char *dst, int mode);

which writes 102 x 126 pixels, 3 bytes each, blue-green-red, bottom row first (BMP order, no row
padding: 38 556 bytes) and returns 1 on success. ``mode`` is vendor-specific (198 in one SDK, 708
in another); it is passed through from :data:`DEFAULT_MODE` or the constructor. Without a decoder
the photo is simply not used: the reference face comes from the roster.

Privacy: the pixels are a face (sensitive personal information). Never log or write them.
Thread rules: vendor decoders are rarely re-entrant, so calls are serialised with a lock.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from reader.errors import ReaderError, ReaderReason

if TYPE_CHECKING:
    import numpy as np

WIDTH_PX = 102
HEIGHT_PX = 126
RAW_SIZE = WIDTH_PX * HEIGHT_PX * 3  # 38 556 bytes
WLT_SIZE = 1024
DEFAULT_MODE = 708  # "decode in memory" in the libDecodeWlt JNI of source H


class WltDecoder:
    """A loaded vendor decoder. :meth:`decode` returns an RGB image (height, width, 3) uint8."""

    def __init__(self, library_path: str | Path, *, mode: int = DEFAULT_MODE) -> None:
        """Loads the library; ReaderError(wlt_decoder_unavailable) when missing or not a decoder."""
        path = Path(library_path)
        if not path.is_file():
            raise ReaderError(ReaderReason.WLT_DECODER_UNAVAILABLE, f"WLT decoder {path} does not exist")
        try:
            library = ctypes.CDLL(str(path))
            function = library.wlt2bmp
        except (OSError, AttributeError) as exc:
            raise ReaderError(ReaderReason.WLT_DECODER_UNAVAILABLE,
                              f"WLT decoder {path} cannot be used: {type(exc).__name__}") from None
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        function.restype = ctypes.c_int
        self._function = function
        self._mode = mode
        self._lock = threading.Lock()
        self.path = path

    def decode(self, wlt: bytes) -> np.ndarray:
        """The 126 x 102 RGB photo (rows top to bottom) for a 1024-byte WLT blob.

        Raises ReaderError(wlt_decode_failed) for a blob of the wrong size or one the library
        refuses (it checks the licence and the data).
        """
        import numpy as np

        if len(wlt) != WLT_SIZE:
            raise ReaderError(ReaderReason.WLT_DECODE_FAILED, f"WLT photo of {len(wlt)} bytes, expected {WLT_SIZE}")
        # Some decoders write a BMP header before the pixels: leave generous room after them.
        out = ctypes.create_string_buffer(RAW_SIZE + 1024)
        with self._lock:
            status = self._function(bytes(wlt), out, self._mode)
        if status != 1:
            raise ReaderError(ReaderReason.WLT_DECODE_FAILED, f"WLT decoder returned {status}")
        bgr_bottom_up = np.frombuffer(out.raw[:RAW_SIZE], dtype=np.uint8).reshape(HEIGHT_PX, WIDTH_PX, 3)
        return np.ascontiguousarray(bgr_bottom_up[::-1, :, ::-1])


def load_wlt_decoder(setting: str) -> WltDecoder | None:
    """The decoder named by ``reader.wlt_decoder``; None when the setting is empty.

    Raises ReaderError(wlt_decoder_unavailable) when a path is configured but unusable, so that a
    misconfiguration is found at start (``kiosk doctor``), not at the first card.
    """
    return WltDecoder(setting) if setting.strip() else None
