"""1:1 matching for a battery-powered laptop (home visits, issue 19): the face models are loaded only
while a session needs them.

:class:`OnDemandMatcher` is a :class:`~kiosk.ports.MatcherPort` that starts the matcher worker
process (dlib and its models, about 100 MB and a second to load) for the first match or encoding
and ends it again once nothing has used it for ``release_after_s``: between two homes the laptop
keeps no model in memory and no core busy. The hall terminal keeps its worker running
(:class:`~kiosk.devices.matcher_adapter.MatcherAdapter`): there a match must not wait for loading.

Thread rules: :meth:`verify`, :meth:`encode`, :meth:`release_if_idle` and :meth:`close` may be
called from any thread; a daemon thread checks for idleness every ``check_every_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from camera.settings import MatchSettings
from kiosk.ports import MatchOutcome

log = logging.getLogger(__name__)

RELEASE_AFTER_S = 60.0
"""The worker ends after this long without a match or an encoding (seconds): longer than the
time between two attempts of one person, far shorter than the way to the next home."""


class OnDemandMatcher:
    """See the module docstring. ``factory`` makes the real adapter (tests pass a fake);
    ``monotonic`` is the clock of idleness (seconds)."""

    def __init__(self, settings: MatchSettings, *, release_after_s: float = RELEASE_AFTER_S,
                 check_every_s: float = 5.0, factory: Callable[[MatchSettings], Any] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if factory is None:
            from kiosk.devices.matcher_adapter import MatcherAdapter  # noqa: PLC0415 - loads camera.matching

            factory = MatcherAdapter
        self._settings = settings
        self._factory = factory
        self._release_after_s = release_after_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._adapter: Any = None
        self._busy = 0
        self._last_used = monotonic()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        if check_every_s > 0:
            self._watcher = threading.Thread(target=self._watch, args=(check_every_s,), name="matcher-release",
                                             daemon=True)
            self._watcher.start()

    @property
    def loaded(self) -> bool:
        """True while the worker process (and its models) is running."""
        with self._lock:
            return self._adapter is not None

    def verify(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> Future[MatchOutcome]:
        return self._use(lambda adapter: adapter.verify(live_frames, references))

    def encode(self, image_bgr: np.ndarray) -> Future:
        return self._use(lambda adapter: adapter.encode(image_bgr))

    def release_if_idle(self) -> bool:
        """Ends the worker when nothing used it for ``release_after_s`` and nothing is pending;
        True when it was ended now."""
        with self._lock:
            idle = self._monotonic() - self._last_used >= self._release_after_s
            if self._adapter is None or self._busy or not idle:
                return False
            adapter, self._adapter = self._adapter, None
        adapter.close()
        log.info("matcher released (idle)")
        return True

    def close(self) -> None:
        """Ends the worker and the idle watcher (idempotent)."""
        self._closed.set()
        with self._lock:
            adapter, self._adapter = self._adapter, None
        if adapter is not None:
            adapter.close()

    def _use(self, call: Callable[[Any], Future]) -> Future:
        with self._lock:
            if self._adapter is None:
                log.info("matcher loading for a session")
                self._adapter = self._factory(self._settings)
            self._busy += 1
            adapter = self._adapter
        try:
            future = call(adapter)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future | None) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = self._monotonic()

    def _watch(self, every_s: float) -> None:
        while not self._closed.wait(every_s):
            self.release_if_idle()
