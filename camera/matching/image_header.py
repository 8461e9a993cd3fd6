"""Image dimensions from a file's header, before anything is decoded (bytes in, values out).

A 0.85 MB PNG of 30000x30000 constant pixels decodes to 2.7 GB of BGR (5.4 GB at the peak), so
:func:`camera.matching.templates.read_image` asks this module for the width and height first and
refuses a file that claims too many pixels without handing it to ``cv2.imdecode``.

Only the formats a photo of a person arrives in are known: JPEG, PNG, BMP (what many ID card reader
SDKs write the chip photo as), WebP and PBM/PGM/PPM (the ORL face set). Every other format that
``cv2.imdecode`` would accept (TIFF, JPEG 2000, OpenEXR, Radiance HDR, PFM, PAM, Sun raster) is
refused with :class:`ImageHeaderError`: a header this module cannot read is a size it cannot check,
so those bytes never reach a decoder. The signatures are those OpenCV's decoders look for, and no
other OpenCV decoder accepts them, so the format read here is the one OpenCV would decode.

No I/O, no OpenCV: a parser of the first bytes of a file, tested on hand-made headers.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (ITU-T T.81 table B.1): C4 (DHT), C8 (reserved) and CC (DAC) are not frames.
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
# Markers without a length field: TEM and RST0-RST7 (T.81 B.1.1.3).
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))
# Markers and fill bytes walked before giving up: a camera or scanner JPEG has a few dozen segments
# before its frame header; a file of millions of empty segments would otherwise cost seconds here.
_JPEG_MAX_STEPS = 65_536
# PBM/PGM/PPM: whitespace and '#' comments between the fields (Netpbm); at most 10 digits per field,
# so a field of thousands of digits is a malformed header rather than a slow int().
_PNM_FIELD = re.compile(rb"(?:\s|#[^\r\n]*)+(\d{1,10})(?=[\s#])")


class ImageHeaderError(ValueError):
    """The bytes are not the header of a known image format, or the header is cut short or malformed.

    The message names the format and what is wrong; it never holds a path.
    """


@dataclass(frozen=True)
class ImageHeader:
    """What the header says: the format and the size in pixels (before any EXIF rotation)."""

    format: str  # "jpeg", "png", "bmp", "webp" or "pnm"
    width_px: int
    height_px: int

    @property
    def pixels(self) -> int:
        """Width times height: what the decoded image will hold per channel."""
        return self.width_px * self.height_px


def read_header(data: bytes) -> ImageHeader:
    """The format and dimensions of the image whose file starts with ``data`` (the whole file is fine).

    Reads only the header: a file cut off after its header still gives its size. Raises
    :class:`ImageHeaderError` for an unknown format, a short or malformed header, or a zero size.
    """
    data = bytes(data)
    if data[:8] == _PNG_SIGNATURE:
        header = _png(data)
    elif data[:3] == b"\xff\xd8\xff":
        header = _jpeg(data)
    elif data[:2] == b"BM":
        header = _bmp(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        header = _webp(data)
    elif len(data) >= 2 and data[0] == ord("P") and ord("1") <= data[1] <= ord("6"):
        header = _pnm(data)
    else:
        raise ImageHeaderError("not a JPEG, PNG, BMP, WebP or PBM/PGM/PPM file")
    if header.width_px <= 0 or header.height_px <= 0:
        raise ImageHeaderError(f"{header.format} header gives an empty size {header.width_px}x{header.height_px}")
    return header


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise ImageHeaderError(f"{what} header is cut short")


def _png(data: bytes) -> ImageHeader:
    # The IHDR chunk must come first (PNG spec 5.6); libpng refuses the file otherwise.
    _need(data, 24, "png")
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise ImageHeaderError("png does not start with an IHDR chunk")
    width, height = struct.unpack_from(">II", data, 16)
    return ImageHeader("png", width, height)


def _jpeg(data: bytes) -> ImageHeader:
    # Walks the marker segments from SOI to the first frame header, skipping each segment by its
    # length (an EXIF thumbnail inside APP1 is skipped whole). libjpeg stops at a second SOF
    # (JERR_SOF_DUPLICATE), so the first frame header is the size it decodes.
    position = 2
    for _step in range(_JPEG_MAX_STEPS):
        _need(data, position + 2, "jpeg")
        if data[position] != 0xFF:  # libjpeg skips such garbage too; refused for the same reason as FF 00
            raise ImageHeaderError("jpeg marker expected")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker (T.81 B.1.1.2)
            position += 1
            continue
        position += 2
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0x00:
            # A stuffed zero: libjpeg skips it as garbage and looks for the next marker, so a frame
            # header hidden behind it would be the size it decodes. Refused rather than followed.
            raise ImageHeaderError("jpeg marker expected")
        if marker in (0xD8, 0xD9, 0xDA):  # SOI again, EOI or start of scan before any frame header
            raise ImageHeaderError("jpeg has no frame header before its image data")
        _need(data, position + 2, "jpeg")
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2:
            raise ImageHeaderError("jpeg segment length is invalid")
        if marker in _JPEG_SOF:
            _need(data, position + 7, "jpeg")
            height, width = struct.unpack_from(">HH", data, position + 3)  # after length and precision
            return ImageHeader("jpeg", width, height)
        position += length
    raise ImageHeaderError(f"jpeg has no frame header in its first {_JPEG_MAX_STEPS} markers")


def _bmp(data: bytes) -> ImageHeader:
    # The same cases as OpenCV's BmpDecoder::readHeader: a 12-byte OS/2 core header with 16-bit
    # sizes, or a header of 36 bytes or more with 32-bit ones (a negative height is a top-down image).
    _need(data, 18, "bmp")
    (size,) = struct.unpack_from("<I", data, 14)
    if size == 12:
        _need(data, 22, "bmp")
        width, height = struct.unpack_from("<HH", data, 18)
    elif size >= 36:
        _need(data, 26, "bmp")
        width, height = struct.unpack_from("<ii", data, 18)
        height = abs(height)
    else:
        raise ImageHeaderError(f"bmp information header of {size} bytes is not supported")
    return ImageHeader("bmp", width, height)


def _webp(data: bytes) -> ImageHeader:
    # The first chunk says which of the three WebP layouts follows (Google's WebP container spec).
    _need(data, 20, "webp")
    kind = data[12:16]
    if kind == b"VP8 ":  # lossy: frame tag (3 bytes), start code 9D 01 2A, 14-bit sizes
        _need(data, 30, "webp")
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageHeaderError("webp lossy frame has no start code")
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":  # lossless: signature 2F, then width-1 and height-1 in 14 bits each
        _need(data, 25, "webp")
        if data[20] != 0x2F:
            raise ImageHeaderError("webp lossless stream has no signature")
        (bits,) = struct.unpack_from("<I", data, 21)
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":  # extended: the canvas, width-1 and height-1 in 24 bits each
        _need(data, 30, "webp")
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height)
    raise ImageHeaderError("webp has no VP8, VP8L or VP8X chunk first")


def _pnm(data: bytes) -> ImageHeader:
    # "P1".."P6", then width and height as decimal fields; the file is already capped in size, and
    # the pattern runs in C, so a long comment costs nothing noticeable.
    first = _PNM_FIELD.match(data, 2)
    second = _PNM_FIELD.match(data, first.end()) if first else None
    if first is None or second is None:
        raise ImageHeaderError("pnm header has no width and height")
    return ImageHeader("pnm", int(first.group(1)), int(second.group(1)))
