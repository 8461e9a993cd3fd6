"""The reader service: a background thread that watches the reader and reports what happens.

The kiosk creates one :class:`ReaderService`, gives it a callback and starts it. The thread:

* opens the reader URL and checks the SAM (``ReaderReady``); if that fails it reports
  ``ReaderLost(code)`` once and retries with exponential backoff (0.5 s doubling up to
  ``reconnect_max_backoff_s``), so an unplugged reader recovers by itself when plugged back;
* polls find-card every ``poll_interval_s`` (never faster than 0.3 s, the modules' own advice);
* on a new card: ``CardPlaced``, then exactly one read: ``CardRead(card)`` or
  ``CardReadFailed(code)``; no second read until the card has been lifted;
* reports ``CardRemoved`` after two polls in a row without the card (one miss is a card sliding
  on the reader, common with trembling hands), and before ``ReaderLost`` if the reader dies.

Thread rules: ``on_event`` is called **from the service's own thread**; a Qt UI must hand the event
to its GUI thread (e.g. through a queued signal) and must not block in the callback. ``start`` and
``stop`` may be called from any thread; ``stop`` wakes the thread and joins it (at most about one
command timeout) and is idempotent. ``read_now`` (the technician's test read) runs on any other
thread and hands a request to the service thread; the request and its hand-over state change only
under the service's lock (see :meth:`ReaderService.read_now`). Privacy: events carry the card;
nothing personal is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from reader.card import IdCard
from reader.client import CardReader
from reader.errors import ReaderError, ReaderReason, is_device_fault
from reader.settings import ReaderSettings
from reader.transport import open_reader, redact_url

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL_S = 0.3
FIRST_BACKOFF_S = 0.5
REMOVAL_MISSES = 2          # finds in a row without a card before it counts as lifted
FIND_ERRORS_BEFORE_LOST = 3  # corrupt find answers in a row before the reader counts as lost
# How long read_now still waits, in command timeouts, for a read already under way for it when its own
# timeout runs out. A read of a found card is two commands (select, read base), each sent at most twice
# (SamClient retries a corrupt answer once): four command timeouts at worst; one more covers parsing
# and a loaded machine. Vendor SDK backends keep their own timeouts; this bound still ends the wait.
TAKEN_READ_TIMEOUTS = 5


@dataclass(frozen=True)
class ReaderReady:
    """The reader answered and its SAM is ready (after start and after each reconnection)."""


@dataclass(frozen=True)
class CardPlaced:
    """A card was laid on the reader; a read follows."""


@dataclass(frozen=True)
class CardRead:
    """The card was read and validated. ``card`` holds personal data: never log it."""

    card: IdCard

    def __repr__(self) -> str:
        return f"CardRead({self.card!r})"


@dataclass(frozen=True)
class CardReadFailed:
    """The read of this placement failed; ``code`` is a :class:`ReaderReason` value."""

    code: str


@dataclass(frozen=True)
class CardRemoved:
    """The card was lifted (or the reader went away while it lay there)."""


@dataclass(frozen=True)
class ReaderLost:
    """The reader cannot be used; the service keeps trying to reconnect. ``code``: why."""

    code: str


ReaderEvent = ReaderReady | CardPlaced | CardRead | CardReadFailed | CardRemoved | ReaderLost


class MonotonicClock(Protocol):
    """Anything with ``monotonic()`` in seconds (``kiosk.clock.Clock`` fits)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin."""


class _SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()


class _ReadRequest:
    """One :meth:`ReaderService.read_now` call waiting for the service thread.

    Every field changes only under the owning service's ``_lock``: ``taken`` is set by the service
    thread when it starts a read for the request; ``card`` / ``error`` and then ``done`` are set
    once, by whoever finishes the request first (the read, or ``stop``); later results are dropped.
    """

    def __init__(self) -> None:
        self.done = threading.Event()
        self.taken = False
        self.card: IdCard | None = None
        self.error: ReaderError | None = None


class ReaderService:
    """Watches one reader URL in a background thread and reports :data:`ReaderEvent` values.

    ``url`` may differ from ``settings.url`` (the demo passes a ``sim://`` URL). ``opener`` builds
    the backend (tests pass fakes); by default :func:`reader.transport.open_reader`.
    """

    def __init__(
        self,
        url: str,
        settings: ReaderSettings,
        on_event: Callable[[ReaderEvent], None],
        clock: MonotonicClock | None = None,
        *,
        opener: Callable[[str], CardReader] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self._on_event = on_event
        self._clock = clock or _SystemClock()
        self._opener = opener or (lambda u: open_reader(u, baudrate=settings.baudrate,
                                                        timeout_s=settings.command_timeout_s))
        self._poll_s = max(MIN_POLL_INTERVAL_S, settings.poll_interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: CardReader | None = None
        self._lock = threading.Lock()
        self._request: _ReadRequest | None = None
        # Whether _watch believes a card lies on the reader; the service thread's alone. Kept here,
        # not in _watch, so that _run can still report the card's removal when a backend bug ends
        # the watch with a card on the reader.
        self._card_on = False

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Starts the thread (returns at once). RuntimeError when started twice."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("ReaderService.start() called twice")
            self._thread = threading.Thread(target=self._run, name="reader-service", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the thread and closes the reader; idempotent, safe before start.

        A pending :meth:`read_now` (waiting, or its read under way) ends at once with
        ``reader_unavailable``: the technician is answered even if the read itself hangs."""
        self._stop.set()
        # After _stop is set (read_now checks it under the lock) no new request can be handed over,
        # so the one pending now, if any, is the last one.
        with self._lock:
            request = self._request
        if request is not None:
            self._finish(request, error=ReaderError(
                ReaderReason.READER_UNAVAILABLE, "the card reader was stopped before the test read finished"))
        reader = self._reader
        cancel = getattr(reader, "cancel", None)
        if cancel is not None:
            cancel()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.settings.command_timeout_s * 3 + 2.0)
            if thread.is_alive():
                log.warning("reader service thread did not stop in time")

    def read_now(self, timeout_s: float) -> IdCard:
        """Reads the card lying on the reader (or the next one laid on it) through the service's own
        connection, for the technician's test read: the port has one owner, so nothing else opens
        it. Any thread except the service's; blocks up to ``timeout_s`` seconds.

        The read is not reported as an event. Raises :class:`ReaderError`: the read's own error
        (also when the read of a card laid while waiting fails), ``no_card`` when no card came within
        ``timeout_s``, ``reader_unavailable`` when the reader is not connected or the service is not
        running (before ``start``, after ``stop``, or ``stop`` while waiting: at once, not after
        ``timeout_s``), ``reader_timeout`` when a read under way hangs; ``RuntimeError`` when another
        test read is under way.

        Hand-over: the request is handed to the service thread under the lock; the service marks it
        taken (under the lock) when it starts a read for it. When ``timeout_s`` runs out, an untaken
        request is withdrawn (and can never be served afterwards), while a taken one is waited for,
        at most ``TAKEN_READ_TIMEOUTS`` command timeouts more, so a card being read is not lost.
        """
        request = _ReadRequest()
        with self._lock:
            # Checked under the lock that stop() takes after setting _stop: either stop() sees this
            # request and finishes it, or this call sees _stop; it never waits for a dead thread.
            # running, not merely started: a thread that died of a backend bug answers nobody.
            if self._thread is None or not self._thread.is_alive() or self._stop.is_set():
                raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the card reader service is not running")
            if self._request is not None:
                raise RuntimeError("a test read is already under way")
            self._request = request
        try:
            if not request.done.wait(timeout_s):
                with self._lock:
                    taken = request.taken or request.done.is_set()
                    if not taken:
                        self._request = None  # withdrawn: the service thread can no longer take it
                if not taken:
                    if self._reader is None:
                        raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the reader is not connected")
                    raise ReaderError(ReaderReason.NO_CARD, f"no card on the reader within {timeout_s:g} s")
                limit_s = self.settings.command_timeout_s * TAKEN_READ_TIMEOUTS
                if not request.done.wait(limit_s):
                    raise ReaderError(ReaderReason.READER_TIMEOUT,
                                      f"the reader did not finish reading the card within {limit_s:.1f} s more")
        finally:
            with self._lock:
                if self._request is request:
                    self._request = None
        if request.error is not None:
            raise request.error
        assert request.card is not None
        return request.card

    # -- the thread ----------------------------------------------------------------------------
    def _pending_request(self) -> _ReadRequest | None:
        """The handed-over request not finished yet (taken or not), or None; any thread."""
        with self._lock:
            request = self._request
            return request if request is not None and not request.done.is_set() else None

    def _take_request(self) -> _ReadRequest | None:
        """Service thread, just before a read: the pending request, now marked taken, or None.

        Taking and withdrawing (in :meth:`read_now`) both happen under the lock, so a request is
        either read for or withdrawn, never both."""
        with self._lock:
            request = self._request
            if request is None or request.taken or request.done.is_set():
                return None
            request.taken = True
            return request

    def _finish(self, request: _ReadRequest, *, card: IdCard | None = None,
                error: ReaderError | None = None) -> None:
        """Gives ``request`` its outcome unless it already has one (stop() may have answered first)."""
        with self._lock:
            if request.done.is_set():
                return
            request.card, request.error = card, error
            request.done.set()

    def _read_for(self, reader: CardReader, request: _ReadRequest | None) -> IdCard:
        """``reader.read_card(find=False)``, its outcome (the card or the error) given to ``request``, if
        any, before it returns or raises; service thread.

        Anything else the backend raises (a bug) is re-raised after the request gets
        ``reader_unavailable``: the technician's read must not hang on it."""
        try:
            card = reader.read_card(find=False)
        except ReaderError as exc:
            if request is not None:
                self._finish(request, error=exc)
            raise
        except BaseException:
            if request is not None:
                self._finish(request, error=ReaderError(ReaderReason.READER_UNAVAILABLE,
                                                        "the test read stopped unexpectedly"))
            raise
        if request is not None:
            self._finish(request, card=card)
        return card

    def _serve_request(self, reader: CardReader) -> str | None:
        """Answers a pending :meth:`read_now` by reading the card lying on the reader; returns a
        reason code when the reader itself failed."""
        request = self._take_request()
        if request is None:
            return None
        try:
            self._read_for(reader, request)
        except ReaderError as exc:
            return exc.code if is_device_fault(exc) else None
        return None

    def _emit(self, event: ReaderEvent) -> None:
        if self._stop.is_set():
            return  # nothing is reported once stop() has been asked for
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - a broken callback must not kill the reader thread
            log.exception("reader event callback raised on %s", type(event).__name__)

    def _run(self) -> None:
        backoff = FIRST_BACKOFF_S
        lost_reported = False
        try:
            while not self._stop.is_set():
                try:
                    try:
                        self._reader = self._opener(self.url)
                        self._reader.sam_status()
                    except ReaderError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a backend bug must not end the service
                        log.exception("reader backend failed while opening %s", redact_url(self.url))
                        raise ReaderError(ReaderReason.READER_UNAVAILABLE,
                                          f"the reader backend failed: {type(exc).__name__}") from exc
                except ReaderError as exc:
                    self._close_reader()
                    if not lost_reported:
                        log.warning("reader %s unavailable (%s); retrying", redact_url(self.url), exc.code)
                        self._emit(ReaderLost(exc.code))
                        lost_reported = True
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.settings.reconnect_max_backoff_s)
                    continue
                log.info("reader %s ready", redact_url(self.url))
                backoff, lost_reported = FIRST_BACKOFF_S, False
                self._emit(ReaderReady())
                try:
                    code = self._watch(self._reader)
                except Exception:  # noqa: BLE001 - as above: log it, reconnect, keep serving the kiosk
                    log.exception("reader backend failed while watching %s", redact_url(self.url))
                    if self._card_on:  # as for any reader that dies with a card on it
                        self._emit(CardRemoved())
                    code = ReaderReason.READER_UNAVAILABLE.value
                self._close_reader()
                if code is not None:
                    self._emit(ReaderLost(code))
                    lost_reported = True
                    self._stop.wait(backoff)
        finally:
            self._close_reader()

    def _watch(self, reader: CardReader) -> str | None:
        """Polls until stop (returns None) or until the reader fails (returns the reason code)."""
        self._card_on = False
        misses = 0
        find_errors = 0
        while not self._stop.is_set():
            started = self._clock.monotonic()
            try:
                present = reader.find_card()
                find_errors = 0
            except ReaderError as exc:
                if self._stop.is_set():
                    break
                find_errors += 1
                if is_device_fault(exc) or find_errors >= FIND_ERRORS_BEFORE_LOST:
                    log.warning("reader lost during find (%s)", exc.code)
                    if self._card_on:
                        self._emit(CardRemoved())
                    return exc.code
                log.info("find card answer unusable (%s); polling again", exc.code)
                present = self._card_on  # unknown: keep the current belief for this poll
            failure = None
            if present and not self._card_on:
                self._card_on, misses = True, 0
                self._emit(CardPlaced())
                failure = self._read_once(reader)
            elif present:
                misses = 0
                failure = self._serve_request(reader)  # a test read of the card lying there
            elif self._card_on:
                misses += 1
                if misses >= REMOVAL_MISSES:
                    self._card_on, misses = False, 0
                    self._emit(CardRemoved())
            if failure is not None:  # the reader died during a read, with the card on it
                self._emit(CardRemoved())
                return failure
            elapsed = self._clock.monotonic() - started
            self._stop.wait(max(0.0, self._poll_s - elapsed))
        return None

    def _read_once(self, reader: CardReader) -> str | None:
        """Reads the card just found; returns a reason code when the reader itself failed.

        A test read asked for before this read began is taken and gets this read's outcome, the
        card or the error (a failed read is not repeated for it: the technician sees why it failed).
        """
        try:
            # The test read gets its answer inside _read_for, before the event: a slow event
            # callback must not make a test read that already has its answer run into its time limit.
            card = self._read_for(reader, self._take_request())
        except ReaderError as exc:
            log.info("card read failed (%s)", exc.code)
            self._emit(CardReadFailed(exc.code))
            return exc.code if is_device_fault(exc) else None
        self._emit(CardRead(card))
        return None

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
