"""One headless certification for the self-test, through the terminal's own parts.

Real, through :func:`kiosk.headless.certify_once` (the same runner as ``kiosk certify --headless``):
:class:`~kiosk.session.SessionController` and its flow, the ``sim://`` reader through
:class:`~kiosk.devices.card_reader.CardReaderAdapter` (the invented sample card), a
:class:`~kiosk.store.Store` with its migrations in a temporary folder, the camera and liveness
challenge through :class:`~kiosk.devices.liveness_adapter.LivenessAdapter` (FaceMesh, quality gates,
action detectors and, when configured, the passive attack checks), and 1:1 matching in the
matcher worker process through :class:`~kiosk.devices.matcher_adapter.MatcherAdapter` (in the frozen
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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camera.settings import Action
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.devices.matcher_adapter import MatcherAdapter
from kiosk.headless import certify_once
from kiosk.reasons import Outcome
from kiosk.runtime import Devices
from kiosk.store import Pensioner, Store
from reader.samples import sample_card_path

RESULT_TIMEOUT_S = 120.0
"""Longest wait for the result screen (the synthetic run takes about 5 s on two cores)."""
ENCODE_TIMEOUT_S = 60.0
"""Longest wait for the worker to encode the reference (includes loading its models)."""


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
        # A throw-away data folder with its own key (a site file may point key_file at the real one).
        terminal = config.terminal.model_copy(update={"data_dir": Path(tmp) / "data", "key_file": Path("keys/device.key")})
        config = config.model_copy(update={"terminal": terminal})
        clock = SystemClock()
        with Store.from_config(config, clock) as store:  # the roster entry and its reference
            store.upsert_pensioner(Pensioner(id_number, "SELFTEST", config.terminal.region_code))
            store.add_reference(id_number, template, "staff_enrolment")
        devices = Devices("sim://", camera_url, list(prompts) if prompts else None,
                          realtime_camera=False, watch_for_people=False)
        run = certify_once(config, devices, RESULT_TIMEOUT_S, matcher=matcher, rng=random.Random(seed))
        distance = attack = None
        if run.record_ids:
            with Store.from_config(config, clock) as store:
                record = store.get_record(run.record_ids[-1])
            if record is not None:
                distance, attack = record.match_distance, record.attack_score
    view = run.view
    return CertificationRun(str(view.state), view.outcome, distance, run.record_ids[-1] if run.record_ids else None,
                            tuple(view.actions_done), run.states, attack, time.monotonic() - started)
