"""The home-visit matcher (issue 19): models loaded for a match, released when idle, never under a match."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from kiosk.devices.on_demand_matcher import OnDemandMatcher


class FakeAdapter:
    started = 0

    def __init__(self, _settings: object) -> None:
        FakeAdapter.started += 1
        self.closed = False
        self.pending: list[Future] = []

    def verify(self, _frames, _references) -> Future:
        future: Future = Future()
        self.pending.append(future)
        return future

    def encode(self, _image) -> Future:
        return self.verify([], [])

    def close(self) -> None:
        self.closed = True


def test_models_load_for_a_match_and_are_released_only_when_idle(config) -> None:
    now = [0.0]
    matcher = OnDemandMatcher(config.match, release_after_s=60.0, check_every_s=0, factory=FakeAdapter,
                              monotonic=lambda: now[0])
    FakeAdapter.started = 0
    assert not matcher.loaded and not matcher.release_if_idle()
    future = matcher.verify([np.zeros((2, 2, 3), np.uint8)], [])
    assert matcher.loaded and FakeAdapter.started == 1
    adapter = matcher._adapter
    now[0] = 500.0
    assert not matcher.release_if_idle(), "released under a running match"
    adapter.pending[0].set_result("matched")
    assert future.result() == "matched"
    now[0] = 530.0
    assert not matcher.release_if_idle()  # used 30 s ago
    now[0] = 561.0
    assert matcher.release_if_idle() and adapter.closed and not matcher.loaded
    matcher.encode(np.zeros((2, 2, 3), np.uint8))
    assert FakeAdapter.started == 2  # loaded again for the next person
    matcher.close()
    assert not matcher.loaded
