"""Fails the set-up early when the environment cannot run the kiosk (run by `make`)."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import sys

problems: list[str] = []



def installed(name: str) -> bool:
    try:
        md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False


for other in ("opencv-python", "opencv-python-headless", "opencv-contrib-python-headless"):
    if installed(other):
        problems.append(f"{other} is installed beside opencv-contrib-python: two cv2 packages overwrite each other")
if sys.version_info[:2] != (3, 11):
    problems.append(f"Python 3.11 is required, this is {sys.version.split()[0]}")
for module in ("cv2", "mediapipe", "dlib", "sqlite_utils", "serial", "PySide6.QtWidgets"):
    try:
        __import__(module)
    except Exception as exc:  # noqa: BLE001 - report every failure, not only ImportError
        problems.append(f"cannot import {module}: {exc}")
try:
    import PySide6.QtMultimedia  # noqa: F401
except Exception as exc:  # noqa: BLE001
    problems.append(f"cannot import PySide6.QtMultimedia ({exc}); is the Debian package libpulse0 installed?")

# face_recognition_models imports pkg_resources at import time; the kiosk only needs its files.
spec = importlib.util.find_spec("face_recognition_models")
if spec is None or not spec.submodule_search_locations:
    problems.append("face-recognition-models is not installed (the dlib model files)")

if problems:
    print("The environment is not ready:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("environment ok")
