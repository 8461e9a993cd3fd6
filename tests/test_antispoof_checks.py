"""Passive attack checks: each cue on synthetic frames, their combination, and the shared attacks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.antispoof import AttackAssessor, FrameView
from camera.antispoof_checks import BezelCheck, GlareCheck, MoireCheck, MotionCheck, _merge_collinear
from camera.pad import BONA_FIDE, SHARED_PRESENTATIONS, error_rates, evaluate
from camera.synthetic import observation


def face_frame(*, frame_around: bool = False, glare: bool = False) -> tuple[np.ndarray, FrameView]:
    """A mid-grey textured 640x480 frame with a 'face' at the centre, optionally inside a phone-like
    dark frame with a bright border, optionally with a white highlight on the cheek."""
    rng = np.random.default_rng(1)
    image = rng.integers(90, 130, size=(480, 640, 3), dtype=np.uint8)
    obs = observation(centre=(320.0, 240.0), width_px=120.0)
    cv2.ellipse(image, (320, 240), (60, 72), 0, 0, 360, (120, 140, 190), -1)
    if frame_around:
        cv2.rectangle(image, (220, 100), (420, 400), (20, 20, 20), 8)
    if glare:
        cv2.circle(image, (300, 265), 9, (255, 255, 255), -1)
    # Brows (105, 334) and lower lids (145, 374) where a face has them: the glare check leaves out
    # the band between them (spectacle reflections).
    points = obs.points.copy()
    points[[105, 334], 1] = 190.0
    points[[145, 374], 1] = 215.0
    obs = replace(obs, points=points)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image, FrameView(image, gray, obs, 0.0)


def test_bezel_sees_a_frame_around_the_face_and_not_an_open_scene() -> None:
    check = BezelCheck()
    assert check.framed(face_frame(frame_around=True)[1])
    assert not check.framed(face_frame()[1])
    check.observe(face_frame(frame_around=True)[1])
    check.observe(face_frame()[1])
    assert check.score() == pytest.approx(0.5) and check.evidence == 2


def test_an_edge_broken_into_pieces_is_judged_whole() -> None:
    """A print's top edge interrupted by texture comes out of Hough as several pieces."""
    pieces = [[28, 18, 130, 10], [131, 10, 194, 10], [6, 120, 6, 60]]
    merged = _merge_collinear(pieces)
    assert (28, 18, 194, 10) in merged and len(merged) == 2
    assert len(_merge_collinear([[0, 0, 50, 0], [90, 0, 140, 0]])) == 2  # a real gap stays a gap
    assert len(_merge_collinear([[0, 0, 50, 0], [52, 30, 100, 30]])) == 2  # parallel, not collinear


def test_a_bent_edge_is_joined_where_its_pieces_meet() -> None:
    """The shared print's curled top edge as Hough split it: 4 degrees then level, midpoints 6 px
    apart, but continuous where the pieces meet. A step at the meeting point stays two edges."""
    assert _merge_collinear([[0, 20, 112, 12], [124, 10, 195, 10]]) == [(0, 20, 195, 10)]
    assert _merge_collinear([[124, 10, 195, 10], [0, 20, 112, 12]]) == [(0, 20, 195, 10)]  # any order
    assert len(_merge_collinear([[0, 0, 50, 0], [55, 8, 100, 8]])) == 2  # a 8 px step: two edges
    assert _merge_collinear([[10, 0, 10, 60], [12, 66, 13, 140]]) == [(10, 0, 13, 140)]  # vertical too


def test_an_edge_above_the_head_reaching_past_both_sides_is_a_frame() -> None:
    image, view = face_frame()
    cv2.line(image, (150, 120), (490, 120), (255, 255, 255), 3)  # a print's top edge over the hair
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert BezelCheck().framed(FrameView(image, gray, view.face, 0.0))


def test_glare_counts_clipped_colourless_skin_only() -> None:
    check = GlareCheck()
    check.observe(face_frame(glare=True)[1])
    assert check.score() > 0.5
    clean = GlareCheck()
    clean.observe(face_frame()[1])
    assert clean.score() == 0.0


def test_motion_needs_movement_before_it_says_anything() -> None:
    check = MotionCheck()
    _, view = face_frame(frame_around=True)
    for _ in range(5):
        check.observe(view)  # nothing moves: no evidence either way
    assert check.evidence == 0 and check.score() == 0.0


def test_motion_flags_a_face_moving_with_its_surroundings() -> None:
    """The whole picture shifts (a hand-held screen): the strips beside the face move with it."""
    check = MotionCheck()
    image, view = face_frame(frame_around=True)
    for step in range(8):
        shifted = np.roll(image, 3 * step, axis=1)
        obs = observation(centre=(320.0 + 3 * step, 240.0), width_px=120.0)
        check.observe(FrameView(shifted, cv2.cvtColor(shifted, cv2.COLOR_BGR2GRAY), obs, step / 10))
    assert check.evidence >= 5 and check.score() > 0.8


def test_moire_scores_a_fine_periodic_grid_above_smooth_skin() -> None:
    smooth = MoireCheck()
    smooth.observe(face_frame()[1])
    image, view = face_frame()
    grid = image.copy()
    grid[::3, :, :] = (grid[::3, :, :] * 0.6).astype(np.uint8)  # a screen's line structure
    gridded = MoireCheck()
    gridded.observe(FrameView(grid, cv2.cvtColor(grid, cv2.COLOR_BGR2GRAY), view.face, 0.0))
    assert gridded.score() > smooth.score()


class _Fixed:
    def __init__(self, name: str, value: float) -> None:
        self.name, self._value = name, value
        self.calls = 0

    def observe(self, view: FrameView) -> None:
        self.calls += 1

    def score(self) -> float:
        return self._value

    @property
    def evidence(self) -> int:
        return 1


def test_scores_combine_as_independent_evidence(config) -> None:
    assessor = AttackAssessor(config.antispoof, checks=[(_Fixed("a", 0.5), 1.0), (_Fixed("b", 0.5), 0.5)])
    result = assessor.assess()
    assert result.score == pytest.approx(1 - 0.5 * 0.75)
    assert result.is_attack == (result.score > config.antispoof.max_attack_score)
    assert result.check_scores == {"a": 0.5, "b": 0.5}


def test_disabled_checks_never_call_an_attack(config) -> None:
    settings = config.antispoof.model_copy(update={"enabled": False})
    assessor = AttackAssessor(settings, checks=[(_Fixed("a", 1.0), 1.0)])
    image, view = face_frame()
    assert assessor.observe(image, view.gray, view.face, 0.0) is False
    assert assessor.assess().is_attack is False


def test_only_every_nth_frame_with_one_face_is_analysed(config) -> None:
    assessor = AttackAssessor(config.antispoof)
    image, view = face_frame()
    analysed = [assessor.observe(image, view.gray, view.face, i / 30) for i in range(9)]
    assert sum(analysed) == 9 // config.antispoof.every_n_frames
    assert assessor.observe(image, view.gray, observation(faces=2), 1.0) is False
    assert assessor.observe(image, view.gray, None, 1.1) is False


def test_the_checks_take_turns_and_no_frame_pays_for_more_than_one(config) -> None:
    """The first analysed frame goes to every check; after it each analysed frame reaches one check, in turn."""
    settings = config.antispoof.model_copy(update={"every_n_frames": 2})
    checks = [_Fixed(name, 0.0) for name in "abc"]
    assessor = AttackAssessor(settings, checks=[(check, 1.0) for check in checks])
    image, view = face_frame()
    reached = []
    for i in range(13):
        before = [check.calls for check in checks]
        analysed = assessor.observe(image, view.gray, view.face, i / 30)
        names = "".join(check.name for check, calls in zip(checks, before) if check.calls > calls)
        assert analysed == bool(names)
        reached.append(names)
    assert reached == ["abc", "", "b", "", "c", "", "a", "", "b", "", "c", "", "a"]


def test_a_frame_that_ran_the_face_counter_leaves_its_check_to_the_next_frame(config) -> None:
    """Only the first face frame may pay for both (a still image has no other frame)."""
    checks = [_Fixed(name, 0.0) for name in "ab"]
    assessor = AttackAssessor(config.antispoof, checks=[(check, 1.0) for check in checks])
    image, view = face_frame()
    counted = replace(view.face, counter_ran=True)
    reached = []
    for face in (counted, view.face, counted, view.face, view.face):
        before = [check.calls for check in checks]
        assessor.observe(image, view.gray, face, 0.0)
        reached.append("".join(check.name for check, calls in zip(checks, before) if check.calls > calls))
    assert reached == ["ab", "b", "", "a", "b"]


@pytest.mark.media
def test_the_detector_marks_the_frames_it_counted_faces_on(media_dir: Path) -> None:
    from camera.landmarks import LandmarkDetector

    frame = cv2.imread(str(media_dir / "spoof" / "live_person.jpg"))
    with LandmarkDetector(count_every_n=3) as detector:
        marks = [detector.detect(frame).counter_ran for _ in range(7)]
    assert marks == [True, False, False, True, False, False, True]
    with LandmarkDetector(static_images=True) as detector:  # every image counted: nothing to protect
        assert detector.detect(frame).counter_ran is False


@pytest.mark.media
@pytest.mark.slow
def test_every_shared_attack_fails_and_the_live_presentations_pass_the_passive_checks(media_dir: Path, config) -> None:
    # The spoof folder of the PAD registry: the attacks and the live recordings made beside them.
    presentations = {path: species for path, species in SHARED_PRESENTATIONS.items() if path.startswith("spoof/")}
    attacks_on_disk = {f"spoof/{p.name}" for p in (media_dir / "spoof").glob("*_attack.*")}
    assert attacks_on_disk and attacks_on_disk <= set(presentations), "an attack in the media is not in the registry"
    results = evaluate(media_dir, config.camera, config.quality, config.liveness, config.antispoof, presentations)
    assert len(results) == len(presentations)
    for result in results:
        if result.species == BONA_FIDE:
            assert result.passive_accepted, result
        else:
            assert result.session_accepted is False, result  # the whole session rejects every attack
    # Every attack also fails the passive checks on their own (replay b contains blinks, so the
    # actions alone would not stop it).
    assert not any(r.passive_accepted for r in results if r.species != BONA_FIDE), results
    rates = error_rates(results, "session")
    assert all(rate == 0.0 for name, (rate, _) in rates.items() if name.startswith("APCER"))
