"""The challenge engine: prompts, windows, random plans, identity and pauses (synthetic sequences)."""

from __future__ import annotations

import random

import pytest

from camera.challenge import ChallengeEngine, draw_plan
from camera.errors import CameraReason
from camera.quality import QualityReport
from camera.settings import LivenessSettings
from camera.synthetic import timeline

FPS = 30.0
OPEN = {"ear": 0.3}
BLINK = {"ear": 0.05}
WIDE = {"mouth": 0.7}


def settings_with(config, **changes) -> LivenessSettings:
    return config.liveness.model_copy(update=changes)


def drive(engine: ChallengeEngine, segments, start_s: float = 0.0, finish: bool = True):
    state = engine.state()
    last_t = start_s
    for t, obs in timeline(FPS, segments, start_s=start_s):
        quality = QualityReport(None) if obs is not None else QualityReport(CameraReason.NO_FACE)
        state = engine.step(t, obs, quality)
        last_t = t
        if state.phase == "done":
            return state
    return engine.finish(last_t) if finish else state


def live_engine(config, plan: list[str], **changes) -> ChallengeEngine:
    engine = ChallengeEngine(settings_with(config, **changes), random.Random(0), hold_s=config.quality.hold_s)
    engine.plan = list(plan)  # fix the drawn plan so the sequence below matches it
    return engine


def test_plans_are_random_distinct_and_sized_from_config(config) -> None:
    s = settings_with(config, actions=["blink", "mouth_open", "turn_left", "turn_right"],
                      min_actions_per_session=1, actions_per_session=3)
    rng = random.Random(42)
    plans = [tuple(draw_plan(s, rng)) for _ in range(300)]
    assert {len(p) for p in plans} == {1, 2, 3}
    assert all(len(set(p)) == len(p) for p in plans)
    assert len({p for p in plans if len(p) == 2}) > 6  # orders vary
    assert draw_plan(s, random.Random(7)) == draw_plan(s, random.Random(7))  # seeded = reproducible


def test_the_live_flow_positions_measures_prompts_and_passes(config) -> None:
    engine = live_engine(config, ["blink", "mouth_open"])
    # 0.5 s hold + 1.0 s baseline, then the blink prompt at about 1.5 s.
    state = drive(engine, [(2.0, OPEN), (0.1, BLINK), (0.5, OPEN), (0.6, WIDE), (0.5, OPEN)])
    assert state.phase == "done" and state.failure is None
    assert [o.action for o in state.outcomes] == ["blink", "mouth_open"]
    assert all(o.passed for o in state.outcomes)
    blink, mouth = state.outcomes
    assert blink.prompt_s == pytest.approx(1.5, abs=0.1)
    assert mouth.prompt_s == pytest.approx(blink.done_s)  # the next prompt follows the done action


def test_a_blink_that_started_before_its_prompt_does_not_count(config) -> None:
    engine = live_engine(config, ["blink"], action_timeout_s=1.0)
    # The eyes close at 1.45 s, before the prompt at ~1.5 s, and reopen after it.
    state = drive(engine, [(1.45, OPEN), (0.15, BLINK), (2.0, OPEN)])
    assert state.failure == CameraReason.ACTION_TIMEOUT
    assert state.outcomes[0].passed is False and state.outcomes[0].done_s is None


def test_no_action_times_out_after_the_window(config) -> None:
    engine = live_engine(config, ["mouth_open"], action_timeout_s=2.0)
    state = drive(engine, [(6.0, OPEN)])
    assert state.failure == CameraReason.ACTION_TIMEOUT
    assert state.outcomes[0].prompt_s == pytest.approx(1.5, abs=0.1)


def test_the_wrong_action_does_not_count(config) -> None:
    engine = live_engine(config, ["mouth_open"], action_timeout_s=2.0)
    state = drive(engine, [(2.0, OPEN), (0.1, BLINK), (3.0, OPEN)])
    assert state.failure == CameraReason.ACTION_TIMEOUT


def test_losing_the_face_pauses_and_reprompts(config) -> None:
    engine = live_engine(config, ["blink"], action_timeout_s=2.0)
    # Prompted at ~1.5 s; gone from 2.0 to 5.0 s (longer than the window): no timeout while paused,
    # prompted again when back, then blinks.
    state = drive(engine, [(2.0, OPEN), (3.0, None), (0.5, OPEN), (0.1, BLINK), (0.5, OPEN)])
    assert state.failure is None
    assert state.outcomes[0].passed
    assert state.outcomes[0].prompt_s == pytest.approx(5.0, abs=0.05)


def test_losing_the_face_too_often_fails_with_face_lost(config) -> None:
    engine = live_engine(config, ["blink"], max_reprompts=1)
    segments = [(2.0, OPEN)] + [(1.0, None), (0.3, OPEN)] * 3
    state = drive(engine, segments)
    assert state.failure == CameraReason.FACE_LOST


def test_a_short_dropout_is_forgiven(config) -> None:
    engine = live_engine(config, ["blink"], action_timeout_s=3.0)
    state = drive(engine, [(2.0, OPEN), (0.2, None), (0.3, OPEN), (0.1, BLINK), (0.5, OPEN)])
    assert state.failure is None
    assert state.outcomes[0].prompt_s == pytest.approx(1.5, abs=0.1)  # no re-prompt


def test_a_jumping_face_is_another_face(config) -> None:
    engine = live_engine(config, ["blink"])
    state = drive(engine, [(2.0, OPEN), (0.5, {**OPEN, "centre": (520.0, 240.0)})])
    assert state.failure == CameraReason.FACE_CHANGED


def test_a_different_face_after_a_dropout_is_caught(config) -> None:
    engine = live_engine(config, ["blink"])
    state = drive(engine, [(2.0, OPEN), (1.0, None), (1.0, {**OPEN, "person": 99})])
    assert state.failure == CameraReason.FACE_CHANGED


def test_the_same_face_moving_slowly_is_fine(config) -> None:
    engine = live_engine(config, ["blink"])
    segments = [(2.0, OPEN)] + [(0.1, {**OPEN, "centre": (320.0 + 4 * i, 240.0)}) for i in range(20)]
    segments += [(0.1, BLINK), (0.5, OPEN)]
    state = drive(engine, segments)
    assert state.failure is None


def test_positioning_waits_for_quality_to_hold(config) -> None:
    engine = live_engine(config, ["blink"])
    for i in range(60):  # 2 s of a face that keeps failing a gate
        state = engine.step(i / FPS, None, QualityReport(CameraReason.OFF_CENTRE))
    assert state.phase == "positioning" and state.hint == CameraReason.OFF_CENTRE


def test_replay_prompts_judge_every_action_in_its_own_window(config) -> None:
    s = settings_with(config, action_timeout_s=5.0)
    engine = ChallengeEngine(s, random.Random(0), hold_s=0.5, prompts=[("mouth_open", 3.0), ("blink", 1.0)])
    assert engine.plan == ["blink", "mouth_open"]  # sorted by time
    # A blink at 2.0 (in the blink window), no mouth opening at all.
    state = drive(engine, [(2.0, OPEN), (0.1, BLINK), (6.0, OPEN)])
    assert state.phase == "done" and state.failure == CameraReason.ACTION_TIMEOUT
    assert [(o.action, o.passed) for o in state.outcomes] == [("blink", True), ("mouth_open", False)]
    assert state.outcomes[1].prompt_s == 3.0


def test_replay_prompt_after_the_clip_end_fails(config) -> None:
    engine = ChallengeEngine(config.liveness, random.Random(0), hold_s=0.5, prompts=[("blink", 10.0)])
    state = drive(engine, [(2.0, OPEN), (0.1, BLINK), (1.0, OPEN)])
    assert state.failure == CameraReason.ACTION_TIMEOUT
    assert state.outcomes[0].passed is False


def test_events_only_replay_never_fails_the_challenge(config) -> None:
    engine = ChallengeEngine(config.liveness, random.Random(0), hold_s=0.5, prompts=[])
    state = drive(engine, [(2.0, OPEN), (0.1, BLINK), (1.0, OPEN)])
    assert state.failure is None and state.outcomes == ()
    assert [e.kind for e in engine.events] == ["blink"]


def test_replay_credits_an_event_that_starts_in_its_window_and_ends_after_it(config) -> None:
    """Prompts 0.1 s apart: the blink starts inside the first window and reopens inside the second."""
    engine = ChallengeEngine(config.liveness, random.Random(0), hold_s=0.5,
                             prompts=[("blink", 2.0), ("mouth_open", 2.1)])
    state = drive(engine, [(2.02, OPEN), (0.15, BLINK), (0.3, OPEN), (0.6, WIDE), (0.5, OPEN)])
    assert [(o.action, o.passed) for o in state.outcomes] == [("blink", True), ("mouth_open", True)]
    assert state.failure is None


def test_a_second_face_during_the_actions_names_the_failure_multiple_faces(config) -> None:
    """Issue 19: a helper who stays in the picture is refused for that, not for a missed action."""
    crowded = {"ear": 0.3, "faces": 2}
    engine = live_engine(config, ["blink"], action_timeout_s=2.0)
    state = drive(engine, [(2.0, OPEN), (4.0, crowded)])  # the clip ends with two faces in view
    assert state.failure == CameraReason.MULTIPLE_FACES
    engine = live_engine(config, ["blink"], max_reprompts=1)
    state = drive(engine, [(2.0, OPEN)] + [(1.0, crowded), (0.3, OPEN)] * 3)
    assert state.failure == CameraReason.MULTIPLE_FACES
    # Two faces before the actions only keep positioning waiting; a miss after is still a miss.
    engine = live_engine(config, ["mouth_open"], action_timeout_s=2.0)
    state = drive(engine, [(1.0, crowded), (6.0, OPEN)])
    assert state.failure == CameraReason.ACTION_TIMEOUT
