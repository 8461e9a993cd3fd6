"""Reference templates from photo files (roster photos, staff enrolment, the chip photo).

The roster import (``kiosk roster import --photos DIR``) calls :func:`template_from_image_file`
once per photo; it loads the models once per process and reuses them. For many photos, use a
:class:`~camera.matching.process.MatcherProcess` per core instead.

:func:`read_image` is the one place a photo file is read and decoded (roster import, ``kiosk
verify``, ``kiosk faces evaluate``, the benchmarks and calibration scripts); it refuses files too
large to decode safely before OpenCV sees them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.matching.image_header import ImageHeaderError, read_header
from camera.matching.matcher import FaceMatcher
from camera.settings import MatchSettings

_matchers: dict[str, FaceMatcher] = {}
_lock = threading.Lock()

#: The most pixels (width x height, from the header) a photo file may claim before it is decoded.
#: 40 MP holds a full-frame camera's 36 MP (7360x4912) and any phone's default shot; an ID card chip
#: photo is 102x126, a roster photo about 358x441, a camera frame 1920x1080 (2 MP). Decoded as BGR,
#: 40 MP is 120 MB; a 0.85 MB PNG of 30000x30000 would be 2.7 GB (5.4 GB at the peak).
MAX_IMAGE_PIXELS = 40_000_000
#: The largest photo file read from disk. A 40 MP JPEG at quality 95 is about 20 MB, and a real
#: photo PNG compresses to well under 2 bytes a pixel; 64 MB is ample for both and keeps a FIFO,
#: /dev/zero or a mistaken video file from being read into memory. An uncompressed BMP reaches it at
#: about 22 MP; photos that large come as JPEG.
MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024

# Keys of the shipped config/kiosk.toml [match] section, for callers without a configuration.
_DEFAULTS_FILE = Path(__file__).resolve().parent.parent.parent / "config" / "kiosk.toml"


def default_settings() -> MatchSettings:
    """The ``[match]`` section of the shipped ``config/kiosk.toml`` (no site overrides).

    Raises :class:`MatchError` ``model_missing`` when the file cannot be found (a frozen build
    without ``config/``); the kiosk always passes its own, layered settings instead.
    """
    import sys  # noqa: PLC0415
    import tomllib  # noqa: PLC0415

    frozen = getattr(sys, "_MEIPASS", None)
    path = Path(frozen) / "config" / "kiosk.toml" if frozen else _DEFAULTS_FILE
    try:
        return MatchSettings.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))["match"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise MatchError(MatchReason.MODEL_MISSING, f"no [match] settings found in {path}") from exc


def shared_matcher(settings: MatchSettings | None = None) -> FaceMatcher:
    """One :class:`FaceMatcher` per process and settings (models are loaded once)."""
    settings = settings or default_settings()
    key = settings.model_dump_json()
    with _lock:
        if key not in _matchers:
            _matchers[key] = FaceMatcher(settings)
        return _matchers[key]


def read_image(path: Path) -> np.ndarray:
    """Reads an image file as 8-bit BGR (JPEG, PNG, BMP, WebP, PBM/PGM/PPM).

    The size is checked before decoding: at most :data:`MAX_IMAGE_FILE_BYTES` are read, and the
    header's width x height must be at most :data:`MAX_IMAGE_PIXELS`
    (:mod:`camera.matching.image_header`). Raises :class:`MatchError` ``image_too_large`` for a
    file or an image past those limits, ``image_unreadable`` when the file is missing, empty, in
    another format, or not a decodable image. Reads bytes first so non-ASCII paths work
    (``cv2.imread`` mangles them). Messages hold sizes, never the path.
    """
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_IMAGE_FILE_BYTES + 1)  # one byte more tells "too large" from "just fits"
    except OSError as exc:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"cannot read image file: {exc.strerror}") from exc
    if len(raw) > MAX_IMAGE_FILE_BYTES:
        raise MatchError(MatchReason.IMAGE_TOO_LARGE,
                         f"the file is larger than {MAX_IMAGE_FILE_BYTES // (1024 * 1024)} MB")
    try:
        header = read_header(raw)
    except ImageHeaderError as exc:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"the file is not a decodable image: {exc}") from None
    if header.pixels > MAX_IMAGE_PIXELS:
        raise MatchError(MatchReason.IMAGE_TOO_LARGE,
                         f"the {header.format} image is {header.width_px}x{header.height_px} px, more than "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")
    try:
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV 4.11 raises (rather than returning None) for some corrupt files
        image = None
    if image is None:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"the file is not a decodable {header.format} image")
    return image


def template_from_image_file(path: Path, settings: MatchSettings | None = None) -> np.ndarray:
    """The reference template (float32 (128,)) of the one usable face in a photo file.

    Uses ``reference_jitters``. Raises :class:`MatchError`: ``image_unreadable``,
    ``no_usable_face`` (``detail`` names the failed gates), ``multiple_faces_found``,
    ``model_missing``. The template is biometric data: the caller stores it encrypted.
    """
    image = read_image(path)
    return shared_matcher(settings).encode(image, reference=True).vector.copy()
