"""The matcher worker process: models preloaded, futures from any thread, clear errors when it dies."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.matching import MatchDecision, MatcherProcess, MatchError, MatchReason


@pytest.fixture(scope="module")
def worker():
    from kiosk.config import load_config

    settings = load_config().match.model_copy(update={"reference_jitters": 0})
    process = MatcherProcess(settings)
    yield process
    process.close()


def test_verify_and_encode_from_several_threads(media_dir: Path, worker: MatcherProcess) -> None:
    live = cv2.imread(str(media_dir / "faces/casia/001/001_0.png"))
    reference = cv2.imread(str(media_dir / "faces/casia/001/001_1.png"))
    other = cv2.imread(str(media_dir / "faces/casia/004/004_0.png"))
    futures: dict[str, object] = {}

    def submit(name: str, refs: list[np.ndarray]) -> None:
        futures[name] = worker.submit_verify([live], refs)

    threads = [threading.Thread(target=submit, args=(n, r)) for n, r in (("same", [reference]), ("other", [other]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    same, other_decision = futures["same"].result(60), futures["other"].result(60)  # type: ignore[attr-defined]
    assert isinstance(same, MatchDecision) and same.matched
    assert not other_decision.matched and other_decision.reason is MatchReason.MISMATCH
    encoding = worker.submit_encode(live).result(60)
    assert encoding.vector.shape == (128,)
    with pytest.raises(MatchError) as info:
        worker.submit_encode(np.zeros((480, 640, 3), np.uint8)).result(60)
    assert info.value.code is MatchReason.NO_USABLE_FACE


def test_missing_models_fail_the_start_and_a_dead_worker_fails_futures(tmp_path: Path) -> None:
    from kiosk.config import load_config

    settings = load_config().match
    with pytest.raises(MatchError) as info:
        MatcherProcess(settings.model_copy(update={"model_dir": str(tmp_path)}))
    assert info.value.code is MatchReason.MODEL_MISSING
    process = MatcherProcess(settings)
    try:
        process._process.kill()  # a crash of the worker (for example out of memory)
        process._process.join(10)
        future = process.submit_encode(np.zeros((480, 640, 3), np.uint8))
        with pytest.raises(MatchError) as info:
            future.result(10)
        assert info.value.code is MatchReason.MATCHER_UNAVAILABLE
        assert not process.alive
    finally:
        process.close()
    process.close()  # idempotent
