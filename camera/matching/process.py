"""The matcher in its own process, models preloaded: one 1:1 is ~20-35 ms of CPU, much of it under the GIL.

In a thread of the UI process that starves the 30 fps camera loop (platform notes: 20-24 fps);
in a process it costs the loop nothing. :class:`MatcherProcess` is started once at application
start (model loading happens in the child before the constructor returns) and serves requests one
at a time in submission order.

The process is the standard library's :class:`~concurrent.futures.ProcessPoolExecutor` with one
worker: the spawn start method (the parent may already run Qt and camera threads, which fork
would copy in a half-locked state), and an initializer that loads the models once. The
initializer never raises: a load failure is kept in the worker and raised by every task, so the
parent sees its reason code (``model_missing``) instead of the bare ``BrokenProcessPool`` a failed
initializer gives. A worker that dies (killed, out of memory, a crash in native code) breaks the
pool: every pending and later future fails with ``matcher_unavailable``; the pool is not
restarted here (the kiosk decides whether to start a new one).

Thread rule: every public method may be called from any thread; results come back as
:class:`concurrent.futures.Future` objects completed on the pool's own management thread (a Qt
caller forwards them to the GUI thread with a signal; callbacks must not block). Images and
templates cross to the worker pickled; they are never written to disk or logged.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.settings import MatchSettings

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ worker side (the child process)
_matcher: Any = None  # the worker's FaceMatcher, set by _load_models
_start_error: MatchError | None = None


def _load_models(settings_json: str, worker_pid: Any) -> None:
    """Pool initializer, in the worker: publishes its pid, then loads the models (see the module
    docstring for why it never raises)."""
    global _matcher, _start_error  # noqa: PLW0603 - one matcher per worker process, by design
    worker_pid.value = os.getpid()
    try:
        from camera.matching.matcher import FaceMatcher  # noqa: PLC0415 - child-side import

        _matcher = FaceMatcher(MatchSettings.model_validate_json(settings_json))
    except MatchError as exc:
        _start_error = exc
    except Exception as exc:  # noqa: BLE001 - any start failure is reported, not swallowed
        _start_error = MatchError(MatchReason.MATCHER_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def _ready() -> int:
    """The first task: the worker's pid once its models are loaded, or the load's MatchError."""
    if _start_error is not None:
        raise _start_error
    return os.getpid()


def _run(op: str, args: tuple) -> Any:
    """One request in the worker. Raises MatchError only: one bad request must not kill the worker."""
    if _start_error is not None:
        raise _start_error
    try:
        if op == "verify":
            return _matcher.verify(*args)
        if op == "encode":
            image, box, reference = args
            return _matcher.encode(image, box, reference=reference)
        raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"unknown request {op!r}")
    except MatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a reason code; the message has no personal data
        log.warning("matcher worker: %s in %s", type(exc).__name__, op)
        raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"{type(exc).__name__} in {op}") from None


# ------------------------------------------------------------------ parent side
class MatcherProcess:
    """A worker process holding one :class:`~camera.matching.matcher.FaceMatcher`.

    Raises :class:`MatchError` from the constructor when the models cannot be loaded
    (``model_missing``) or the process cannot start (``matcher_unavailable``); ``start_timeout_s``
    bounds the wait for the child to load its models. After the child dies, every pending and new
    future fails with ``matcher_unavailable``.
    """

    def __init__(self, settings: MatchSettings, *, start_timeout_s: float = 60.0) -> None:
        context = mp.get_context("spawn")
        # The worker's pid, written by the initializer before it loads anything: close() and a
        # start time-out can then stop a worker that never answers.
        self._worker_pid = context.RawValue("q", 0)
        self._executor = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_load_models,
                                             initargs=(settings.model_dump_json(), self._worker_pid))
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._closed = False
        self._broken = False
        try:
            self._executor.submit(_ready).result(timeout=start_timeout_s)
        except TimeoutError as exc:
            self._stop(kill=True)
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"matcher process not ready after {start_timeout_s} s") from exc
        except MatchError:
            self._stop(kill=False)
            raise
        except (BrokenProcessPool, OSError) as exc:
            self._stop(kill=True)
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, f"matcher process exited while starting: {exc}") from exc

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

    @property
    def alive(self) -> bool:
        """True while the worker process runs and takes requests."""
        return not self._closed and not self._broken and self._worker() is not None

    @property
    def pid(self) -> int:
        """The worker process's id (0 before it started); for logs and the watchdog."""
        return int(self._worker_pid.value)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stops the worker (pending requests finish first, up to ``timeout_s``); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
        self._executor.shutdown(wait=False)  # takes no new work; what is queued still runs
        _finished, late = wait(pending, timeout_s)
        self._stop(kill=bool(late))
        for future in late:
            _settle_error(future, "matcher process closed")

    def __enter__(self) -> MatcherProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- internals
    def _submit(self, op: str, args: tuple) -> Future:
        outer: Future = Future()
        with self._lock:
            if self._closed:
                outer.set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE, "matcher process is closed"))
                return outer
            try:
                inner = self._executor.submit(_run, op, args)
            except (BrokenProcessPool, RuntimeError) as exc:  # broken, or shut down by the interpreter's exit
                self._broken = True
                outer.set_exception(MatchError(MatchReason.MATCHER_UNAVAILABLE,
                                               f"matcher process is not running ({type(exc).__name__})"))
                return outer
            self._pending.add(outer)
        inner.add_done_callback(lambda done: self._settle(outer, done))
        return outer

    def _settle(self, outer: Future, inner: Future) -> None:
        """Copies the worker's outcome to the caller's future, as a MatchError when it failed."""
        with self._lock:
            self._pending.discard(outer)
        if inner.cancelled():
            _settle_error(outer, "matcher process closed")
            return
        error = inner.exception()
        if error is None:
            try:
                outer.set_result(inner.result())
            except InvalidStateError:  # the caller cancelled it
                pass
        elif isinstance(error, MatchError):
            _settle_error(outer, error)
        elif isinstance(error, BrokenProcessPool):
            self._broken = True
            _settle_error(outer, "matcher process ended")
        else:  # for example an argument that cannot be pickled
            _settle_error(outer, f"{type(error).__name__} in the matcher process")

    def _worker(self) -> Any:
        """The live worker process object, or None. ``active_children`` only lists children that
        have not ended (it reaps those that have), so a pid found there cannot be a reused one."""
        pid = self._worker_pid.value
        return next((child for child in mp.active_children() if child.pid == pid), None) if pid else None

    def _stop(self, *, kill: bool) -> None:
        """Shuts the pool down, killing the worker first when it cannot be waited for."""
        if kill:
            worker = self._worker()
            if worker is None:
                # Not started far enough to publish its pid (a start time-out): do not wait for
                # it; it finds the pool shut down after its current task and exits.
                self._executor.shutdown(wait=False, cancel_futures=True)
                return
            worker.kill()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _settle_error(future: Future, error: MatchError | str) -> None:
    """Fails ``future`` with ``error`` (a message means ``matcher_unavailable``) unless it is done."""
    if isinstance(error, str):
        error = MatchError(MatchReason.MATCHER_UNAVAILABLE, error)
    try:
        future.set_exception(error)
    except InvalidStateError:  # already settled or cancelled by the caller
        pass
