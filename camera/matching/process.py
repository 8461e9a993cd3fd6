"""The matcher in its own process, models preloaded: one 1:1 is ~35 ms of CPU, much of it under the GIL.

In a thread of the UI process that starves the 30 fps camera loop (platform notes: 20-24 fps);
in a process it costs the loop nothing. :class:`MatcherProcess` is started once at application
start (model loading happens in the child before :meth:`MatcherProcess.start` returns) and serves
requests one at a time in submission order.

Thread rule: every public method may be called from any thread; results come back as
:class:`concurrent.futures.Future` objects completed on a private reader thread (a Qt caller
forwards them to the GUI thread with a signal). Images and templates cross the pipe pickled;
they are never written to disk or logged.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from concurrent.futures import Future
from itertools import count
from typing import Any

import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.settings import MatchSettings

log = logging.getLogger(__name__)

_STOP = None


def _serve(settings_json: str, requests: Any, replies: Any) -> None:
    """Child main: load models, report ready, then answer (id, op, args) requests until _STOP."""
    from camera.matching.matcher import FaceMatcher  # noqa: PLC0415 - child-side import

    try:
        matcher = FaceMatcher(MatchSettings.model_validate_json(settings_json))
    except MatchError as exc:
        replies.send((0, False, exc))
        return
    except Exception as exc:  # noqa: BLE001 - any start failure is reported, not swallowed
        replies.send((0, False, MatchError(MatchReason.MATCHER_UNAVAILABLE, f"{type(exc).__name__}: {exc}")))
        return
    replies.send((0, True, None))
    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            return
        if message is _STOP:
            return
        request_id, op, args = message
        try:
            if op == "verify":
                result: Any = matcher.verify(*args)
            elif op == "encode":
                image, box, reference = args
                result = matcher.encode(image, box, reference=reference)
            else:
                raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"unknown request {op!r}")
            replies.send((request_id, True, result))
        except MatchError as exc:
            replies.send((request_id, False, exc))
        except Exception as exc:  # noqa: BLE001 - one bad request must not kill the worker
            log.warning("matcher worker: %s in %s", type(exc).__name__, op)
            replies.send((request_id, False, MatchError(MatchReason.MATCHER_UNAVAILABLE, f"{type(exc).__name__} in {op}")))


class MatcherProcess:
    """A worker process holding one :class:`~camera.matching.matcher.FaceMatcher`.

    Raises :class:`MatchError` from the constructor when the models cannot be loaded
    (``model_missing``) or the process cannot start (``matcher_unavailable``); ``start_timeout_s``
    bounds the wait for the child to load its models. After the child dies, every pending and new
    future fails with ``matcher_unavailable``.
    """

    def __init__(self, settings: MatchSettings, *, start_timeout_s: float = 60.0) -> None:
        # spawn, not fork: the parent may already run Qt and camera threads, which fork would copy
        # in a half-locked state.
        context = mp.get_context("spawn")
        self._requests, child_requests = context.Pipe(duplex=False)[::-1]
        child_replies, self._replies = context.Pipe(duplex=False)[::-1]
        self._process = context.Process(target=_serve, args=(settings.model_dump_json(), child_requests, child_replies),
                                        name="kiosk-matcher", daemon=True)
        self._process.start()
        child_requests.close()
        child_replies.close()
        self._ids = count(1)
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._closed = False
        if not self._replies.poll(start_timeout_s):
            self._process.kill()
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"matcher process not ready after {start_timeout_s} s")
        try:
            _, ok, error = self._replies.recv()
        except EOFError as exc:
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, "matcher process exited while starting") from exc
        if not ok:
            self._process.join(5)
            raise error
        self._reader = threading.Thread(target=self._read_replies, name="matcher-replies", daemon=True)
        self._reader.start()

    def _submit(self, op: str, args: tuple) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed or not self._process.is_alive():
                future.set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE, "matcher process is not running"))
                return future
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                self._requests.send((request_id, op, args))
            except (OSError, ValueError) as exc:
                self._pending.pop(request_id)
                future.set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE, f"matcher pipe broken: {exc}"))
        return future

    def submit_verify(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> Future:
        """Queues :meth:`FaceMatcher.verify`; the future gives a MatchDecision or raises MatchError."""
        return self._submit("verify", (list(live_frames), list(references)))

    def submit_encode(self, image_bgr: np.ndarray, face_box: tuple[int, int, int, int] | None = None, *,
                      reference: bool = True) -> Future:
        """Queues :meth:`FaceMatcher.encode`; the future gives a FaceEncoding or raises MatchError.

        By default the image is encoded as a reference (staff-assisted enrolment: with
        ``match.reference_jitters``, about 0.7 s); ``reference=False`` encodes it as a live frame.
        """
        return self._submit("encode", (image_bgr, face_box, reference))

    def _read_replies(self) -> None:
        while True:
            try:
                request_id, ok, value = self._replies.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._pending.pop(request_id, None)
            if future is None:
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._fail_pending("matcher process ended")

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE, why))

    @property
    def alive(self) -> bool:
        """True while the worker process runs."""
        return self._process.is_alive()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stops the worker (pending requests finish first, up to ``timeout_s``); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._requests.send(_STOP)
            except (OSError, ValueError):
                pass
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(1)
        self._reader.join(1)
        self._fail_pending("matcher process closed")

    def __enter__(self) -> MatcherProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
