"""The session controller: runs the certification flow with real (or fake) devices.

One worker thread owns the :class:`~kiosk.flow.Flow` and the store connection. Devices and the UI
post events to it through :meth:`SessionController.post` (thread-safe); it applies them, carries
out the effects (lookups, camera, matching, records, voice) and hands every new view to
``on_view`` — from the worker thread: the UI marshals it to its own thread.

Privacy: the controller holds the person's ID number, frames and scores only while a session
runs; the flow's ``Wipe`` effect drops them, and the view never carries them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.disk import free_megabytes
from kiosk.errors import KeyUnavailableError, KioskError, StorageError, StorageFullError
from kiosk.flow import (
    Audit, CallStaff, CardPlaced, DeviceFailed, DevicesReady, Effect, Event, Flow, FlowView, LookUpPensioner,
    MaintenanceRequired, Matched, Mismatched, PensionerFound, PensionerNotFound, RecordFailed,
    ReferenceMissing, RunMatch, Speak, StartLiveness, State, StopCamera, StoreRecord, Wipe,
)
from kiosk.ports import (
    CardReaderPort, LivenessPort, MatcherPort, MatchOutcome, PresencePort, Preview, VoicePort,
)
from kiosk.store import CertificationRecord, Store

log = logging.getLogger(__name__)

TICK_S = 0.1
"""How often the worker checks deadlines when no event arrives (seconds)."""

DISK_RECHECK_S = 5.0
"""How often the maintenance screen for a full disk looks again whether space was freed (seconds)."""


@dataclass
class _Attempt:
    """What the controller knows of the current attempt (wiped with the session)."""

    match: MatchOutcome | None = None
    evidence: np.ndarray | None = None


class SessionController:
    """Runs one terminal's sessions. Thread rules: construct anywhere; :meth:`post` from any
    thread; callbacks run on the controller's worker thread.

    ``store_factory`` is called on the worker thread (SQLite connections belong to one thread).
    ``on_staff_called`` is called when a person asks for help.
    """

    def __init__(
        self,
        config: KioskConfig,
        clock: Clock,
        *,
        store_factory: Callable[[], Store],
        reader: CardReaderPort,
        liveness: LivenessPort,
        matcher: MatcherPort,
        voice: VoicePort,
        on_view: Callable[[FlowView], None] = lambda _view: None,
        on_preview: Callable[[Preview], None] | None = None,
        on_staff_called: Callable[[], None] = lambda: None,
        on_record: Callable[[str, CertificationRecord], None] = lambda _id, _record: None,
        presence: PresencePort | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._store_factory = store_factory
        self._reader = reader
        self._liveness = liveness
        self._matcher = matcher
        self._voice = voice
        self._on_view = on_view
        self._on_preview = on_preview
        self._on_staff_called = on_staff_called
        self._on_record = on_record
        self._presence = presence
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._store: Store | None = None
        self._startup_error: KioskError | None = None
        self.flow = Flow(config.rules, config.session, clock)
        self._attempt = _Attempt()
        self._last_view: FlowView | None = None
        self._disk_checked_at = float("-inf")
        self._tasks: queue.Queue[Callable[[Store], object]] = queue.Queue()
        self._problems: dict[str, str] = {}  # device -> reason code of what keeps the terminal in maintenance

    # --- lifecycle ---

    def start(self) -> None:
        """Starts the worker thread and the card reader; returns once the store is open.

        Raises the store's :class:`KioskError` when it cannot be opened.
        """
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="session-controller", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        self._reader.start(self.post)

    def stop(self) -> None:
        """Stops the reader, the camera and the worker thread (idempotent; joins the thread)."""
        if self._thread is None:
            return
        self._reader.stop()
        self._events.put(None)
        self._thread.join()
        self._thread = None

    def post(self, event: Event) -> None:
        """Queues ``event`` for the worker thread (thread-safe, returns at once)."""
        self._events.put(event)

    @property
    def view(self) -> FlowView:
        """The latest view (a snapshot; safe to read from any thread)."""
        return self._last_view or self.flow.view

    # --- the worker thread ---

    def _run(self) -> None:
        try:
            self._store = self._store_factory()
        except KioskError as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        self._publish()
        try:
            while True:
                try:
                    event = self._events.get(timeout=TICK_S)
                except queue.Empty:
                    self._apply(self.flow.tick() + self._recover_storage())
                    continue
                if event is None:
                    break
                self._apply(self._handle(event))
                self._apply(self.flow.tick())
        finally:
            if self._presence is not None:
                self._presence.stop()
            self._liveness.stop()
            self._wipe()
            self._store.close()

    def _handle(self, event: Event) -> list[Effect]:
        while not self._tasks.empty():  # store work handed over by other threads
            task = self._tasks.get_nowait()
            try:
                task(self._store)
            except (KioskError, ValueError) as exc:
                log.warning("background store task failed: %s", getattr(exc, "code", type(exc).__name__))
        if isinstance(event, CardPlaced) and self.flow.state in (State.IDLE, State.RESULT):
            problem = self._disk_problem()
            if problem is not None:
                event = MaintenanceRequired(problem, device="storage")
        if isinstance(event, MaintenanceRequired):
            self._problems[event.device] = event.code
        elif isinstance(event, DevicesReady):
            if event.device:
                self._problems.pop(event.device, None)
            else:
                self._problems.clear()
            if self._problems:  # another device is still missing: stay on the maintenance screen
                event = self._latest_problem()
        return self.flow.handle(event)

    def _latest_problem(self) -> MaintenanceRequired:
        device, code = next(reversed(self._problems.items()))
        return MaintenanceRequired(code, device=device)

    def _apply(self, effects: list[Effect]) -> None:
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            try:
                follow_up = self._execute(effect)
            except KioskError as exc:
                log.warning("effect %s failed: %s", type(effect).__name__, exc.code)
                # A record that could not be stored must not be announced: drop what was queued
                # behind it (the result prompt) and let the flow show the device error instead.
                if isinstance(effect, StoreRecord):
                    pending = [e for e in pending if not isinstance(e, Speak)]
                    follow_up = self.flow.handle(RecordFailed(exc.code))
                else:
                    follow_up = self.flow.handle(DeviceFailed(exc.code))
            pending.extend(follow_up)
            if not pending and self.flow.state is State.IDLE and self._problems:
                # Back to idle (a result timed out, the technician left) while a device is missing.
                pending.extend(self.flow.handle(self._latest_problem()))
        self._publish()

    def _publish(self) -> None:
        view = self.flow.view
        if view != self._last_view:
            self._last_view = view
            # The watcher also tells when the camera is missing or back, so it runs on the
            # maintenance screen too while the camera is the reason for it.
            self._watch_for_people(view.state is State.IDLE
                                   or (view.state is State.MAINTENANCE and "camera" in self._problems))
            self._on_view(view)

    def _watch_for_people(self, watch: bool) -> None:
        """The presence watcher runs only on the idle (or camera-maintenance) screen; it releases
        the camera before the session needs it (a camera device opens once)."""
        if self._presence is None:
            return
        if watch:
            self._presence.start(self.post)
        else:
            self._presence.stop()

    def _execute(self, effect: Effect) -> list[Effect]:
        """Carries out one effect; returns effects of events it caused synchronously."""
        store = self._store
        assert store is not None
        if isinstance(effect, Speak):
            self._voice.speak(effect)
        elif isinstance(effect, Audit):
            store.audit(self.flow.view.session_id, effect.step, effect.code)
        elif isinstance(effect, LookUpPensioner):
            return self.flow.handle(self._look_up(store))
        elif isinstance(effect, StartLiveness):
            self._attempt = _Attempt()
            self._liveness.start(effect.attempt, self.post, self._on_preview)
        elif isinstance(effect, StopCamera):
            self._liveness.stop()
        elif isinstance(effect, RunMatch):
            self._run_match(store)
        elif isinstance(effect, StoreRecord):
            self._store_record(store, effect)
        elif isinstance(effect, CallStaff):
            self._on_staff_called()
        elif isinstance(effect, Wipe):
            self._wipe()
        return []

    def _look_up(self, store: Store) -> Event:
        id_number = self.flow.id_number
        if id_number is None:
            return PensionerNotFound()
        try:
            pensioner = store.get_pensioner(id_number)
            if pensioner is None:
                return PensionerNotFound()
            if not store.has_reference(id_number):
                return ReferenceMissing(pensioner.last_certified)
        except StorageError as exc:
            return DeviceFailed(exc.code)
        return PensionerFound(pensioner.last_certified)

    def _run_match(self, store: Store) -> None:
        id_number = self.flow.id_number
        session = self.flow.view.session_id
        frames = self._liveness.best_frames()
        self._attempt.evidence = frames[0] if frames else None
        try:
            references = store.references(id_number) if id_number else []
        except KeyUnavailableError as exc:
            self.post(DeviceFailed(exc.code))
            return
        if not references:
            self.post(Mismatched("no_reference"))
            return
        if not frames:
            self.post(Mismatched("no_usable_face"))
            return
        future = self._matcher.verify(frames, references)
        future.add_done_callback(lambda done: self._match_done(done, session))

    def _match_done(self, future: Future[MatchOutcome], session: str | None) -> None:
        """Runs on the matcher's thread: turns the decision into an event for the worker."""
        if session != self.flow.view.session_id:
            return  # the session ended while matching; its answer must not reach the next one
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - the matcher process may die; that is a device error
            log.warning("matcher failed: %s", type(exc).__name__)
            self.post(DeviceFailed(getattr(exc, "code", "matcher_unavailable")))
            return
        self._attempt.match = outcome
        self.post(Matched() if outcome.matched else Mismatched(outcome.reason or "mismatch"))

    def _store_record(self, store: Store, effect: StoreRecord) -> None:
        view = self.flow.view
        scores = self._liveness.scores()  # also for a failed challenge: a spoof's score is evidence
        match = self._attempt.match
        record = CertificationRecord(
            session_id=view.session_id or "none",
            occurred_at=self._clock.now(),
            device_id=self._config.terminal.device_id,
            region_code=self._config.terminal.region_code,
            id_number=self.flow.id_number,
            outcome=effect.outcome,
            reason_code=None if effect.outcome == "certified" else effect.outcome,
            liveness_score=_unit(scores.liveness_score),
            attack_score=_unit(scores.attack_score),
            match_distance=match.distance if match else None,
            attempt=max(1, effect.attempt),
            valid_until=effect.valid_until,
            evidence_jpeg=self._evidence_jpeg(),
        )
        record_id = store.record_attempt(record)
        log.info("record %s stored: %s (attempt %d)", record_id, effect.outcome, record.attempt)
        self._on_record(record_id, record)
        if record.certified and self._config.match.refresh_reference_on_success:
            self._refresh_reference()

    def _refresh_reference(self) -> None:
        """Encodes the best live frame in the matcher and keeps it as the person's live reference
        (on the controller's thread, through the queue: the store belongs to this thread)."""
        frames = self._liveness.best_frames()
        id_number = self.flow.id_number
        if not frames or id_number is None:
            return
        future = self._matcher.encode(frames[0])

        def encoded(done: Future) -> None:
            try:
                vector = np.asarray(done.result().vector, dtype=np.float64)
            except Exception as exc:  # noqa: BLE001 - a refresh is a bonus; the certification stands
                log.warning("live reference not refreshed: %s", getattr(exc, "code", type(exc).__name__))
                return
            self._tasks.put(lambda store: store.refresh_live_reference(id_number, vector))
            self.post(_Wake())

        future.add_done_callback(encoded)

    def _evidence_jpeg(self) -> bytes | None:
        # The image is kept only when the region keeps evidence or sends face images to the centre
        # (the store keeps it encrypted until sent, and purges it by retention).
        keeps_image = self._config.storage.evidence_retention_days > 0 or self._config.sync.send_face_images
        if not keeps_image or self._attempt.evidence is None:
            return None
        import cv2  # only when evidence is kept at all

        ok, encoded = cv2.imencode(".jpg", self._attempt.evidence, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return encoded.tobytes() if ok else None

    def _wipe(self) -> None:
        self._liveness.wipe()
        self._attempt = _Attempt()

    def _recover_storage(self) -> list[Effect]:
        """Leaves the storage problem behind by itself once the disk has room again."""
        if "storage" not in self._problems:
            return []
        now = self._clock.monotonic()
        if now - self._disk_checked_at < DISK_RECHECK_S:
            return []
        self._disk_checked_at = now
        return [] if self._disk_problem() else self._handle(DevicesReady(device="storage"))

    def _disk_problem(self) -> str | None:
        data_dir = self._config.terminal.resolved_data_dir()
        try:
            free_mb = free_megabytes(data_dir)
        except OSError:
            return StorageError.code
        return StorageFullError.code if free_mb < self._config.terminal.min_free_disk_mb else None


class _Wake(Event):
    """Wakes the worker so it runs queued store tasks; the flow ignores it."""

    name = "wake"


def _unit(value: float | None) -> float | None:
    """Clamps a score to 0-1 for the record (devices may report slightly outside by rounding)."""
    return None if value is None else min(1.0, max(0.0, float(value)))
