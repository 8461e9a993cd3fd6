"""Finding and loading the dlib model files, once per process.

Files come from, in order: ``match.model_dir`` when set; the frozen bundle (``sys._MEIPASS`` /
``face_recognition_models/models``); the installed ``face-recognition-models`` package. That
package cannot be imported (its ``__init__`` needs ``pkg_resources``), so it is located with
:func:`importlib.util.find_spec`, which does not run it.

Nothing is loaded at import time: :func:`load_models` loads on first call (about 0.2 s for the
detector, the 5-point predictor and the ResNet, read twice: by dlib, and by
:mod:`camera.matching.resnet`, which runs the same network about four times faster) and caches per
(process, folder). Loading also limits numpy's BLAS to one thread in this process: the matcher's
parallelism is one process per core, and OpenBLAS threads spinning on a pinned core made the
descriptor twice as slow. Thread rule: the cached objects are shared; dlib's detector and ResNet
are not documented as thread-safe, so one process uses them from one thread at a time (the matcher
serialises with a lock).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camera.matching.errors import MatchError, MatchReason
from camera.matching.resnet import ModelFormatError, ResNet, load_resnet

log = logging.getLogger(__name__)

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
REQUIRED_FILES = (SHAPE_PREDICTOR_FILE, RESNET_FILE)

_lock = threading.Lock()
_cache: dict[Path, DlibModels] = {}


@dataclass(frozen=True)
class DlibModels:
    """The loaded dlib objects (library types: they stay inside :mod:`camera.matching`)."""

    folder: Path
    detector: Any  # dlib.fhog_object_detector
    shape_predictor: Any  # dlib.shape_predictor (5 points)
    resnet: Any  # dlib.face_recognition_model_v1: jittered descriptors, and the fallback
    # The same network run with numpy (camera.matching.resnet); None when the file is a dlib
    # network that module does not recognise: descriptors then come from dlib, slower.
    fast_resnet: ResNet | None


def _package_folder() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_folder(model_dir: str = "") -> Path:
    """The folder the model files are read from (see the module docstring for the order).

    Raises :class:`MatchError` ``model_missing`` when no candidate folder exists; the files
    themselves are checked by :func:`missing_files`.
    """
    if model_dir:
        folder = Path(model_dir).expanduser()
        if not folder.is_dir():
            raise MatchError(MatchReason.MODEL_MISSING, f"match.model_dir {folder} is not a folder")
        return folder
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and (Path(frozen) / "face_recognition_models" / "models").is_dir():
        return Path(frozen) / "face_recognition_models" / "models"
    folder = _package_folder()
    if folder is None or not folder.is_dir():
        raise MatchError(
            MatchReason.MODEL_MISSING,
            "dlib model files not found: install face-recognition-models or set match.model_dir",
        )
    return folder


def missing_files(folder: Path) -> list[str]:
    """Names of required model files absent (or empty) in ``folder``."""
    return [name for name in REQUIRED_FILES if not (folder / name).is_file() or (folder / name).stat().st_size == 0]


def load_models(model_dir: str = "") -> DlibModels:
    """Loads (once per process and folder) the HOG detector, 5-point predictor and ResNet.

    Raises :class:`MatchError` ``model_missing`` naming the missing or corrupt file.
    """
    folder = model_folder(model_dir).resolve()
    with _lock:
        cached = _cache.get(folder)
        if cached is not None:
            return cached
        missing = missing_files(folder)
        if missing:
            raise MatchError(MatchReason.MODEL_MISSING, f"dlib model file(s) missing in {folder}: {', '.join(missing)}")
        import dlib  # noqa: PLC0415 - imported on first use so importing camera.matching stays cheap

        try:
            detector = dlib.get_frontal_face_detector()
            shape_predictor = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR_FILE))
            resnet = dlib.face_recognition_model_v1(str(folder / RESNET_FILE))
        except RuntimeError as exc:  # dlib raises RuntimeError on a truncated or foreign file
            raise MatchError(MatchReason.MODEL_MISSING, f"dlib model file in {folder} cannot be loaded: {exc}") from exc
        models = DlibModels(folder, detector, shape_predictor, resnet, _fast_resnet(folder / RESNET_FILE))
        _limit_blas_threads()
        _cache[folder] = models
        return models


def _fast_resnet(path: Path) -> ResNet | None:
    """The numpy copy of the descriptor network, or None (with a warning) when it cannot be read."""
    try:
        return load_resnet(path)
    except (ModelFormatError, OSError) as exc:
        log.warning("descriptor network runs in dlib (about 4x slower): %s", exc)
        return None


def _limit_blas_threads() -> None:
    """One BLAS thread for this process (see the module docstring for why)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
