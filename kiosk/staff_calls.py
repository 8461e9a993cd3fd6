"""Staff calls from the terminal to the hall console, delivered at once and never claimed when not.

A call (the help button, or automatically after the last failed attempt or for a person without a
reference face) is stored, then sent over its own small signed request (``POST /v1/staff-calls``,
:mod:`wire.staff`), not behind the result batch. What the person is told depends on the answer,
which comes back to the flow as an event:

* the centre has it -> :class:`~kiosk.flow_events.StaffCallDelivered` ("已通知工作人员"); the desk then
  polls the call (``staff.poll_interval_s``) to learn that a staff member acknowledged it on the
  console -> :class:`~kiosk.flow_events.StaffCallAcknowledged`;
* the centre cannot be reached, refuses, or the terminal is not enrolled ->
  :class:`~kiosk.flow_events.StaffCallUndelivered` (the screen says what to do instead), the local
  signal (light / buzzer, ``staff.signal_url``) goes on, and the call stays queued in the store and
  is retried with backoff (2 s doubling up to ``staff.max_backoff_s``), across restarts too;
* a staff member who signs in at the terminal acknowledges every unacknowledged call there
  (:meth:`StaffCallDesk.acknowledge_here`); that acknowledgement is sent to the centre (retried).

Every call and its answer times (delivered, acknowledged, by whom) are kept in the store.

:class:`StaffCallDesk` is the logic, driven by :meth:`StaffCallDesk.step` with the clock's
monotonic seconds (tests drive it with a fake clock and a fake client); :class:`StaffCallService`
runs a desk in its own thread with its own store connection and HTTP client.

Thread rules: a desk belongs to one thread. The service's :meth:`~StaffCallService.raise_call` and
:meth:`~StaffCallService.acknowledge_here` may be called from any thread and never block; ``notify``
is called from the service's thread (it is the controller's thread-safe ``post``).
Privacy: a call holds no personal data (the screen and the reason); logs name call ids and codes.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError, reason_code
from kiosk.flow_events import Event, StaffCallAcknowledged, StaffCallDelivered, StaffCallUndelivered
from kiosk.devices.staff_signal import StaffSignal
from kiosk.store import Store
from kiosk.sync.client import RequestRefused
from wire.staff import StaffCallAck, StaffCallAnswer, StaffCallRequest, StaffCallStatus

log = logging.getLogger(__name__)

FIRST_RETRY_S = 2.0
NOT_ENROLLED = "sync_not_enrolled"


class StaffCallClient(Protocol):
    """The three staff-call requests (:class:`kiosk.sync.client.CentreClient` is the real one).
    Each raises :class:`~kiosk.errors.SyncError` when the centre cannot be reached or refuses."""

    def raise_staff_call(self, request: StaffCallRequest) -> StaffCallAnswer: ...

    def staff_call_state(self, call_id: str) -> StaffCallAnswer: ...

    def acknowledge_staff_call(self, call_id: str, ack: StaffCallAck) -> StaffCallAnswer: ...


@dataclass
class _Watch:
    """What the desk does next for one call, and when (monotonic seconds)."""

    call_id: str
    due_at: float
    failures: int = 0
    told_undelivered: bool = False
    signal_until: float | None = None  # the local signal is on for this call until then
    gave_up: bool = False  # refused by the centre: not sent again; kept only while it signals locally
    watch_until: float | None = None  # stop polling an unanswered open call after this


@dataclass(frozen=True)
class StaffCallTimings:
    """The desk's timings (seconds), from ``[staff]`` in the configuration."""

    poll_interval_s: float = 2.0
    max_backoff_s: float = 30.0
    local_signal_max_s: float = 600.0
    watch_max_s: float = 3600.0


class StaffCallDesk:
    """The staff calls of one terminal (see the module docstring). ``client`` is called for each
    request and may return None when the terminal is not enrolled (the call then waits, signalled
    locally); ``notify`` receives the flow's events."""

    def __init__(self, store: Store, clock: Clock, client: Callable[[], StaffCallClient | None],
                 signal: StaffSignal, notify: Callable[[Event], None], timings: StaffCallTimings,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._clock = clock
        self._client = client
        self._signal = signal
        self._notify = notify
        self._timings = timings
        self._rng = rng or random.Random()
        self._watches: dict[str, _Watch] = {}
        self._resume()

    # -- what the terminal asks ---------------------------------------------------------------

    def raise_call(self, call_id: str, reason: str, screen: str) -> None:
        """Stores a new call and sends it at the next :meth:`step` (which the service runs at once)."""
        self._store.add_staff_call(call_id, self._clock.now(), screen, reason)
        self._store.audit(None, "staff_call", reason, {"call_id": call_id, "screen": screen})
        self._watches[call_id] = _Watch(call_id, self._clock.monotonic())
        log.info("staff call %s raised (%s on %s)", call_id, reason, screen)

    def acknowledge_here(self, staff_number: str | None) -> list[str]:
        """A staff member is at the terminal: every unacknowledged call is acknowledged by them,
        the local signal goes off, and the acknowledgement is sent to the centre. Returns the ids."""
        now = self._clock.now()
        acknowledged = [call.call_id for call in self._store.unfinished_staff_calls() if call.state != "acknowledged"]
        for call_id in acknowledged:
            self._store.mark_staff_call_acknowledged(call_id, now, staff_number, here=True)
            self._store.audit(None, "staff_call", "acknowledged_here", {"call_id": call_id})
            watch = self._watches.setdefault(call_id, _Watch(call_id, self._clock.monotonic()))
            watch.due_at, watch.signal_until = self._clock.monotonic(), None
            self._notify(StaffCallAcknowledged(call_id, staff_number))
        self._update_signal()
        return acknowledged

    # -- the work -----------------------------------------------------------------------------

    def step(self) -> float | None:
        """Does what is due now (deliver, poll, send acknowledgements); returns the monotonic time
        of the next due work, None when nothing waits."""
        now = self._clock.monotonic()
        for watch in sorted(self._watches.values(), key=lambda w: w.due_at):
            if watch.gave_up:
                if watch.due_at <= now:  # its local signal has run out: nothing more to do for it
                    self._watches.pop(watch.call_id, None)
            elif watch.due_at <= now:
                self._work(watch, now)
        self._update_signal()
        return min((w.due_at for w in self._watches.values()), default=None)

    def _work(self, watch: _Watch, now: float) -> None:
        call = self._store.staff_call(watch.call_id)
        if call is None:
            self._watches.pop(watch.call_id, None)
            return
        try:
            client = self._client()
            if client is None:
                raise KioskError("the terminal is not enrolled with a centre", code=NOT_ENROLLED)
            if call.delivered_at is None:  # also a call acknowledged here before the centre had it
                answer = client.raise_staff_call(StaffCallRequest(call_id=call.call_id, raised_at=call.raised_at,
                                                                  screen=call.screen, reason=call.reason))
                self._store.mark_staff_call_delivered(call.call_id, self._clock.now())
                log.info("staff call %s delivered", call.call_id)
                watch.signal_until = None
                if not call.ack_to_send and answer.status != StaffCallStatus.ACKNOWLEDGED:
                    self._notify(StaffCallDelivered(call.call_id))
                watch.watch_until = now + self._timings.watch_max_s
                self._answered(watch, call.ack_to_send, answer, now)
            elif call.ack_to_send:
                client.acknowledge_staff_call(call.call_id, StaffCallAck(
                    acknowledged_at=call.acknowledged_at or self._clock.now(), staff_number=call.acknowledged_by))
                self._store.mark_staff_call_ack_sent(call.call_id)
                self._watches.pop(call.call_id, None)
            elif call.state == "open":
                self._answered(watch, False, client.staff_call_state(call.call_id), now)
            else:
                self._watches.pop(call.call_id, None)
        except RequestRefused as exc:  # the centre will never take this request: kept, not retried
            log.warning("staff call %s refused by the centre: %s", call.call_id, exc.wire_code)
            self._failed(watch, call.delivered_at is None and call.state != "acknowledged", exc.code, now)
            watch.gave_up = True
            watch.due_at = watch.signal_until if watch.signal_until is not None else now
        except KioskError as exc:
            # Signalled locally only while nobody has come: a call acknowledged here is just sent late.
            self._failed(watch, call.delivered_at is None and call.state != "acknowledged", reason_code(exc), now)
        except ValueError as exc:  # a stored call the protocol refuses (a bad screen name): kept, not retried
            log.warning("staff call %s cannot be sent: %s", call.call_id, type(exc).__name__)
            self._store.note_staff_call_error(call.call_id, "staff_call_invalid")
            self._watches.pop(call.call_id, None)

    def _answered(self, watch: _Watch, ack_to_send: bool, answer: StaffCallAnswer, now: float) -> None:
        watch.failures = 0
        if ack_to_send:
            watch.due_at = now  # send the terminal's acknowledgement next
        elif answer.status == StaffCallStatus.ACKNOWLEDGED:
            self._store.mark_staff_call_acknowledged(watch.call_id, answer.acknowledged_at or self._clock.now(),
                                                     answer.acknowledged_by, here=False)
            self._store.audit(None, "staff_call", "acknowledged_on_console", {"call_id": watch.call_id})
            self._notify(StaffCallAcknowledged(watch.call_id, answer.acknowledged_by))
            self._watches.pop(watch.call_id, None)
        elif watch.watch_until is not None and now >= watch.watch_until:
            log.info("staff call %s still open after %.0f s; no longer polled", watch.call_id, self._timings.watch_max_s)
            self._watches.pop(watch.call_id, None)
        else:
            watch.due_at = now + self._timings.poll_interval_s

    def _failed(self, watch: _Watch, undelivered: bool, code: str, now: float) -> None:
        self._store.note_staff_call_error(watch.call_id, code)
        if not undelivered and watch.watch_until is not None and now >= watch.watch_until:
            self._watches.pop(watch.call_id, None)  # a delivered call no longer watched: stop polling
            return
        watch.failures += 1
        step = min(self._timings.max_backoff_s, FIRST_RETRY_S * 2 ** min(watch.failures - 1, 20))
        watch.due_at = now + step * self._rng.uniform(0.5, 1.0)
        if undelivered and not watch.told_undelivered:
            watch.told_undelivered = True
            watch.signal_until = now + self._timings.local_signal_max_s
            log.warning("staff call %s not delivered (%s); signalling locally, retrying", watch.call_id, code)
            self._notify(StaffCallUndelivered(watch.call_id, code))

    def _update_signal(self) -> None:
        now = self._clock.monotonic()
        self._signal.set(any(w.signal_until is not None and now < w.signal_until for w in self._watches.values()))

    def _resume(self) -> None:
        """Picks up what a previous run left: calls to deliver, to watch, or acknowledgements to send."""
        now = self._clock.monotonic()
        for call in self._store.unfinished_staff_calls():
            self._watches[call.call_id] = _Watch(call.call_id, now, told_undelivered=True,
                                                 watch_until=now + self._timings.watch_max_s)

    @property
    def clock(self) -> Clock:
        """The desk's clock (the service paces its loop by it)."""
        return self._clock

    def close(self) -> None:
        """Switches the local signal off and closes the store."""
        self._signal.close()
        self._store.close()


class StaffCallService:
    """Runs a :class:`StaffCallDesk` in its own thread (its own store and HTTP client)."""

    def __init__(self, desk_factory: Callable[[], StaffCallDesk]) -> None:
        self._desk_factory = desk_factory
        self._commands: queue.Queue[Callable[[StaffCallDesk], object] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts the thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="staff-calls", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the thread (the local signal goes off); calls still pending stay in the store."""
        if self._thread is not None:
            self._commands.put(None)
            self._thread.join()
            self._thread = None

    def raise_call(self, call_id: str, reason: str, screen: str) -> None:
        """Queues a new call (any thread; returns at once)."""
        self._commands.put(lambda desk: desk.raise_call(call_id, reason, screen))

    def acknowledge_here(self, staff_number: str | None) -> None:
        """A staff member is at the terminal (any thread; returns at once)."""
        self._commands.put(lambda desk: desk.acknowledge_here(staff_number))

    def _run(self) -> None:
        try:
            desk = self._desk_factory()
        except KioskError as exc:
            log.error("staff calls cannot run: %s", exc.code)
            return
        clock = desk.clock
        try:
            next_due = _safe_step(desk)
            while True:
                timeout = None if next_due is None else max(0.0, next_due - clock.monotonic())
                try:
                    command = self._commands.get(timeout=timeout)
                except queue.Empty:
                    command = lambda _desk: None  # noqa: E731 - a wake-up for due work
                if command is None:
                    break
                try:
                    command(desk)
                except KioskError as exc:
                    log.warning("staff call command failed: %s", exc.code)
                next_due = _safe_step(desk)
        finally:
            desk.close()


def _safe_step(desk: StaffCallDesk) -> float | None:
    """One step; a storage error is logged and retried a little later instead of ending the thread."""
    try:
        return desk.step()
    except KioskError as exc:
        log.warning("staff calls: %s; trying again shortly", exc.code)
        return desk.clock.monotonic() + FIRST_RETRY_S


def staff_call_service(config: KioskConfig, clock: Clock, notify: Callable[[Event], None]) -> StaffCallService:
    """The terminal's staff-call service: its own store connection, the centre client of the sync
    credentials (None until the terminal is enrolled), the signal of ``staff.signal_url``."""
    from kiosk.devices.staff_signal import open_staff_signal
    from kiosk.sync.client import CentreClient
    from kiosk.sync.credentials import Credentials, load_credentials

    data_dir = config.terminal.resolved_data_dir()
    built: tuple[Credentials, CentreClient] | None = None

    def client() -> CentreClient | None:
        """The client of the credentials stored now (None before enrolment), on the desk's thread.

        Kept while the credentials stay the same: a call must not wait for a new TLS handshake.
        Rebuilt (the old one closed) as soon as they differ, because a technician may re-enrol the
        terminal, rotate its key or change the centre URL while the kiosk runs, and a client of the
        old credentials would sign with a key the centre no longer takes until a restart.
        """
        nonlocal built
        credentials = load_credentials(data_dir)
        if built is not None and built[0] != credentials:
            built[1].close()
            built = None
        if credentials is None:
            return None
        if built is None:
            built = (credentials, CentreClient(credentials, clock, config.staff.request_timeout_s,
                                               ca_file=config.sync.ca_file))
        return built[1]

    def desk() -> StaffCallDesk:
        timings = StaffCallTimings(poll_interval_s=config.staff.poll_interval_s,
                                   max_backoff_s=config.staff.max_backoff_s,
                                   local_signal_max_s=config.staff.local_signal_max_s,
                                   watch_max_s=config.staff.watch_max_s)
        return StaffCallDesk(Store.from_config(config, clock), clock, client, open_staff_signal(config.staff.signal_url),
                             notify, timings)

    return StaffCallService(desk)
