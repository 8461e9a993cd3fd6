"""The background sync worker: its own thread, its own database connection, backoff and status.

The kiosk application creates one :class:`SyncWorker`, calls :meth:`~SyncWorker.start` at start-up
and :meth:`~SyncWorker.stop` at exit. Rounds run every ``sync.interval_s`` while all is well; after a
failure the wait grows exponentially (2 s, 4 s, 8 s ... up to ``sync.max_backoff_s``) with jitter
(each wait drawn from 50-100 % of the step, so a hall full of terminals does not hammer the centre in
step after an outage). While the centre is unreachable the wait never exceeds ``sync.interval_s``:
those rounds are a single probe request. :meth:`~SyncWorker.notify_network_changed` (the UI forwards Qt's network
information; ``kiosk/`` never imports Qt) cuts a backoff short when the network returns; without it
the worker notices through its own cheap probe (``GET /v1/ping``) at the next round.

Thread rules: every public method may be called from any thread (the UI thread included) and never
blocks on the network; the store and the HTTP client live only in the worker thread.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import httpx

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError, SyncError
from kiosk.store import Store
from kiosk.sync.client import CentreClient
from kiosk.sync.credentials import Credentials, load_credentials
from kiosk.sync.engine import SyncRound
from kiosk.reasons import SyncReason
from kiosk.sync.status import SyncReport, SyncStatus, load_state, save_state

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
StoreFactory = Callable[[], Store]


def backoff_delay(failures: int, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` consecutive failed rounds (>= 1): capped, with jitter."""
    step = min(cap_s, BACKOFF_BASE_S * 2 ** min(max(failures, 1) - 1, 40))
    return step * rng.uniform(0.5, 1.0)


class SyncWorker:
    """Drains the outbox and pulls the roster in the background.

    ``health`` (optional) returns the latest doctor findings as check name -> ok/warning/failed for
    the heartbeat; it is called in the worker thread and must not block (return a cached result).
    ``transport`` (an httpx transport) and ``store_factory`` are for tests; by default the worker
    opens the store from the configuration in its own thread.
    """

    def __init__(self, config: KioskConfig, clock: Clock, *, store_factory: StoreFactory | None = None,
                 transport: httpx.BaseTransport | None = None, rng: random.Random | None = None,
                 health: Callable[[], Mapping[str, str]] | None = None) -> None:
        self._config = config
        self._clock = clock
        self._data_dir: Path = config.terminal.resolved_data_dir()
        self._store_factory = store_factory or (lambda: Store.from_config(config, clock))
        self._transport = transport
        self._rng = rng or random.Random()
        self._health = health
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # One round at a time: a technician's "sync now" (run_once in another thread) waits for the
        # background round instead of sending the same records twice in parallel.
        self._round_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._network_online: bool | None = None
        self._status = replace(load_state(self._data_dir), enrolled=self._enrolled())

    # -- public API (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        """Starts the worker thread (a second call while running does nothing)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="kiosk-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Asks the thread to finish its current request and joins it (idempotent).

        ``timeout_s`` defaults to the request timeout plus 5 s: a round stops between requests.
        """
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(self._config.sync.request_timeout_s + 5.0 if timeout_s is None else timeout_s)
            if thread.is_alive():
                log.warning("sync worker did not stop in time")

    def sync_now(self) -> None:
        """Starts a round as soon as possible (also cutting a backoff short)."""
        self._wake.set()

    def notify_network_changed(self, online: bool) -> None:
        """The operating system says the network went up or down (from Qt in ``ui/``).

        Going online resets the backoff and syncs at once; going offline only marks the status
        (the worker keeps probing at the normal interval, since the OS can be wrong).
        """
        with self._lock:
            self._network_online = online
            if online:
                self._failures = 0
            else:
                self._status = replace(self._status, online=False)
        if online:
            self._wake.set()

    def status(self) -> SyncStatus:
        """The latest snapshot (never blocks on the network or the database)."""
        with self._lock:
            return self._status

    def run_once(self, store: Store | None = None) -> SyncReport:
        """Runs one round in the calling thread (``kiosk sync --once``, the technician's "sync now");
        returns its report. Blocks on the network: never call it from the UI thread. Waits for a
        background round in progress rather than running beside it.

        Opens (and closes) its own store unless one is given. Never raises for centre or storage
        problems: they become the report's ``error``.
        """
        credentials = self._credentials_or_error()
        if isinstance(credentials, SyncReport):
            return credentials
        own = store is None
        try:
            store = store or self._store_factory()
        except KioskError as exc:
            return self._finish(SyncReport(error=exc.code, error_message=exc.message), reached=False)
        try:
            client = self._client(credentials)
        except SyncError as exc:
            if own:
                store.close()
            return self._finish(SyncReport(error=exc.code, error_message=exc.message), reached=False)
        try:
            return self._round(store, client, credentials)
        finally:
            client.close()
            if own:
                store.close()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        store: Store | None = None
        client: CentreClient | None = None
        client_for: Credentials | None = None
        try:
            while not self._stopping.is_set():
                report: SyncReport
                credentials = self._credentials_or_error()
                if isinstance(credentials, SyncReport):
                    report = credentials
                else:
                    try:
                        store = store or self._store_factory()
                        if client is None or client_for != credentials:
                            if client is not None:
                                client.close()
                            client, client_for = self._client(credentials), credentials
                        report = self._round(store, client, credentials)
                    except KioskError as exc:
                        report = self._finish(SyncReport(error=exc.code, error_message=exc.message),
                                              reached=False)
                    except Exception as exc:  # noqa: BLE001 - a bug must not end syncing for good
                        log.exception("sync round failed unexpectedly")
                        report = self._finish(SyncReport(error=SyncReason.INTERNAL_ERROR,
                                                         error_message=f"{type(exc).__name__} (see the log)"),
                                              reached=False)
                self._wake.wait(self._next_delay(report))
                self._wake.clear()
        finally:
            if client is not None:
                client.close()
            if store is not None:
                store.close()

    def _client(self, credentials: Credentials) -> CentreClient:
        """A client for these credentials; raises SyncError for an unusable ``sync.ca_file``."""
        return CentreClient(credentials, self._clock, self._config.sync.request_timeout_s, self._transport,
                            self._config.sync.ca_file)

    def _round(self, store: Store, client: CentreClient, credentials: Credentials) -> SyncReport:
        with self._round_lock:
            return self._round_locked(store, client, credentials)

    def _round_locked(self, store: Store, client: CentreClient, credentials: Credentials) -> SyncReport:
        with self._lock:
            probe = self._network_online is False or self._status.online is False
        report = SyncRound(self._config, self._clock, store, client, credentials, data_dir=self._data_dir,
                           probe_first=probe, stop_requested=self._stopping.is_set, health=self._health).run()
        return self._finish(report)

    def _next_delay(self, report: SyncReport) -> float:
        """Seconds until the next round after ``report`` (also counts consecutive failures)."""
        sync = self._config.sync
        with self._lock:
            if report.error is None:
                self._failures = 0
                return sync.interval_s
            self._failures += 1
            failures = self._failures
        delay = backoff_delay(failures, sync.max_backoff_s, self._rng)
        if report.error == SyncReason.CENTER_UNREACHABLE:
            # The next round opens with the one-request probe, so probing every interval costs the
            # centre nothing and finds a returned network within interval_s even when the UI cannot
            # tell (no Qt network information): the long backoff is for a centre that answers badly.
            delay = min(delay, sync.interval_s * self._rng.uniform(0.5, 1.0))
        return delay

    def _credentials_or_error(self) -> Credentials | SyncReport:
        try:
            credentials = load_credentials(self._data_dir)
        except SyncError as exc:
            return self._finish(SyncReport(error=exc.code, error_message=exc.message), enrolled=False,
                                reached=False)
        if credentials is None:
            return self._finish(SyncReport(error=SyncReason.NOT_ENROLLED, error_message="this terminal is not "
                                           "enrolled with a centre: run `kiosk enroll-device`"),
                                enrolled=False, reached=False)
        return credentials

    def _enrolled(self) -> bool:
        try:
            return load_credentials(self._data_dir) is not None
        except SyncError:
            return False

    def _finish(self, report: SyncReport, *, enrolled: bool = True, reached: bool | None = None) -> SyncReport:
        """Folds a round's report into the status and persists it for ``kiosk doctor``.

        ``reached``: whether a request got to the centre. False for errors raised before any request
        (no credentials, an unusable ``sync.ca_file``, a store that fails to open, a bug): the online
        flag then stays as it was. None (a round's report) works it out from the error code.
        """
        now = self._clock.now()
        if reached is None:
            reached = report.error not in (SyncReason.CENTER_UNREACHABLE, SyncReason.NOT_ENROLLED,
                                            SyncReason.CREDENTIALS_INVALID)
        with self._lock:
            status = self._status
            status = replace(
                status, enrolled=enrolled, last_attempt_at=now,
                pending=report.details.get("pending", status.pending),
                rejected=report.details.get("rejected", status.rejected),
                sent=report.details.get("sent", status.sent),
                clock_skew_s=report.clock_skew_s if report.clock_skew_s is not None else status.clock_skew_s,
                online=True if reached and enrolled else (
                    False if report.error == SyncReason.CENTER_UNREACHABLE else status.online),
                last_error_code=report.error, last_error_message=report.error_message,
                last_success_at=now if report.error is None else status.last_success_at)
            self._status = status
        save_state(self._data_dir, status)
        return report
