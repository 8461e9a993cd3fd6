"""The matcher worker process: models preloaded, futures from any thread, clear errors when it dies."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
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
    assert encoding.vector.shape in ((128,), (256,))  # dlib alone, or dlib and/or SFace parts
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
        assert process.alive and process.pid in {child.pid for child in mp.active_children()}
        _kill(process)  # a crash of the worker (for example out of memory)
        future = process.submit_encode(np.zeros((480, 640, 3), np.uint8))
        with pytest.raises(MatchError) as info:
            future.result(10)
        assert info.value.code is MatchReason.MATCHER_UNAVAILABLE
        assert not process.alive
    finally:
        process.close()
    process.close()  # idempotent


def _kill(process: MatcherProcess) -> None:
    os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.pid in {child.pid for child in mp.active_children()} and time.monotonic() < deadline:
        time.sleep(0.05)


def test_requests_pending_when_the_worker_dies_fail_as_unavailable(media_dir: Path) -> None:
    from kiosk.config import load_config

    frame = cv2.imread(str(media_dir / "faces/casia/001/001_0.png"))
    process = MatcherProcess(load_config().match)  # 10 reference jitters: each encode is slow
    try:
        futures = [process.submit_encode(frame) for _ in range(4)]
        _kill(process)
        for future in futures:
            with pytest.raises(MatchError) as info:
                future.result(30)
            assert info.value.code is MatchReason.MATCHER_UNAVAILABLE
        assert not process.alive
    finally:
        process.close()


def test_a_bad_request_does_not_end_the_worker(worker: MatcherProcess) -> None:
    with pytest.raises(MatchError) as info:
        worker._submit("bogus", ()).result(30)
    assert info.value.code is MatchReason.MATCHER_UNAVAILABLE and "unknown request" in info.value.message
    with pytest.raises(MatchError) as info:
        worker._submit("verify", (lambda: None,)).result(30)  # cannot cross the pipe
    assert info.value.code is MatchReason.MATCHER_UNAVAILABLE
    assert worker.alive
    decision = worker.submit_verify([np.zeros((480, 640, 3), np.uint8)], [np.full(128, 0.1, np.float32)]).result(30)
    assert decision.reason is MatchReason.NO_USABLE_FACE


def test_close_lets_queued_requests_finish_and_then_refuses(media_dir: Path) -> None:
    from kiosk.config import load_config

    frame = cv2.imread(str(media_dir / "faces/casia/001/001_0.png"))
    process = MatcherProcess(load_config().match.model_copy(update={"reference_jitters": 0}))
    futures = [process.submit_encode(frame) for _ in range(3)]
    process.close(timeout_s=60)
    assert all(future.result(0).vector.shape in ((128,), (256,)) for future in futures)
    assert not process.alive
    with pytest.raises(MatchError) as info:
        process.submit_encode(frame).result(0)
    assert info.value.code is MatchReason.MATCHER_UNAVAILABLE


def test_a_start_that_takes_too_long_is_unavailable() -> None:
    from kiosk.config import load_config

    started = time.monotonic()
    with pytest.raises(MatchError) as info:
        MatcherProcess(load_config().match, start_timeout_s=0.05)
    assert info.value.code is MatchReason.MATCHER_UNAVAILABLE and "not ready" in info.value.message
    assert time.monotonic() - started < 10  # does not wait for the models it gave up on
