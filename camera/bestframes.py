"""The few best frames of a session, for 1:1 matching.

A frame is worth keeping when it is sharp, frontal and has the eyes open (descriptors from closed
eyes or a turned head match worse). Score = sharpness (variance of the Laplacian, see
:mod:`camera.quality`) x cos(yaw) x cos(pitch), and 0 when the eyes are below 80 % of the person's
own open-eye ratio. Frames closer in time than ``min_gap_s`` compete for one place, so the kept
frames are not near-copies of each other.

Privacy: the kept arrays are the person's face. They live in memory only, for the matcher, and go
with the session. One thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camera.landmarks import FaceObservation


@dataclass(frozen=True, eq=False)
class _Kept:
    score: float
    t_s: float
    image: np.ndarray


class BestFrames:
    """Keeps the ``capacity`` best frames offered (see the module docstring)."""

    def __init__(self, capacity: int, *, min_gap_s: float = 0.2, open_eye_fraction: float = 0.8) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._gap = min_gap_s
        self._open_fraction = open_eye_fraction
        self._kept: list[_Kept] = []

    @staticmethod
    def score(obs: FaceObservation, sharpness: float, open_eye: float | None) -> float:
        """The keep-worthiness of a frame (0 = never keep)."""
        if open_eye is not None and obs.ear_mean < 0.8 * open_eye:
            return 0.0
        frontal = math.cos(math.radians(min(abs(obs.yaw_deg), 89.0))) * math.cos(math.radians(min(abs(obs.pitch_deg), 89.0)))
        return max(0.0, sharpness) * frontal

    def offer(self, image: np.ndarray, obs: FaceObservation, t_s: float, sharpness: float | None,
              *, open_eye: float | None = None) -> bool:
        """Considers one frame (``sharpness`` None = unknown, then not kept); True when kept."""
        if sharpness is None:
            return False
        score = self.score(obs, sharpness, open_eye)
        if score <= 0.0:
            return False
        near = [k for k in self._kept if abs(k.t_s - t_s) < self._gap]
        if near:
            if all(score > k.score for k in near):
                self._kept = [k for k in self._kept if k not in near]
            else:
                return False
        elif len(self._kept) >= self._capacity:
            worst = min(self._kept, key=lambda k: k.score)
            if score <= worst.score:
                return False
            self._kept.remove(worst)
        self._kept.append(_Kept(score, t_s, image))
        return True

    def images(self) -> tuple[np.ndarray, ...]:
        """The kept frames, best first (BGR arrays)."""
        return tuple(k.image for k in sorted(self._kept, key=lambda k: -k.score))
