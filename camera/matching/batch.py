"""Encoding many image files on every core (``kiosk verify --pairs``, ``kiosk faces evaluate``).

Each worker process loads the models once (pool initializer) and encodes files by path, so images
never cross the pipe; only templates and reason codes come back. Each distinct path is encoded
once per call (the caller's cache). Not for the kiosk's live loop: use ``MatcherProcess`` there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.settings import MatchSettings


@dataclass(frozen=True)
class FileEncoding:
    """The result for one file: a template, or the reason there is none.

    ``faces_found`` counts HOG detections; ``issues`` names failed quality gates (then ``vector``
    is None and ``error`` is ``no_usable_face``).
    """

    path: str
    vector: np.ndarray | None
    error: str | None
    detail: str = ""
    faces_found: int = 0
    sharpness: float = float("nan")


_worker_matcher = None


def _init_worker(settings_json: str) -> None:
    global _worker_matcher  # noqa: PLW0603 - one matcher per worker process
    from camera.matching.matcher import FaceMatcher  # noqa: PLC0415

    _worker_matcher = FaceMatcher(MatchSettings.model_validate_json(settings_json))


def encode_file(path: str, matcher=None, reference: bool = False,  # noqa: ANN001
                parts: tuple[str, ...] | None = None) -> FileEncoding:
    """Encodes one file with ``matcher`` (default: this worker's); never raises for a bad image.

    ``parts``: the descriptors to compute (default: as ``FaceMatcher.encode`` chooses).
    """
    from camera.matching.templates import read_image  # noqa: PLC0415

    matcher = matcher or _worker_matcher
    try:
        image = read_image(Path(path))
        encoding = matcher.encode(image, reference=reference, parts=parts)
    except MatchError as exc:
        return FileEncoding(path, None, exc.code.value, exc.detail)
    return FileEncoding(path, encoding.vector, None, "", encoding.faces_found, encoding.quality.sharpness)


def _encode_reference(path: str) -> FileEncoding:
    return encode_file(path, reference=True)


def _encode_live_every_model(path: str) -> FileEncoding:
    return encode_file(path, reference=False, parts=("sface", "dlib"))


def encode_files(paths: Iterable[str], settings: MatchSettings, *, workers: int | None = None, reference: bool = False,
                 progress: Callable[[int, int], None] | None = None, every_model: bool = False) -> dict[str, FileEncoding]:
    """Encodes each distinct path once on ``workers`` processes (default: every core).

    ``every_model``: live encodings with every descriptor loaded (for ``kiosk faces evaluate``;
    references always get every descriptor).

    Raises :class:`MatchError` ``model_missing`` when the models cannot be loaded (checked in this
    process first, so the message is clear rather than a broken pool).
    """
    from camera.matching.models import load_models  # noqa: PLC0415

    load_models(settings.model_dir)
    unique = list(dict.fromkeys(paths))
    workers = max(1, min(workers or os.cpu_count() or 1, len(unique) or 1))
    results: dict[str, FileEncoding] = {}
    if workers == 1:
        from camera.matching.matcher import FaceMatcher  # noqa: PLC0415

        matcher = FaceMatcher(settings)
        parts = ("sface", "dlib") if every_model and not reference else None
        for done, path in enumerate(unique, start=1):
            results[path] = encode_file(path, matcher, reference, parts)
            if progress:
                progress(done, len(unique))
        return results
    try:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(settings.model_dump_json(),)) as pool:
            function = _encode_reference if reference else (_encode_live_every_model if every_model else encode_file)
            for done, result in enumerate(pool.map(function, unique, chunksize=4), start=1):
                results[result.path] = result
                if progress:
                    progress(done, len(unique))
    except Exception as exc:  # noqa: BLE001 - a dead pool (killed worker) becomes one clear error
        if isinstance(exc, MatchError):
            raise
        raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"encoder pool failed: {type(exc).__name__}") from exc
    return results
