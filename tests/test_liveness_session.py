"""The liveness session end to end on synthetic observations: updates, verdict, best frames, codes;
and the liveness settings' own validation."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from pydantic import ValidationError

from camera.errors import CameraError, CameraReason
from camera.liveness import LivenessSession
from camera.settings import LivenessSettings
from camera.synthetic import timeline


class NoDetector:
    """Stands in for FaceMesh: these tests feed observations directly."""

    def detect(self, image):  # pragma: no cover - never called
        raise AssertionError("feed_observation must not run the detector")

    def close(self) -> None:
        pass


def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(120 + rng.integers(-40, 40, size=(480, 640, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)


def session(config, **liveness_changes) -> LivenessSession:
    liveness = config.liveness.model_copy(update=liveness_changes)
    s = LivenessSession(config.quality, liveness, config.antispoof, random.Random(3), detector=NoDetector())
    return s


def play(s: LivenessSession, segments):
    image = textured()
    updates = []
    for t, obs in timeline(30.0, segments):
        updates.append(s.feed_observation(t, obs, image))
        if updates[-1].phase == "done":
            break
    return updates


def test_a_cooperative_person_passes_with_best_frames(config) -> None:
    s = session(config, actions=["blink", "mouth_open"], min_actions_per_session=2, actions_per_session=2)
    plan = s.plan
    segments = [(2.0, {"ear": 0.3})]
    for action in plan:
        segments += [(0.1, {"ear": 0.05}) if action == "blink" else (0.5, {"mouth": 0.7}), (0.6, {"ear": 0.3})]
    updates = play(s, segments)
    phases = [u.phase for u in updates]
    assert phases[0] == "positioning" and "baseline" in phases and "action" in phases and phases[-1] == "done"
    final = updates[-1]
    assert final.verdict is not None and final.verdict.passed
    assert final.verdict.reason == CameraReason.LIVENESS_PASSED and final.verdict.liveness_score == 1.0
    assert set(final.completed) == set(plan)
    assert 1 <= len(final.best_frames) <= config.liveness.best_frames
    prompted = [u for u in updates if u.phase == "action"]
    assert prompted[0].action == plan[0]
    assert prompted[0].action_deadline_s == pytest.approx(prompted[0].action_started_s + config.liveness.action_timeout_s)


def test_no_face_gives_a_hint_and_no_frames_kept(config) -> None:
    s = session(config)
    updates = play(s, [(1.0, None)])
    assert {u.hint for u in updates} == {CameraReason.NO_FACE}
    final = s.finish()
    assert final.phase == "done" and not final.verdict.passed
    assert final.verdict.reason == CameraReason.CLIP_ENDED and final.best_frames == ()


def test_a_finished_session_stays_finished(config) -> None:
    s = session(config)
    final = s.finish()
    assert s.feed_observation(10.0, None, textured()) is final


def test_reason_codes_are_flat_snake_case_and_unique_across_the_project() -> None:
    values = [reason.value for reason in CameraReason]
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", v) for v in values)
    assert len(set(values)) == len(values)
    others: set[str] = set()
    for module, name in (("reader.errors", "ReaderReason"), ("camera.matching.errors", "MatchReason")):
        try:
            enum = getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            continue
        others |= {member.value for member in enum}
    assert not others & set(values), sorted(others & set(values))
    error = CameraError(CameraReason.CAMERA_UNAVAILABLE, "camera device:0 could not be opened")
    assert error.code == "camera_unavailable" and "device:0" in error.message


@pytest.mark.parametrize(
    "changes",
    [
        {"min_actions_per_session": 3, "actions_per_session": 2},
        {"actions": ["blink", "blink"], "actions_per_session": 2},
        {"blink_close_fraction": 0.8, "blink_open_fraction": 0.7},
        {"mouth_close_ratio": 0.5, "mouth_open_min_ratio": 0.4},
        {"blink_min_s": 0.9, "blink_max_s": 0.8},
        {"actions": []},
        {"actions": ["wink"]},
    ],
)
def test_inconsistent_liveness_settings_are_refused(config, changes) -> None:
    data = {**config.liveness.model_dump(), **changes}
    with pytest.raises(ValidationError):
        LivenessSettings(**data)
