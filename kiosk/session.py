"""The session controller: runs the certification flow with real (or fake) devices.

One thread, the controller's, owns the :class:`~kiosk.flow.Flow`, the store connection and the
person's session data. Everything else reaches it through one queue (:meth:`SessionController.post`,
thread-safe): the card reader's and the camera's events, the UI's touches, and the completions of
work done on other threads (a match or an encoding in the matcher process comes back as a
:class:`~kiosk.session_data.MatchDecided`, a :class:`~kiosk.session_data.LiveReferenceEncoded`, ...
posted from the matcher's reply thread).
Nothing running on another thread reads or changes the flow or the session data.

The controller applies each event to the flow, carries out the effects (lookups, camera, matching,
records, voice) and hands every new view to ``on_view``, from its own thread: the UI marshals it
to the GUI thread.

Privacy: the person's ID number, frames and scores are held only in
:class:`~kiosk.session_data.SessionData`, for the session; the flow's ``Wipe`` effect drops them,
and the view never carries them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from kiosk import live_references
from kiosk.clock import Clock, today
from kiosk.config import KioskConfig
from kiosk.disk import free_megabytes
from kiosk.errors import KeyUnavailableError, KioskError, StorageError, StorageFullError, reason_code
from kiosk.flow import (
    ActionHeard, Audit, CallStaff, CardPlaced, CardRead, DeviceFailed, DevicesReady, Effect, Event, Flow, FlowView,
    LookUpPensioner, MaintenanceRequired, Matched, Mismatched, PensionerFound, PensionerNotFound, RecordFailed,
    RecordStored, ReferenceMissing, RunMatch, Speak, StartLiveness, State, StopCamera, StoreRecord, Wipe,
)
from kiosk.flow import AcknowledgeStaffCalls, StaffCallUndelivered, StaffVerified
from kiosk.ports import (
    CardReaderPort, LivenessPort, MatcherPort, MatchOutcome, PresencePort, Preview, StaffCallPort, VoicePort,
)
from kiosk.reasons import Outcome
from kiosk.session_data import (
    Completion, LiveReferenceEncoded, LiveReferenceFailed, MatchDecided, MatcherFailed, SessionData, build_record,
    build_staff_record, encoding_completion, match_completion,
)
from kiosk.store import CertificationRecord, Store
from kiosk.sync.review import review_news

log = logging.getLogger(__name__)

TICK_S = 0.1
"""How often the controller checks deadlines when no event arrives (seconds)."""

DISK_RECHECK_S = 5.0
"""How often the maintenance screen for a full disk looks again whether space was freed (seconds)."""


class SessionController:
    """Runs one terminal's sessions. Thread rules: construct anywhere; :meth:`start`, :meth:`stop`
    from one thread; :meth:`post` and :attr:`view` from any thread; every callback runs on the
    controller's thread.

    ``store_factory`` is called on the controller's thread (SQLite connections belong to one thread).
    ``on_staff_called`` is called when a person asks for help; ``on_record`` after each record.
    ``staff_calls`` delivers staff calls to the hall console; without it every call is answered
    as undelivered at once (the screen then says where to go instead: it never claims staff were told).
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
        staff_calls: StaffCallPort | None = None,
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
        self._staff_calls = staff_calls
        self._inbox: queue.Queue[Event | Completion | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._store: Store | None = None
        self._startup_error: KioskError | None = None
        self.flow = Flow(config.rules, config.session, clock)
        self._session = SessionData()
        self._initial_view = self.flow.view
        self._last_view: FlowView | None = None
        self._disk_checked_at = float("-inf")
        self._inline = False

    # --- lifecycle ---

    def start(self) -> None:
        """Starts the controller's thread and the card reader; returns once the store is open.

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
        """Stops the reader, the camera and the controller's thread (idempotent; joins the thread).

        What is queued before the stop is still handled."""
        if self._thread is None:
            if self._inline and self._store is not None:  # run inline: close on the caller's thread
                self._reader.stop()
                self._release()
            return
        self._reader.stop()
        self._inbox.put(None)
        self._thread.join()
        self._thread = None

    def start_inline(self) -> None:
        """Opens the store on the caller's thread without starting the controller's thread: the
        caller then drives the controller with :meth:`run_pending` (simulations on a fake clock,
        e.g. the scripted-person test). Never mixed with :meth:`start`. Raises like :meth:`start`."""
        self._store = self._store_factory()
        self._inline = True
        self._publish()
        self._reader.start(self.post)

    def run_pending(self) -> int:
        """Handles every queued item, then one tick, on the caller's thread (after
        :meth:`start_inline`); returns how many items were handled."""
        handled = 0
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item is None:
                continue
            handled += 1
            self._apply(self._receive(item))
        self._apply(self.flow.tick() + self._recover_storage())
        return handled

    def post(self, item: Event | Completion) -> None:
        """Queues a flow event or a completion for the controller's thread (thread-safe, returns at once)."""
        self._inbox.put(item)

    @property
    def view(self) -> FlowView:
        """The latest published view (a snapshot; safe to read from any thread)."""
        return self._last_view or self._initial_view

    @property
    def session_data(self) -> SessionData:
        """The person's session data. Read it on the controller's thread (a callback) or after
        :meth:`stop`; it is replaced, never changed in place, by a wipe."""
        return self._session

    # --- the controller's thread ---

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
                    item = self._inbox.get(timeout=TICK_S)
                except queue.Empty:
                    self._apply(self.flow.tick() + self._recover_storage())
                    continue
                if item is None:
                    break
                self._apply(self._receive(item))
                self._apply(self.flow.tick())
        finally:
            self._release()

    def _release(self) -> None:
        """What every stop path ends with, on the thread that owns the store (the controller's, or
        the inline caller's): the presence watcher and the camera let go (the watcher was started
        by :meth:`_publish` on the idle screen and would otherwise keep its thread and the camera),
        the session data wiped, the store closed."""
        if self._presence is not None:
            self._presence.stop()
        self._liveness.stop()
        self._wipe()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _receive(self, item: Event | Completion) -> list[Effect]:
        """Dispatches one queued item by its class; returns the flow's effects."""
        match item:
            case MatchDecided():
                return self._match_decided(item)
            case MatcherFailed():
                # A failure of an ended session's match must not end the next session.
                return self.flow.handle(DeviceFailed(item.code)) if self._current(item.session_id) else []
            case LiveReferenceEncoded():
                self._keep_live_reference(item)
                return []
            case LiveReferenceFailed():
                log.warning("live reference not refreshed: %s", item.code)
                return []
            case CardPlaced() if self.flow.accepts(item):
                problem = self._disk_problem()
                return self.flow.handle(item if problem is None else MaintenanceRequired(problem, device="storage"))
            case CardRead() if self.flow.accepts(item):
                self._session.id_number = item.id_number  # before the flow asks for the lookup
                return self.flow.handle(item)
            case StaffVerified():
                return self._staff_verified(item)
            case _:
                return self.flow.handle(item)

    def _current(self, session_id: str | None) -> bool:
        return session_id is not None and session_id == self.flow.view.session_id

    def _match_decided(self, item: MatchDecided) -> list[Effect]:
        if not self._current(item.session_id):
            return []  # the session ended while matching; its answer must not reach the next one
        outcome = self._session.match = item.outcome
        self._audit_match_model(outcome)
        return self.flow.handle(Matched() if outcome.matched else Mismatched(outcome.reason or Outcome.MISMATCH))

    def _audit_match_model(self, outcome: MatchOutcome) -> None:
        """One audit line per face check naming the model that decided (issue 15: the technician
        sees it on the 'today' page); a storage problem here loses only the line."""
        assert self._store is not None
        try:
            self._store.audit(self.flow.view.session_id, "match_model", outcome.model or "unknown",
                              {"matched": bool(outcome.matched)})
        except KioskError as exc:
            log.warning("match model not audited: %s", exc.code)

    def _apply(self, effects: list[Effect]) -> None:
        pending = deque(effects)
        while pending:
            effect = pending.popleft()
            try:
                pending.extend(self._execute(effect))
            except KioskError as exc:
                log.warning("effect %s failed: %s", type(effect).__name__, exc.code)
                pending.extend(self.flow.handle(DeviceFailed(exc.code)))
        self._publish()

    def _publish(self) -> None:
        view = self.flow.view
        if view != self._last_view:
            self._last_view = view
            # The watcher also tells when the camera is missing or back, so it runs on the
            # maintenance screen too while the camera is the reason for it; on the status screen
            # it sees the person walk away (the camera is not needed until the face check).
            self._watch_for_people(view.state in (State.IDLE, State.STATUS)
                                   or (view.state is State.MAINTENANCE and self.flow.is_missing("camera")))
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
        """Carries out one effect; returns the effects of events it answered at once."""
        store = self._store
        assert store is not None  # opened before the first event is taken from the queue
        match effect:
            case Speak():
                self._voice.speak(effect)
            case Audit():
                store.audit(self.flow.view.session_id, effect.step, effect.code)
            case LookUpPensioner():
                return self.flow.handle(self._look_up(store))
            case StartLiveness():
                self._session.match, self._session.evidence = None, None
                self._liveness.start(effect.attempt, self.post, self._on_preview)
            case ActionHeard():
                self._liveness.prompt_heard(effect.action)
            case StopCamera():
                self._liveness.stop()
            case RunMatch():
                self._run_match(store)
            case StoreRecord():
                return self.flow.handle(self._store_record(store, effect))
            case CallStaff():
                self._call_staff(effect)
            case AcknowledgeStaffCalls():
                if self._staff_calls is not None:
                    self._staff_calls.acknowledge_here(effect.staff_number)
            case Wipe():
                self._wipe()
        return []

    def _call_staff(self, effect: CallStaff) -> None:
        if self._staff_calls is not None:
            self._staff_calls.raise_call(effect.call_id, effect.reason, effect.screen)
        else:
            self.post(StaffCallUndelivered(effect.call_id, "staff_calls_unavailable"))
        self._on_staff_called()

    def _staff_verified(self, item: StaffVerified) -> list[Effect]:
        """A face-to-face certification: only for the person whose card was read; the photo is kept
        in the session data (the flow never holds an image) until the record is stored."""
        if self._session.id_number is None or not self.flow.accepts(item):
            log.warning("staff verification ignored: no person's card on this screen")
            return []
        self._session.staff_photo = item.photo_jpeg
        return self.flow.handle(StaffVerified(item.staff_number, item.reason))

    def _look_up(self, store: Store) -> Event:
        id_number = self._session.id_number
        if id_number is None:
            return PensionerNotFound()
        try:
            pensioner = store.get_pensioner(id_number)
            if pensioner is None:
                return PensionerNotFound()
            if not store.has_reference(id_number):
                return ReferenceMissing(pensioner.last_certified)
            news = review_news(store, id_number, today(self._clock))
        except StorageError as exc:
            return DeviceFailed(exc.code)
        return PensionerFound(pensioner.last_certified, review=news.decision if news else None)

    def _run_match(self, store: Store) -> None:
        id_number = self._session.id_number
        session = self.flow.view.session_id
        frames = self._liveness.best_frames()
        self._session.evidence = frames[0] if frames else None
        try:
            sourced = self._references_for_match(store, id_number) if id_number else []
        except KeyUnavailableError as exc:
            self.post(DeviceFailed(exc.code))
            return
        self._session.reference_sources = tuple(source for source, _ in sourced)
        references = [template for _, template in sourced]
        if not references:
            self.post(Mismatched(Outcome.NO_REFERENCE))
            return
        if not frames:
            # Imported here: camera.matching loads OpenCV, which the session's own tests do not need.
            from camera.matching.errors import MatchReason  # noqa: PLC0415

            self.post(Mismatched(MatchReason.NO_USABLE_FACE))
            return
        future = self._matcher.verify(frames, references)
        future.add_done_callback(lambda done: self.post(match_completion(done, session)))

    def _references_for_match(self, store: Store, id_number: str) -> list[tuple[str, np.ndarray]]:
        """(source, template) of the person's references, live ones past their age dropped first."""
        match_settings = self._config.match
        expired = store.expire_live_references(id_number, match_settings.refresh_max_age_days)
        if expired:
            store.audit(self.flow.view.session_id, "live_reference", "expired", {"count": expired})
        return store.sourced_references(id_number)

    def _store_record(self, store: Store, effect: StoreRecord) -> RecordStored | RecordFailed:
        """Stores the attempt's record (with its outbox row); the flow announces the result only
        on :class:`RecordStored`."""
        if effect.outcome == Outcome.STAFF_VERIFIED:
            record = build_staff_record(self._config, self._clock.now(), self.flow.view.session_id,
                                        self._session.id_number, effect, self._session.staff_photo)
        else:
            record = build_record(self._config, self._clock.now(), self.flow.view.session_id, self._session.id_number,
                                  effect, self._liveness.scores(), self._session.match, self._session.evidence)
        try:
            record_id = store.record_attempt(record)
        except KioskError as exc:
            log.warning("record not stored: %s", exc.code)
            return RecordFailed(exc.code)
        log.info("record %s stored: %s (attempt %d)", record_id, effect.outcome, record.attempt)
        self._on_record(record_id, record)
        if record.outcome == Outcome.CERTIFIED:
            try:
                self._consider_live_reference(store)
            except KioskError as exc:  # a refresh is a bonus: the stored certification stands
                log.warning("live reference not considered: %s", exc.code)
        return RecordStored()

    def _consider_live_reference(self, store: Store) -> None:
        """Keeps the live face as a reference when this certification earned one
        (:mod:`kiosk.live_references`); the decision is audited either way, with codes only."""
        match = self._session.match
        if match is None or not self._config.match.refresh_reference_on_success:
            return
        sources = self._session.reference_sources
        distances = match.reference_distances if len(match.reference_distances) == len(sources) else ()
        refused = live_references.refusal(
            self._config.match, matched=match.matched, model=match.model, sources=sources if distances else (),
            distances=distances, attack_score=self._liveness.scores().attack_score)
        store.audit(self.flow.view.session_id, "live_reference", refused or "earned", {"model": match.model})
        if refused is None:
            self._refresh_reference()

    def _refresh_reference(self) -> None:
        """Encodes the best live frame in the matcher; the vector comes back through the queue and
        is stored on this thread (the store belongs to it)."""
        frame, id_number = self._session.evidence, self._session.id_number  # the frame the match used
        if frame is None or id_number is None:
            return
        future = self._matcher.encode(frame)
        future.add_done_callback(lambda done: self.post(encoding_completion(done, id_number)))

    def _keep_live_reference(self, item: LiveReferenceEncoded) -> None:
        assert self._store is not None
        try:
            self._store.refresh_live_reference(item.id_number, item.vector,
                                               max_live=self._config.match.refresh_max_live)
        except (KioskError, ValueError) as exc:
            log.warning("live reference not refreshed: %s", reason_code(exc))
            return
        try:
            self._store.audit(None, "live_reference", "kept", {"max_live": self._config.match.refresh_max_live})
        except KioskError as exc:
            log.warning("kept live reference not audited: %s", exc.code)

    def _wipe(self) -> None:
        self._liveness.wipe()
        self._session = SessionData()

    def _recover_storage(self) -> list[Effect]:
        """Leaves the storage problem behind by itself once the disk has room again."""
        if not self.flow.is_missing("storage"):
            return []
        now = self._clock.monotonic()
        if now - self._disk_checked_at < DISK_RECHECK_S:
            return []
        self._disk_checked_at = now
        return [] if self._disk_problem() else self.flow.handle(DevicesReady(device="storage"))

    def _disk_problem(self) -> str | None:
        data_dir = self._config.terminal.resolved_data_dir()
        try:
            free_mb = free_megabytes(data_dir)
        except OSError:
            return StorageError.code
        return StorageFullError.code if free_mb < self._config.terminal.min_free_disk_mb else None
