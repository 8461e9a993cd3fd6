"""Passive presentation-attack checks on a single RGB camera, behind one interface.

A phone or tablet replay of a real video contains real blinks, so the action challenge alone does
not stop it (platform.md). Each :class:`PassiveCheck` looks at frames (the checks take turns on
every n-th frame, to bound the cost per frame) and accumulates evidence of an attack; :class:`AttackAssessor` combines the checks'
scores into one attack score in 0..1:

    attack = 1 - prod(1 - weight_i * score_i)

so one confident check is enough and weak checks add up. The decision is ``attack > max_attack_score``.
What each check measures and its measured effect on the shared media are in ``docs/liveness.md``.

Thread rules: a check and the assessor belong to one thread (the liveness session's).
Privacy: a check keeps at most the previous analysed grey frame, in memory, until the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from camera.landmarks import FaceObservation
from camera.settings import AntispoofSettings


@dataclass(frozen=True)
class FrameView:
    """What a check sees of one analysed frame: BGR and grey images, the face, the time (s)."""

    image_bgr: np.ndarray
    gray: np.ndarray
    face: FaceObservation
    t_s: float


class PassiveCheck(Protocol):
    """One passive cue. ``observe`` is fed analysed frames in time order; ``score`` is the evidence so
    far (0 = looks live, 1 = looks like an attack); ``evidence`` how many frames contributed."""

    name: str

    def observe(self, view: FrameView) -> None:
        """Takes one analysed frame with a face; must not raise for a valid frame."""

    def score(self) -> float:
        """Attack evidence in 0..1 (0 when there is none yet)."""

    @property
    def evidence(self) -> int:
        """Number of observations behind :meth:`score`."""


@dataclass(frozen=True)
class AttackAssessment:
    """The combined attack score, each check's own score, and the decision."""

    score: float
    check_scores: dict[str, float]
    is_attack: bool


class AttackAssessor:
    """Runs the enabled checks on every n-th frame with a face and combines their scores."""

    def __init__(self, settings: AntispoofSettings, checks: list[tuple[PassiveCheck, float]] | None = None) -> None:
        from camera.antispoof_checks import default_checks  # the concrete checks live apart

        self._s = settings
        self._checks = checks if checks is not None else default_checks(settings)
        self._active = [check for check, weight in self._checks if weight > 0]  # the ones that observe
        self._frames = 0

    @property
    def checks(self) -> list[tuple[PassiveCheck, float]]:
        """(check, weight) pairs."""
        return list(self._checks)

    def observe(self, image_bgr: np.ndarray, gray: np.ndarray, face: FaceObservation | None, t_s: float) -> bool:
        """Feeds a frame; returns True when a check analysed it.

        Frames with one face are counted; every ``every_n_frames``-th of them is analysed by one
        check, the checks taking turns (the first goes to all of them), so that no frame pays for more
        than one check, nor for a check and the face counter (the live loop's worst-case frame time,
        not just its mean, must stay within the frame period).
        """
        if not self._s.enabled or face is None or face.face_count != 1:
            return False
        if face.counter_ran and self._frames:
            # That frame already paid for the face counter: the turn goes to the next one. Not the
            # first face frame, which every check needs (a still image has no other).
            return False
        self._frames += 1
        if (self._frames - 1) % self._s.every_n_frames:
            return False
        if not self._active:
            return False
        view = FrameView(image_bgr, gray, face, t_s)
        if self._frames == 1:
            for check in self._active:  # the first face frame goes to every check (a still image has one)
                check.observe(view)
            return True
        turn = ((self._frames - 1) // self._s.every_n_frames) % len(self._active)
        self._active[turn].observe(view)
        return True

    def assess(self) -> AttackAssessment:
        """The combined score and decision so far (disabled: score 0, never an attack)."""
        if not self._s.enabled:
            return AttackAssessment(0.0, {}, False)
        scores = {check.name: round(float(check.score()), 4) for check, _ in self._checks}
        live = 1.0
        for check, weight in self._checks:
            live *= 1.0 - weight * scores[check.name]
        combined = 1.0 - live
        return AttackAssessment(round(combined, 4), scores, combined > self._s.max_attack_score)
