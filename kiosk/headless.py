"""One certification with no window: the runtime of ``kiosk run`` with an operator who answers the
status and consent screens on the person's behalf, and a voice that only remembers prompt ids.

Shared by ``kiosk certify --headless`` and the bundle's self-test, so both go through exactly the
parts a terminal runs (controller, reader adapter, liveness adapter, matcher worker, store).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.devices.matcher_adapter import MatcherAdapter
from kiosk.flow import (
    ConsentGiven, FlowView, HelperRequested, ManualReviewRequested, RetryRequested, Speak, StaffCallShown,
    StartRequested, State,
)
from kiosk.runtime import Devices, KioskRuntime


class RecordingVoice:
    """The voice of a headless run: remembers which prompts were played, plays nothing."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def speak(self, prompt: Speak) -> None:
        self.prompts.append(prompt.prompt)


@dataclass(frozen=True)
class HeadlessRun:
    """How one headless session ended.

    ``view`` is the last view (a result or the maintenance screen; the state reached when
    ``finished`` is False because the time ran out); ``record_ids`` the records stored, in order;
    ``states`` the states passed through; ``prompts`` the prompt ids spoken.
    """

    finished: bool
    view: FlowView
    record_ids: tuple[str, ...]
    states: tuple[str, ...]
    prompts: tuple[str, ...]


def certify_once(config: KioskConfig, devices: Devices, timeout_s: float, *,
                 matcher: MatcherAdapter | None = None, rng: random.Random | None = None,
                 all_attempts: bool = False, request_review: bool = False, helper: bool = False) -> HeadlessRun:
    """Runs one session, from the card on ``devices.reader_url`` to its result, and stops.

    ``matcher``: an already started worker to use (the caller keeps owning it); else the runtime
    starts and ends its own. ``all_attempts``: after a failed attempt the operator touches "再试一次"
    until the attempts run out (the camera source then plays again from its start for each
    attempt); ``request_review``: then also "申请人工审核"; ``helper``: the operator is a family
    helper and touches "家人帮忙操作" on the status screen before "开始认证". A staff call raised on the way (after the
    last attempt, or for a missing reference) is waited for until the centre answered or the call
    was found undeliverable, within ``timeout_s``. Raises :class:`~kiosk.errors.KioskError` when
    the runtime cannot start (store, models).
    """
    finished = threading.Event()
    voice = RecordingVoice()
    states: list[str] = []
    records: list[str] = []
    runtime: KioskRuntime

    def on_view(view: FlowView) -> None:  # the controller's thread: act as the operator would
        if not states or states[-1] != view.state:
            states.append(str(view.state))
        if view.state is State.STATUS:
            runtime.post(HelperRequested() if helper and not view.assisted else StartRequested())
        elif view.state is State.CONSENT:
            runtime.post(ConsentGiven())
        elif view.state is State.RESULT and all_attempts and view.can_retry:
            runtime.post(RetryRequested())
        elif view.state is State.RESULT and request_review and view.manual_review_offered:
            runtime.post(ManualReviewRequested())
        elif view.state in (State.RESULT, State.MAINTENANCE) and view.staff_call is not StaffCallShown.CALLING:
            finished.set()

    runtime = KioskRuntime(config, SystemClock(), devices, voice=voice, on_view=on_view, with_sync=False,
                           on_record=lambda record_id, _record: records.append(record_id), rng=rng,
                           matcher=matcher)
    runtime.start()
    try:
        reached = finished.wait(timeout_s)
        view = runtime.view()
    finally:
        runtime.stop()
    return HeadlessRun(reached, view, tuple(records), tuple(states), tuple(voice.prompts))
