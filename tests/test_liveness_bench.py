"""The liveness benchmark module plugs into ``kiosk bench`` (numbers only; nothing here times anything)."""

from __future__ import annotations

import importlib

from kiosk.benchmarks import Measurement


def test_the_module_follows_the_benchmark_convention() -> None:
    module = importlib.import_module("kiosk.benchmarks.liveness")
    assert module.NAME == "liveness"
    result = module.run(None)  # without the shared media it says so instead of guessing
    assert len(result) == 1 and isinstance(result[0], Measurement)
    assert "skipped" in result[0].name and "media" in result[0].note
