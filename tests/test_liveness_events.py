"""Event detectors (blink, mouth opening, turn) on synthetic landmark sequences.

The real-clip checks against the shared annotations are in test_liveness_clips.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from camera.events import EventDetector
from camera.settings import LivenessSettings
from camera.synthetic import timeline


@pytest.fixture
def settings(config) -> LivenessSettings:
    return config.liveness


def run(settings: LivenessSettings, segments, fps: float = 30.0, frontal=lambda t: True):
    detector = EventDetector(settings)
    events = []
    for t, obs in timeline(fps, segments):
        events.extend(detector.feed(t, obs, frontal=frontal(t)))
    events.extend(detector.finish())
    return events


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_a_blink_of_both_eyes_is_found_at_its_start(settings) -> None:
    events = run(settings, [(1.0, {"ear": 0.3}), (0.1, {"ear": 0.05}), (1.0, {"ear": 0.3})])
    assert kinds(events) == ["blink"]
    assert events[0].start_s == pytest.approx(1.0, abs=0.04)
    assert events[0].end_s == pytest.approx(1.1, abs=0.04)


def test_a_one_eye_wink_is_not_a_blink(settings) -> None:
    events = run(settings, [(1.0, {"ear": 0.3}), (0.2, {"ear_left": 0.04, "ear_right": 0.3}), (1.0, {"ear": 0.3})])
    assert kinds(events) == []


def test_a_long_closure_is_not_a_blink(settings) -> None:
    events = run(settings, [(1.0, {"ear": 0.3}), (settings.blink_max_s + 0.3, {"ear": 0.05}), (1.0, {"ear": 0.3})])
    assert kinds(events) == []


def test_narrow_eyes_blink_relative_to_their_own_baseline(settings) -> None:
    """A person whose open eyes read 0.15 (glasses, narrow eyes, smiling) still blinks."""
    events = run(settings, [(1.5, {"ear": 0.15}), (0.1, {"ear": 0.06}), (1.0, {"ear": 0.15})])
    assert kinds(events) == ["blink"]


def test_narrow_eyes_alone_are_not_a_blink_for_a_wide_eyed_baseline(settings) -> None:
    """Hysteresis: a dip that does not reach the closing fraction never starts a blink."""
    events = run(settings, [(1.0, {"ear": 0.3}), (0.2, {"ear": 0.3 * (settings.blink_close_fraction + 0.05)}),
                            (1.0, {"ear": 0.3})])
    assert kinds(events) == []


def test_a_held_wide_mouth_counts_once_when_held_long_enough(settings) -> None:
    events = run(settings, [(1.0, {"mouth": 0.02}), (1.0, {"mouth": 0.7}), (1.0, {"mouth": 0.02})])
    assert kinds(events) == ["mouth_open"]
    event = events[0]
    assert event.start_s == pytest.approx(1.0, abs=0.04)
    assert event.end_s == pytest.approx(1.0 + settings.mouth_open_min_s, abs=0.05)


def test_talking_is_not_a_deliberate_mouth_opening(settings) -> None:
    """Speech: the ratio swings 0.05-0.3 with brief peaks near 0.45 lasting a frame or three."""
    segments = [(1.0, {"mouth": 0.02})]
    for _ in range(12):
        segments += [(0.1, {"mouth": 0.25}), (0.08, {"mouth": 0.45}), (0.12, {"mouth": 0.08})]
    assert kinds(run(settings, segments)) == []


def test_a_smiling_baseline_raises_the_mouth_threshold(settings) -> None:
    """A mouth resting at 0.2 (smile, open lips) must rise by the configured amount, not just pass 0.4."""
    rest = 0.2
    small = rest + settings.mouth_open_min_rise_ratio * 0.7
    events = run(settings, [(2.0, {"mouth": rest}), (1.0, {"mouth": small}), (1.0, {"mouth": rest})])
    assert kinds(events) == []
    events = run(settings, [(2.0, {"mouth": rest}), (1.0, {"mouth": rest + settings.mouth_open_min_rise_ratio + 0.1}),
                            (1.0, {"mouth": rest})])
    assert kinds(events) == ["mouth_open"]


def test_turns_are_relative_to_the_straight_ahead_yaw(settings) -> None:
    events = run(settings, [(1.0, {"yaw_deg": 5.0}), (0.6, {"yaw_deg": 5.0 + settings.turn_min_deg + 5}),
                            (0.6, {"yaw_deg": 5.0}), (0.6, {"yaw_deg": 5.0 - settings.turn_min_deg - 5})])
    assert kinds(events) == ["turn_left", "turn_right"]


def test_losing_the_face_mid_blink_drops_the_blink(settings) -> None:
    events = run(settings, [(1.0, {"ear": 0.3}), (0.05, {"ear": 0.05}), (0.1, None), (0.05, {"ear": 0.05}),
                            (1.0, {"ear": 0.3})])
    assert kinds(events) == []


def test_frames_not_frontal_abort_eye_events_but_not_turns(settings) -> None:
    events = run(settings, [(1.0, {"ear": 0.3}), (0.1, {"ear": 0.05}), (1.0, {"ear": 0.3})],
                 frontal=lambda t: not 0.95 <= t <= 1.2)
    assert kinds(events) == []
    events = run(settings, [(1.0, {}), (1.0, {"yaw_deg": settings.turn_min_deg + 10})], frontal=lambda t: t < 1.0)
    assert kinds(events) == ["turn_left"]


def test_time_going_backwards_is_refused(settings) -> None:
    detector = EventDetector(settings)
    detector.feed(1.0, None)
    with pytest.raises(ValueError, match="backwards"):
        detector.feed(0.5, None)


def test_no_event_before_a_baseline_exists(settings) -> None:
    """The very first frames cannot be judged: a closed-eye start is not a blink."""
    events = run(settings, [(0.1, {"ear": 0.05}), (1.0, {"ear": 0.3})])
    assert kinds(events) == []


from hypothesis import given, settings as hypothesis_settings, strategies as st  # noqa: E402

from camera.synthetic import observation  # noqa: E402


def shipped_liveness() -> LivenessSettings:
    """The shipped defaults of config/kiosk.toml, read once (the function-scoped ``config`` fixture
    does not suit @given, and no site file or environment may change them here)."""
    import tomllib

    from kiosk.paths import default_config_file

    with open(default_config_file(), "rb") as handle:
        return LivenessSettings(**tomllib.load(handle)["liveness"])


SHIPPED = shipped_liveness()

_frames = st.lists(
    st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.floats(0.0, 1.0), st.floats(-40.0, 40.0),
              st.booleans()),
    min_size=1, max_size=120,
)


@hypothesis_settings(max_examples=60, deadline=None)
@given(frames=_frames)
def test_any_sequence_gives_well_formed_events(frames) -> None:
    s = SHIPPED
    detector = EventDetector(s)
    events = []
    for i, (left, right, mouth, yaw, present) in enumerate(frames):
        obs = observation(ear_left=left, ear_right=right, mouth=mouth, yaw_deg=yaw) if present else None
        events.extend(detector.feed(i / 30.0, obs))
    events.extend(detector.finish())
    last_t = (len(frames) - 1) / 30.0
    for event in events:
        assert 0.0 <= event.start_s <= event.peak_s <= event.end_s <= last_t + 1e-9
        if event.kind == "blink":
            assert s.blink_min_s <= event.end_s - event.start_s <= s.blink_max_s
        if event.kind == "mouth_open":
            assert event.end_s - event.start_s >= s.mouth_open_min_s - 1e-9
    assert [e.end_s for e in events] == sorted(e.end_s for e in events)


@hypothesis_settings(max_examples=60, deadline=None)
@given(left=st.lists(st.floats(0.0, 0.4), min_size=10, max_size=120))
def test_one_eye_alone_never_makes_a_blink(left) -> None:
    detector = EventDetector(SHIPPED)
    events = []
    for i, value in enumerate(left):
        events.extend(detector.feed(i / 30.0, observation(ear_left=value, ear_right=0.3)))
    assert not [e for e in events if e.kind == "blink"]


def test_the_baseline_percentiles_are_numpys() -> None:
    """The baseline reads its percentiles off one sorted window; they must be numpy's (linear)."""
    from camera.events import _percentile

    rng = np.random.default_rng(7)
    for size in (1, 2, 5, 6, 61, 90):
        values = rng.normal(0.3, 0.05, size)
        ordered = np.sort(values)
        for q in (0, 20, 50, 75, 100):
            assert _percentile(ordered, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-15)
