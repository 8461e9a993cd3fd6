"""Finding and loading the dlib model files, once per process.

Files come from, in order: ``match.model_dir`` when set; the frozen bundle (``sys._MEIPASS`` /
``face_recognition_models/models``); the installed ``face-recognition-models`` package. That
package cannot be imported (its ``__init__`` needs ``pkg_resources``), so it is located with
:func:`importlib.util.find_spec`, which does not run it.

Nothing is loaded at import time: :func:`load_models` loads on first call (about 0.3 s) and caches
per (process, folder): dlib's detector, 5-point predictor and ResNet (dlib's ResNet computes the
jittered reference descriptors), and the descriptor network that computes every plain descriptor,
the first of these that works:

1. ``cv2.dnn`` from the network's ONNX file (:mod:`camera.matching.dnn_resnet`), found next to the
   ``.dat`` file or in the per-user cache, or built into the cache on first use from the installed
   weights (:mod:`camera.matching.face_model_file`; 0.2 s, offline);
2. the numpy copy (:mod:`camera.matching.resnet`), when OpenCV cannot run the ONNX file;
3. none: dlib's own network, about four times slower, when the ``.dat`` file is not the network
   the parser knows.

Each step down is logged as a warning and shown by ``kiosk doctor``. Loading also limits numpy's
BLAS and OpenCV to one thread in this process: the matcher's parallelism is one process per core,
OpenBLAS threads spinning on a pinned core made the descriptor twice as slow, and the camera loop
needs the other core. Thread rule: the cached objects are shared; dlib's detector and ResNet and a
``cv2.dnn`` net are not thread-safe, so one process uses them from one thread at a time (the
matcher serialises with a lock).

The cache is as trusted as the account that runs the kiosk: on a terminal the bundle's own ONNX
file (next to the ``.dat``, in the read-only install folder) is found first.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from camera.matching import face_model_file
from camera.matching.dnn_resnet import DnnResNet
from camera.matching.errors import MatchError, MatchReason
from camera.matching.resnet import ModelFormatError, load_resnet

log = logging.getLogger(__name__)

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
REQUIRED_FILES = (SHAPE_PREDICTOR_FILE, RESNET_FILE)

_lock = threading.Lock()
_cache: dict[Path, DlibModels] = {}


class DescriptorNet(Protocol):
    """The descriptor network without dlib: a 150x150 RGB uint8 chip -> float32 (128,)."""

    backend: str  # "cv2.dnn" or "numpy", for the doctor and the benchmark

    def descriptor(self, chip_rgb: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DlibModels:
    """The loaded dlib objects (library types: they stay inside :mod:`camera.matching`)."""

    folder: Path
    detector: Any  # dlib.fhog_object_detector
    shape_predictor: Any  # dlib.shape_predictor (5 points)
    resnet: Any  # dlib.face_recognition_model_v1: jittered descriptors, and the fallback
    # The same network run by cv2.dnn or numpy (see the module docstring); None when the file is a
    # dlib network the parser does not recognise: descriptors then come from dlib, slower.
    fast_resnet: DescriptorNet | None


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
        _limit_threads()  # before the first forward pass (the cv2.dnn probe)
        models = DlibModels(folder, detector, shape_predictor, resnet, _fast_resnet(folder / RESNET_FILE))
        _cache[folder] = models
        return models


def _fast_resnet(source: Path) -> DescriptorNet | None:
    """cv2.dnn, else the numpy copy, else None (dlib); see the module docstring."""
    try:
        return _dnn_resnet(source)
    except (ModelFormatError, OSError) as exc:
        log.warning("descriptor network not run by cv2.dnn (%s); trying the numpy copy", exc)
    try:
        return load_resnet(source)
    except (ModelFormatError, OSError) as exc:
        log.warning("descriptor network runs in dlib (about 4x slower): %s", exc)
        return None


def _dnn_resnet(source: Path) -> DnnResNet:
    """``source``'s network in cv2.dnn from the bundled or cached ONNX file, else built now.

    A file that OpenCV cannot read (damaged) is built again. Raises ``OSError`` and
    :class:`ModelFormatError` as :func:`face_model_file.build` and :class:`DnnResNet`.
    """
    digest = face_model_file.source_digest(source)
    cache = face_model_file.cache_dir()
    found = face_model_file.find(source, digest, [source.parent, cache])
    if found is not None:
        try:
            return DnnResNet(found.read_bytes())
        except ModelFormatError as exc:
            log.warning("the descriptor's ONNX file is damaged (%s); building it again", exc)
    data = face_model_file.build(source, digest)
    try:
        face_model_file.store(data, cache, face_model_file.file_name(source, digest))
        log.info("built the descriptor's ONNX file into the per-user cache")
    except OSError as exc:  # a read-only home: run from memory, build again next start (0.2 s)
        log.warning("the descriptor's ONNX file was built but cannot be cached (%s)", exc.strerror or exc)
    return DnnResNet(data)


def _limit_threads() -> None:
    """One BLAS thread and one OpenCV thread for this process (see the module docstring for why)."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)
