"""The composition root: a running terminal is a session controller, its device adapters, the
matcher worker process and the background sync worker, built from the configuration, and the
technician services that borrow them.

``kiosk run``, ``kiosk demo`` and ``kiosk certify --headless`` all build a :class:`KioskRuntime`;
only the voice, the callbacks and the device URLs differ. The window is shown before the runtime
has started (the idle screen must come first), so the technician services are built over a
:class:`KioskSlot` that the runtime is put into once it runs (:func:`technician_services`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from camera.matching.errors import MatchError, MatchReason
from camera.settings import Action
from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.devices.card_reader import CardReaderAdapter
from kiosk.devices.liveness_adapter import CameraConfig, LivenessAdapter
from kiosk.devices.matcher_adapter import MatcherAdapter
from kiosk.devices.on_demand_matcher import OnDemandMatcher
from kiosk.devices.presence import PresenceWatcher
from kiosk.flow import Event, FlowView
from kiosk.ports import Preview, VoicePort
from kiosk.session import SessionController
from kiosk.store import CertificationRecord, Store
from kiosk.technician_services import TechnicianServices, camera_preview
from reader.card import IdCard
from reader.errors import ReaderError, ReaderReason

if TYPE_CHECKING:
    from kiosk.staff_calls import StaffCallService
    from kiosk.sync import SyncReport, SyncStatus, SyncWorker

log = logging.getLogger(__name__)

TECHNICIAN_READ_TIMEOUT_S = 15.0
"""How long the technician's test read waits for a card to be laid on the reader (seconds)."""

ENROL_TIMEOUT_S = 30.0
"""How long an enrolment photo may take to encode in the matcher process (seconds; about 0.7 s,
longer only while a certification's match is queued before it)."""


@dataclass(frozen=True)
class Devices:
    """Where the devices are for this run (defaults: the configuration's URLs)."""

    reader_url: str
    camera_url: str
    prompts: list[tuple[Action, float]] | None = None
    realtime_camera: bool = True
    watch_for_people: bool = True


class KioskRuntime:
    """Everything a running terminal needs, started and stopped together.

    Thread rules: construct and call :meth:`start` / :meth:`stop` from one thread (any, not
    necessarily the GUI's); :meth:`post` is thread-safe. Callbacks run on the controller's thread.
    """

    def __init__(
        self,
        config: KioskConfig,
        clock: Clock,
        devices: Devices,
        *,
        voice: VoicePort,
        on_view: Callable[[FlowView], None] = lambda _view: None,
        on_preview: Callable[[Preview], None] | None = None,
        on_staff_called: Callable[[], None] = lambda: None,
        on_record: Callable[[str, CertificationRecord], None] = lambda _id, _record: None,
        with_sync: bool = True,
        with_staff_calls: bool = True,
        rng: random.Random | None = None,
        matcher: MatcherAdapter | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._devices = devices
        self._callbacks = dict(voice=voice, on_view=on_view, on_preview=on_preview,
                               on_staff_called=on_staff_called, on_record=on_record)
        self._with_sync = with_sync
        self._with_staff_calls = with_staff_calls
        self.staff_calls: StaffCallService | None = None
        self._rng = rng
        self._own_matcher = matcher is None  # a matcher handed in is the caller's to close
        self.matcher: MatcherAdapter | None = matcher
        self.controller: SessionController | None = None
        self.sync: SyncWorker | None = None
        self._card_reader: CardReaderAdapter | None = None

    def start(self) -> None:
        """Starts the matcher process, the controller (store, reader) and the sync worker.

        Raises :class:`~kiosk.errors.KioskError` when the store cannot be opened or a model is
        missing; what was started is stopped again.
        """
        config = self.config
        devices = self._devices
        try:
            if self.matcher is None:
                # A laptop on home visits loads the face models only while a session needs them.
                self.matcher = (OnDemandMatcher(config.match) if config.terminal.battery_saving  # type: ignore[assignment]
                                else MatcherAdapter(config.match))
            self._card_reader = CardReaderAdapter(devices.reader_url, config.reader, self._clock)
            liveness = LivenessAdapter(
                CameraConfig(devices.camera_url, config.camera, config.quality, config.liveness, config.antispoof),
                rng=self._rng, prompts=devices.prompts, realtime=devices.realtime_camera,
                wait_for_prompts=bool(getattr(self._callbacks["voice"], "reports_prompt_ends", False)),
            )
            if self._with_staff_calls:
                from kiosk.staff_calls import staff_call_service

                self.staff_calls = staff_call_service(config, self._clock, self.post)
            self.controller = SessionController(
                config, self._clock,
                store_factory=lambda: Store.from_config(config, self._clock),
                reader=self._card_reader,
                liveness=liveness, matcher=self.matcher, presence=self._presence(), staff_calls=self.staff_calls,
                **self._callbacks,
            )
            self.controller.start()
            if self.staff_calls is not None:
                self.staff_calls.start()
            if self._with_sync:
                from kiosk.sync import SyncWorker

                self.sync = SyncWorker(config, self._clock)
                self.sync.start()
        except BaseException:
            self.stop()
            raise

    def _presence(self) -> PresenceWatcher | None:
        if not self._devices.watch_for_people or self.config.terminal.battery_saving:
            return None  # battery: the camera opens only for an attempt
        return PresenceWatcher(self._devices.camera_url, self.config.camera)

    def read_card_now(self, timeout_s: float) -> IdCard:
        """The technician's test read through the running reader service (the port has one owner).
        Raises :class:`~reader.errors.ReaderError`."""
        if self._card_reader is None:
            raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the kiosk is not running")
        return self._card_reader.read_card_now(timeout_s)

    def encode_reference(self, image_bgr: np.ndarray, timeout_s: float = ENROL_TIMEOUT_S) -> np.ndarray:
        """Encodes one photo as a reference template (128 floats) in the matcher process, with
        ``match.reference_jitters``. Blocks: call it off the GUI thread. Raises
        :class:`~camera.matching.errors.MatchError` (``matcher_unavailable`` when not running)."""
        if self.matcher is None:
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, "the kiosk is not running")
        return np.asarray(self.matcher.encode(image_bgr).result(timeout=timeout_s).vector)

    def view(self) -> FlowView:
        """The controller's latest view (safe from any thread; call before :meth:`stop`)."""
        if self.controller is None:
            raise RuntimeError("the runtime is not running")
        return self.controller.view

    def post(self, event: Event) -> None:
        """Hands a UI event to the controller (thread-safe)."""
        if self.controller is not None:
            self.controller.post(event)

    def stop(self) -> None:
        """Stops everything that was started (idempotent)."""
        if self.staff_calls is not None:
            self.staff_calls.stop()
            self.staff_calls = None
        if self.sync is not None:
            self.sync.stop()
            self.sync = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.matcher is not None and self._own_matcher:
            self.matcher.close()
            self.matcher = None


class RunningKiosk(Protocol):
    """What the window and the technician services need of a running kiosk; :class:`KioskRuntime`
    is the real one. ``sync`` is the running sync worker, None without one."""

    sync: SyncWorker | None

    def start(self) -> None:
        """Starts everything (blocks while models load: call it off the GUI thread)."""

    def stop(self) -> None:
        """Stops everything that was started (idempotent)."""

    def post(self, event: Event) -> None:
        """Hands a UI event to the controller (thread-safe)."""

    def read_card_now(self, timeout_s: float) -> IdCard:
        """A technician's test read through the running reader service; raises ReaderError."""

    def encode_reference(self, image_bgr: np.ndarray, timeout_s: float = ENROL_TIMEOUT_S) -> np.ndarray:
        """A reference template of one photo, encoded in the matcher process; raises MatchError."""


class KioskSlot:
    """Holds the running kiosk once it has started, for what was built before it (the window, the
    technician services). Thread-safe: :meth:`put` from the thread that started it, :meth:`get`
    from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kiosk: RunningKiosk | None = None

    def put(self, kiosk: RunningKiosk) -> None:
        """The kiosk has started."""
        with self._lock:
            self._kiosk = kiosk

    def get(self) -> RunningKiosk | None:
        """The running kiosk, None while it is starting (or could not start)."""
        with self._lock:
            return self._kiosk


def technician_services(config: KioskConfig, site_config_path: Path, clock: Clock, slot: KioskSlot, *,
                        restart: Callable[[], None] | None = None, exit_app: Callable[[], None] | None = None,
                        with_camera: bool = True) -> TechnicianServices:
    """The technician services of the terminal, over the kiosk in ``slot``: the test read goes
    through its reader service (which owns the port), an enrolment photo is encoded in its matcher
    process, sync goes through its sync worker; the store, the doctor (dlib-loading checks in a
    child process), the log folder and the camera preview (``with_camera``) are the terminal's own.
    Before the kiosk has started the borrowed services raise ``reader_unavailable`` /
    ``matcher_unavailable``. ``restart`` and ``exit_app`` come from the UI (they end its event loop).

    Nothing here loads dlib: the GUI process that calls these never holds it.
    """
    from kiosk.logsetup import log_dir

    def store_factory() -> Store:
        return Store.from_config(config, clock)

    def running() -> RunningKiosk | None:
        return slot.get()

    def read_card() -> IdCard:
        kiosk = running()
        if kiosk is None:
            raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the kiosk is still starting")
        return kiosk.read_card_now(TECHNICIAN_READ_TIMEOUT_S)

    def encode_face(image_bgr: np.ndarray) -> np.ndarray:
        kiosk = running()
        if kiosk is None:
            raise MatchError(MatchReason.MATCHER_UNAVAILABLE, "the kiosk is still starting")
        return kiosk.encode_reference(image_bgr)

    def sync_worker() -> SyncWorker:
        kiosk = running()
        worker = kiosk.sync if kiosk is not None else None
        if worker is None:
            raise RuntimeError("sync is not running")  # shown on the page as its class name
        return worker

    def sync_now() -> SyncReport:
        return sync_worker().run_once()

    def sync_status() -> SyncStatus:
        return sync_worker().status()

    start_preview, stop_preview = camera_preview(config) if with_camera else (None, None)
    return TechnicianServices(
        config=config, site_config_path=site_config_path, store_factory=store_factory, read_card=read_card,
        start_preview=start_preview, stop_preview=stop_preview, encode_face=encode_face, sync_now=sync_now,
        sync_status=sync_status, log_dir=log_dir(config.terminal.resolved_data_dir()), restart=restart, exit=exit_app,
    )
