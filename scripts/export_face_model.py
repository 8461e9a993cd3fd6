#!/usr/bin/env python3
"""Writes dlib's face-recognition ResNet as an ONNX file for cv2.dnn (run by `make` at set-up).

Reads ``dlib_face_recognition_resnet_model_v1.dat`` from the model folder the matcher uses
(``--model-dir``, else the installed face-recognition-models) and writes
``dlib_face_recognition_resnet_model_v1.e<N>.<sha256[:16]>.onnx`` into ``--out`` (default: the
per-user cache, ``$XDG_CACHE_HOME/kiosk/models``), unless that file is already there. Prints the
file's path. Offline: nothing is downloaded; the weights are the installed ones.

Usage: .venv/bin/python scripts/export_face_model.py [--model-dir DIR] [--out DIR] [--force]
Exit status: 0 written or already there, 1 the source file is missing or not that network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from camera.matching import face_model_file  # noqa: E402
from camera.matching.errors import MatchError  # noqa: E402
from camera.matching.models import RESNET_FILE, model_folder  # noqa: E402
from camera.matching.resnet import ModelFormatError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="", help="folder of the dlib .dat files (default: installed package)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {face_model_file.cache_dir()})")
    parser.add_argument("--force", action="store_true", help="write the file even when it is already there")
    args = parser.parse_args(argv)
    try:
        source = model_folder(args.model_dir) / RESNET_FILE
        folder = args.out or face_model_file.cache_dir()
        if args.force:
            digest = face_model_file.source_digest(source)
            path = face_model_file.store(face_model_file.build(source, digest), folder,
                                         face_model_file.file_name(source, digest))
        else:
            path = face_model_file.export(source, folder)
    except (MatchError, ModelFormatError, OSError) as exc:
        print(f"export_face_model: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
