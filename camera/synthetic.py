"""Synthetic face observations: for tests and simulators that need landmark sequences without a camera.

A fixed pseudo-random 468-point template stands in for a face shape (seeded, so the same seed is the
same "person" and another seed another person); eye, mouth and pose values are set directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from camera.landmarks import FaceObservation


def face_points(person: int = 0, *, centre: tuple[float, float] = (320.0, 240.0), width_px: float = 200.0) -> np.ndarray:
    """A (468, 3) float32 template for ``person``, ``width_px`` wide around ``centre`` (pixels)."""
    rng = np.random.default_rng(person)
    unit = rng.uniform(-0.5, 0.5, size=(468, 3)).astype(np.float32)
    unit[:, 2] *= 0.2
    points = unit * np.float32(width_px)
    points[:, 0] += np.float32(centre[0])
    points[:, 1] += np.float32(centre[1])
    points.setflags(write=False)
    return points


def observation(*, ear: float = 0.3, ear_left: float | None = None, ear_right: float | None = None,
                mouth: float = 0.02, yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0,
                faces: int = 1, person: int = 0, centre: tuple[float, float] = (320.0, 240.0),
                width_px: float = 200.0, image_size: tuple[int, int] = (640, 480)) -> FaceObservation:
    """One observation with the given ratios (unitless), angles (degrees) and geometry (pixels)."""
    points = face_points(person, centre=centre, width_px=width_px)
    half = width_px / 2.0
    return FaceObservation(
        box=(centre[0] - half, centre[1] - half * 1.2, centre[0] + half, centre[1] + half * 1.2),
        points=points,
        ear_left=ear if ear_left is None else ear_left,
        ear_right=ear if ear_right is None else ear_right,
        mouth_ratio=mouth,
        yaw_deg=yaw_deg,
        pitch_deg=pitch_deg,
        roll_deg=roll_deg,
        face_count=faces,
        image_size=image_size,
    )


def timeline(fps: float, segments: Iterable[tuple[float, dict[str, object] | None]], start_s: float = 0.0
             ) -> Iterator[tuple[float, FaceObservation | None]]:
    """Frames at ``fps`` through ``segments`` of (duration seconds, observation keywords or None for
    no face): yields (t_s, observation or None)."""
    t = start_s
    step = 1.0 / fps
    for duration, kwargs in segments:
        end = t + duration
        while t < end - 1e-9:
            yield round(t, 6), (observation(**kwargs) if kwargs is not None else None)  # type: ignore[arg-type]
            t += step
