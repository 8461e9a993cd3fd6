"""The composition root: a running terminal is a session controller, its device adapters, the
matcher worker process and the background sync worker, built from the configuration.

``kiosk run``, ``kiosk demo`` and ``kiosk certify --headless`` all build a :class:`KioskRuntime`;
only the voice, the callbacks and the device URLs differ.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from camera.settings import Action
from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.devices.card_reader import CardReaderAdapter
from kiosk.devices.liveness import CameraConfig, LivenessAdapter
from kiosk.devices.matcher import MatcherAdapter
from kiosk.devices.presence import PresenceWatcher
from kiosk.flow import Event, FlowView
from kiosk.ports import Preview, VoicePort
from kiosk.session import SessionController
from kiosk.store import CertificationRecord, Store
from reader.card import IdCard
from reader.errors import ReaderError, ReaderReason

log = logging.getLogger(__name__)


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
        rng: random.Random | None = None,
        matcher: MatcherAdapter | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._devices = devices
        self._callbacks = dict(voice=voice, on_view=on_view, on_preview=on_preview,
                               on_staff_called=on_staff_called, on_record=on_record)
        self._with_sync = with_sync
        self._rng = rng
        self._own_matcher = matcher is None  # a matcher handed in is the caller's to close
        self.matcher: MatcherAdapter | None = matcher
        self.controller: SessionController | None = None
        self.sync = None
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
                self.matcher = MatcherAdapter(config.match)
            self._card_reader = CardReaderAdapter(devices.reader_url, config.reader, self._clock)
            liveness = LivenessAdapter(
                CameraConfig(devices.camera_url, config.camera, config.quality, config.liveness, config.antispoof),
                rng=self._rng, prompts=devices.prompts, realtime=devices.realtime_camera,
            )
            self.controller = SessionController(
                config, self._clock,
                store_factory=lambda: Store.from_config(config, self._clock),
                reader=self._card_reader,
                liveness=liveness, matcher=self.matcher, presence=self._presence(), **self._callbacks,
            )
            self.controller.start()
            if self._with_sync:
                from kiosk.sync import SyncWorker

                self.sync = SyncWorker(config, self._clock)
                self.sync.start()
        except BaseException:
            self.stop()
            raise

    def _presence(self) -> PresenceWatcher | None:
        if not self._devices.watch_for_people:
            return None
        return PresenceWatcher(self._devices.camera_url, self.config.camera)

    def read_card_now(self, timeout_s: float) -> IdCard:
        """The technician's test read through the running reader service (the port has one owner).
        Raises :class:`~reader.errors.ReaderError`."""
        if self._card_reader is None:
            raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the kiosk is not running")
        return self._card_reader.read_card_now(timeout_s)

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
        if self.sync is not None:
            self.sync.stop()
            self.sync = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.matcher is not None and self._own_matcher:
            self.matcher.close()
            self.matcher = None
