"""Live references (issue 15, item 4): the earning rule (pure), and the store's cap, expiry,
encryption and the official reference that is never replaced (real SQLite in memory / on disk)."""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from kiosk import live_references
from kiosk.clock import FakeClock
from kiosk.config import load_config
from kiosk.store import DeviceKey, Pensioner, Store

ID = "11010519491231002X"


@pytest.fixture
def settings():
    base = load_config().match
    return base.model_copy(update={"refresh_reference_on_success": True})


def refusal(settings, sources=("roster_photo",), distances=(0.30,), matched=True, model="sface", attack=0.05):
    return live_references.refusal(settings, matched=matched, model=model, sources=sources, distances=distances,
                                   attack_score=attack)


def test_a_strong_official_match_with_strong_liveness_earns_one(settings) -> None:
    assert live_references.keep_cut(settings, "sface") == pytest.approx(0.8 * 0.57)
    assert refusal(settings) is None
    assert refusal(settings, distances=(0.455,)) is None  # just under the keep cut still earns


def test_a_match_near_the_cut_earns_none(settings) -> None:
    # Every false accept measured sits just under the cut (0.553-0.57 for SFace): it must not be kept.
    assert refusal(settings, distances=(0.50,)) == "official_margin_weak"
    assert refusal(settings, distances=(0.56,)) == "official_margin_weak"
    # The margin is in the deciding model's own scale: dlib's cut is 0.36.
    assert refusal(settings, model="dlib", distances=(0.25,)) is None
    assert refusal(settings, model="dlib", distances=(0.30,)) == "official_margin_weak"


def test_a_match_decided_by_a_live_reference_never_earns_another(settings) -> None:
    # Poisoning: the live reference matches very closely, the official one only weakly (or not at
    # all): a live reference can only have been earned from the official one, so nothing chains.
    sources = ("roster_photo", "live_refresh", "live_refresh")
    assert refusal(settings, sources=sources, distances=(0.60, 0.05, 0.10)) == "official_margin_weak"
    assert refusal(settings, sources=("live_refresh",), distances=(0.05,)) == "no_official_distance"
    assert refusal(settings, sources=sources, distances=(math.nan, 0.05, 0.10)) == "no_official_distance"
    # Any official reference counts (a chip photo beside the roster photo).
    assert refusal(settings, sources=("roster_photo", "chip_photo", "live_refresh"), distances=(0.6, 0.3, 0.1)) is None


def test_weak_or_unknown_liveness_earns_none(settings) -> None:
    assert refusal(settings, attack=0.30) == "liveness_weak"
    assert refusal(settings, attack=None) == "liveness_weak"  # passive checks off: no attack score


def test_off_or_not_matched_earns_none(settings) -> None:
    assert refusal(settings.model_copy(update={"refresh_reference_on_success": False})) == "refresh_off"
    assert refusal(settings, matched=False) == "not_matched"
    assert refusal(settings, model="") == "not_matched"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Store:
    s = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    s.upsert_pensioner(Pensioner(ID, "张三", "110101", None))
    s.add_reference(ID, np.ones(256), "roster_photo")
    return s


def test_at_most_max_live_are_kept_the_oldest_replaced_and_the_official_stays(store: Store, clock: FakeClock) -> None:
    for value in (0.1, 0.2, 0.3):
        store.refresh_live_reference(ID, np.full(256, value), max_live=2)
        clock.advance(3600)
    sourced = store.sourced_references(ID)
    assert [s for s, _ in sourced] == ["roster_photo", "live_refresh", "live_refresh"]
    assert np.allclose(sourced[0][1], 1.0)  # the official reference is never replaced
    assert [float(t[0]) for _, t in sourced[1:]] == pytest.approx([0.2, 0.3])  # 0.1, the oldest, went
    store.refresh_live_reference(ID, np.full(256, 0.4), max_live=1)
    assert [float(t[0]) for _, t in store.sourced_references(ID)] == pytest.approx([1.0, 0.4])
    with pytest.raises(ValueError):
        store.refresh_live_reference(ID, np.full(256, 0.5), max_live=0)


def test_live_references_expire_after_two_cycles_official_ones_never(store: Store, clock: FakeClock) -> None:
    store.refresh_live_reference(ID, np.full(256, 0.1), max_live=2)
    clock.advance(timedelta(days=400).total_seconds())
    store.refresh_live_reference(ID, np.full(256, 0.2), max_live=2)
    clock.advance(timedelta(days=330).total_seconds())  # the first is 730 days old: still counts
    assert store.expire_live_references(ID, 730) == 0
    clock.advance(60)
    assert store.expire_live_references(ID, 730) == 1
    assert [float(t[0]) for _, t in store.sourced_references(ID)] == pytest.approx([1.0, 0.2])
    clock.advance(timedelta(days=5000).total_seconds())
    assert store.expire_live_references(ID, 730) == 1
    assert [s for s, _ in store.sourced_references(ID)] == ["roster_photo"]
    assert store.expire_live_references("110101194001010011", 730) == 0  # not in the roster


def test_live_references_are_encrypted_at_rest(tmp_path: Path, clock: FakeClock) -> None:
    s = Store.open(tmp_path / "data", tmp_path / "key", clock)
    s.upsert_pensioner(Pensioner(ID, "张三", "110101", None))
    template = np.full(256, 0.987654321)
    s.refresh_live_reference(ID, template, max_live=2)
    s.close()
    raw = b"".join(f.read_bytes() for f in (tmp_path / "data").iterdir() if f.is_file())
    assert template.tobytes()[:16] not in raw


def _experiment():
    import importlib.util  # noqa: PLC0415

    path = Path(__file__).resolve().parents[1] / "scripts" / "refresh_experiment.py"
    spec = importlib.util.spec_from_file_location("refresh_experiment", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["refresh_experiment"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_the_experiment_keeps_only_from_the_official_reference_and_caps() -> None:
    experiment = _experiment()
    rules = experiment.Rules(cut=0.57, keep_cut=0.456, max_live=2, max_age_days=730)
    state = experiment.State(unit(1, 0, 0))
    # Official distance 1 - cos: 0.29 earns; 0.5 (accepted, weak) does not.
    assert experiment.attempt(state, unit(1, 1, 0), 1, rules, refresh=True) == (True, True)
    assert experiment.attempt(state, unit(1, 1.7, 0), 2, rules, refresh=True) == (True, False)
    # A face far from the official one but equal to the live one is accepted, never kept (no chain).
    far = unit(0, 1, 0)
    state.live.append((far, 2))
    assert experiment.attempt(state, far, 3, rules, refresh=True) == (True, False)
    assert experiment.attempt(state, far, 3, rules, refresh=False) == (False, False)
    # Two cycles later the live one (kept at visit 2) no longer counts.
    assert experiment.attempt(state, far, 5, rules, refresh=True) == (False, False)
    for visit in (6, 7, 8):
        experiment.attempt(state, unit(1, 0.1 * visit, 0), visit, rules, refresh=True)
    assert [kept for _, kept in state.live] == [7, 8]
