"""Reference templates from photo files (roster photos, staff enrolment, the chip photo).

The roster import (``kiosk roster import --photos DIR``) calls :func:`template_from_image_file`
once per photo; it loads the models once per process and reuses them. For many photos, use a
:class:`~camera.matching.process.MatcherProcess` per core instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.matching.matcher import FaceMatcher
from camera.settings import MatchSettings

_matchers: dict[str, FaceMatcher] = {}
_lock = threading.Lock()

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
    """Reads an image file as 8-bit BGR (JPEG, PNG, PGM, BMP, ...).

    Raises :class:`MatchError` ``image_unreadable`` when the file is missing, empty or not a
    decodable image. Reads bytes first so non-ASCII paths work (``cv2.imread`` mangles them).
    """
    try:
        data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, f"cannot read image file: {exc.strerror}") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise MatchError(MatchReason.IMAGE_UNREADABLE, "the file is not a decodable image")
    return image


def template_from_image_file(path: Path, settings: MatchSettings | None = None) -> np.ndarray:
    """The reference template (float32 (128,)) of the one usable face in a photo file.

    Uses ``reference_jitters``. Raises :class:`MatchError`: ``image_unreadable``,
    ``no_usable_face`` (``detail`` names the failed gates), ``multiple_faces_found``,
    ``model_missing``. The template is biometric data: the caller stores it encrypted.
    """
    image = read_image(path)
    return shared_matcher(settings).encode(image, reference=True).vector.copy()
