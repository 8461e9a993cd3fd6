"""The ONNX file of the descriptor network: where it is cached, how it is named, how it is built.

The ONNX model is derived data: :mod:`camera.matching.onnx_export` writes it from dlib's
``dlib_face_recognition_resnet_model_v1.dat`` (the installed ``face-recognition-models``), offline
and in about 0.2 s. It is never kept in the repository (22 MB of float32 weights that the installed
package already holds); instead:

- ``make`` (the set-up stamp) runs ``scripts/export_face_model.py``, which writes it into the
  per-user cache, ``$XDG_CACHE_HOME/kiosk/models/`` (``~/.cache/kiosk/models/`` when unset);
- ``kiosk.spec`` puts it into the frozen bundle next to the ``.dat`` file it was made from;
- at run time :func:`find` looks next to the ``.dat`` file first (the bundle, or a
  ``match.model_dir``), then in the cache; when neither has it, the caller builds it on first use
  (:func:`build` then :func:`store`), from the weights already installed: no download, ever.

The name carries the first 16 hex digits of the source file's sha256 and :data:`EXPORT_VERSION`
(``dlib_face_recognition_resnet_model_v1.e1.<digest>.onnx``), so another source file or a changed
exporter never picks up a stale file. Files are written to a temporary name and renamed, so a
crash never leaves half a model under the real name.

Thread rule: functions are independent; concurrent :func:`store` calls (several matcher
processes starting at once) write the same bytes and the last rename wins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from camera.matching.onnx_export import EXPORT_VERSION, build_model
from camera.matching.resnet import load_resnet

SOURCE_SHA256_KEY = "source_sha256"  # metadata_props key in the written model


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/kiosk/models`` (``~/.cache/kiosk/models`` when unset); not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kiosk" / "models"


def source_digest(source: Path) -> str:
    """sha256 (hex) of the dlib model file. Raises ``OSError`` when it cannot be read."""
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_name(source: Path, digest: str) -> str:
    """The ONNX file's name for ``source`` with sha256 ``digest``."""
    return f"{Path(source).stem}.e{EXPORT_VERSION}.{digest[:16]}.onnx"


def find(source: Path, digest: str, folders: list[Path]) -> Path | None:
    """The first non-empty ONNX file for ``source`` in ``folders`` (in order), or None."""
    name = file_name(source, digest)
    for folder in folders:
        candidate = Path(folder) / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def build(source: Path, digest: str) -> bytes:
    """The ONNX model of the dlib file ``source`` (whose sha256 is ``digest``), serialised.

    Raises ``OSError`` when the file cannot be read and
    :class:`~camera.matching.resnet.ModelFormatError` when it is not dlib's face ResNet.
    """
    return build_model(load_resnet(source), metadata={"source_file": Path(source).name, SOURCE_SHA256_KEY: digest})


def store(data: bytes, folder: Path, name: str) -> Path:
    """Writes ``data`` as ``folder/name`` atomically (temporary file, fsync, rename); creates the
    folder. Raises ``OSError`` when the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        # mkstemp makes the file private (0600); the model is no secret, and a bundle built by one
        # account is run by another.
        os.chmod(temporary, 0o644)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return folder / name


def export(source: Path, folder: Path | None = None) -> Path:
    """Builds the ONNX file of ``source`` into ``folder`` (default :func:`cache_dir`) unless a file
    of the same name is already there; returns its path. Raises ``OSError`` and
    :class:`~camera.matching.resnet.ModelFormatError` like :func:`build` and :func:`store`."""
    folder = cache_dir() if folder is None else Path(folder)
    digest = source_digest(source)
    existing = find(source, digest, [folder])
    if existing is not None:
        return existing
    return store(build(source, digest), folder, file_name(source, digest))
