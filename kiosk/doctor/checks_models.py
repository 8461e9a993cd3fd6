"""Doctor check of the face-matching models: the dlib files are present and load.

Loads the models the way the matcher does (``match.model_dir``, the frozen bundle or the installed
``face-recognition-models``): dlib parses the shape predictor and the ResNet file, so a truncated
file shows up here rather than at a pensioner's first certification. Then runs the HOG detector once
on a blank image; nothing is encoded. Reports folders and sizes only. A ResNet file that dlib loads
but :mod:`camera.matching.resnet` does not recognise is a warning: matching works, through dlib's
own network, about four times slower (1:1 above its 80 ms budget).
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
    return CheckResult(Status.OK, f"dlib models in {folder}: {sizes}; descriptor: numpy copy of the ResNet")


# Isolated: loading the models loads dlib, which the kiosk's GUI process must never hold.
CHECKS: list[Check] = [Check("face models", check_face_models, required=True, order=40, isolated=True)]
