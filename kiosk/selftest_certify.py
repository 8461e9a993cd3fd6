"""One headless certification for the self-test, through the terminal's own parts.

Real: :class:`~kiosk.session.SessionController` and its flow, the ``sim://`` reader through
:class:`~kiosk.devices.card_reader.CardReaderAdapter` (the invented sample card), a
:class:`~kiosk.store.Store` with its migrations in a temporary folder, the camera and liveness
challenge through :class:`~kiosk.devices.liveness.LivenessAdapter` (FaceMesh, quality gates,
action detectors and, when configured, the passive attack checks), and 1:1 matching in the
matcher worker process through :class:`~kiosk.devices.matcher.MatcherAdapter` (in the frozen
bundle this also proves the worker process can be spawned from the executable).

The self-test's own: the frames (a clip, decoded as fast as possible instead of in real time), the
"person" (presses start and consents when the screens ask) and a voice that keeps prompt ids.

Privacy: the sample card is an invented person; the reference is made from the clip itself and
deleted with the temporary folder. Nothing is logged but reason codes.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.settings import Action
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.devices.card_reader import CardReaderAdapter
from kiosk.devices.liveness import CameraConfig, LivenessAdapter
from kiosk.devices.matcher import MatcherAdapter
from kiosk.flow import ConsentGiven, FlowView, Speak, StartRequested, State
from kiosk.reasons import Outcome
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store
from reader.samples import sample_card_path

RESULT_TIMEOUT_S = 120.0
"""Longest wait for the result screen (the synthetic run takes about 5 s on two cores)."""
ENCODE_TIMEOUT_S = 60.0
"""Longest wait for the worker to encode the reference (includes loading its models)."""


class _RecordingVoice:
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def speak(self, prompt: Speak) -> None:
        self.prompts.append(prompt.prompt)


@dataclass(frozen=True)
class CertificationRun:
    """How the run ended: final ``state`` and ``outcome`` (a reason code when not certified), the
    stored ``distance`` and ``record_id``, the ``actions`` completed, the states passed through,
    the liveness ``attack_score`` and the seconds it took."""

    state: str
    outcome: str | None
    distance: float | None
    record_id: str | None
    actions: tuple[str, ...]
    states: tuple[str, ...]
    attack_score: float | None
    elapsed_s: float

    @property
    def certified(self) -> bool:
        """True when the person was certified and the record was stored."""
        return self.outcome == Outcome.CERTIFIED and self.record_id is not None


def reference_template(matcher: MatcherAdapter, image: np.ndarray) -> np.ndarray:
    """The 128-d template of the face in ``image``, encoded by the worker process.

    Raises the worker's MatchError (``no_usable_face`` ...) or TimeoutError.
    """
    return np.asarray(matcher.encode(image).result(timeout=ENCODE_TIMEOUT_S).vector, dtype=np.float32)


def run_certification(config: KioskConfig, camera_url: str, template: np.ndarray, matcher: MatcherAdapter,
                      prompts: Sequence[tuple[Action, float]] | None = None, seed: int = 8) -> CertificationRun:
    """Runs one session from card to result in a temporary data folder (deleted afterwards).

    ``camera_url`` is the frame source (``file:``, ``images:``); ``template`` the sample
    pensioner's reference; ``prompts`` fixes when each action is asked (media seconds), else the
    challenge draws them with ``seed``. Raises :class:`~kiosk.errors.KioskError` when the store
    cannot be opened. Never waits longer than :data:`RESULT_TIMEOUT_S` (then reports the state
    reached).
    """
    started = time.monotonic()
    id_number = json.loads(sample_card_path().read_text(encoding="utf-8"))["id_number"]
    with tempfile.TemporaryDirectory(prefix="kiosk-selftest-") as tmp:
        data_dir = Path(tmp) / "data"
        config = config.model_copy(update={"terminal": config.terminal.model_copy(update={"data_dir": data_dir})})
        clock = SystemClock()

        def open_store() -> Store:
            return Store.open(data_dir, data_dir / "keys" / "device.key", clock,
                              evidence_retention_days=config.storage.evidence_retention_days)

        with open_store() as store:  # the roster entry and its reference, before the controller starts
            store.upsert_pensioner(Pensioner(id_number, "SELFTEST", config.terminal.region_code))
            store.add_reference(id_number, template, "staff_enrolment")
        states: list[str] = []
        done = threading.Event()
        records: list[str] = []
        liveness = LivenessAdapter(
            CameraConfig(camera_url, config.camera, config.quality, config.liveness, config.antispoof),
            rng=random.Random(seed), prompts=list(prompts) if prompts else None, realtime=False,
        )
        controller: SessionController

        def on_view(view: FlowView) -> None:  # the controller's thread: act as the person would
            if not states or states[-1] != view.state:
                states.append(str(view.state))
            if view.state is State.STATUS:
                controller.post(StartRequested())
            elif view.state is State.CONSENT:
                controller.post(ConsentGiven())
            elif view.state in (State.RESULT, State.MAINTENANCE):
                done.set()

        controller = SessionController(
            config, clock, store_factory=open_store,
            reader=CardReaderAdapter("sim://", config.reader, clock),
            liveness=liveness, matcher=matcher, voice=_RecordingVoice(),
            on_view=on_view, on_record=lambda record_id, _record: records.append(record_id),
        )
        controller.start()
        try:
            done.wait(RESULT_TIMEOUT_S)
            view = controller.view
        finally:
            controller.stop()
        distance = attack = None
        if records:
            with open_store() as store:
                record = store.get_record(records[-1])
            if record is not None:
                distance, attack = record.match_distance, record.attack_score
    return CertificationRun(str(view.state), view.outcome, distance, records[-1] if records else None,
                            tuple(view.actions_done), tuple(states), attack, time.monotonic() - started)
