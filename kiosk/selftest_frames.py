"""A synthetic camera clip for the self-test: a public-domain portrait that blinks and opens its mouth.

The bundle must prove, on a terminal with no camera attached and no personal data on it, that the
landmark model, the action detectors and the matcher work together. It cannot ship a clip of a
real pensioner (PIPL; ``../shared/media`` never leaves the project), so the clip is made here from
one public-domain photograph (Grace Hopper, U.S. Navy, 1984; shipped with matplotlib as
``sample_data/grace_hopper.jpg`` and bundled by ``kiosk.spec`` as ``selftest/grace_hopper.jpg``).

How the actions are drawn (pixel edits guided by the FaceMesh landmarks of the still, which the
caller has already found: the self-test's landmarks check composes the still and runs FaceMesh once):
- eyes closed: each eye region is covered with skin from just below it and a dark lash line, which
  FaceMesh reads as an eye ratio of about half the open one (the blink detector's cut is 0.6);
- mouth open: the band from the mouth line to below the chin is moved down (the jaw drops) and the
  gap between the lips is filled with a dark mouth interior; FaceMesh reads an inner-lip ratio of
  about 0.5 at a drop of 0.4 mouth widths (the detector needs 0.4).
These are crude and look it; they exercise the pipeline, they are no measure of liveness accuracy
(the real-clip benchmarks and ``--self-test --clip`` are).

Pure functions; no thread rules. :func:`portrait_path` raises ``FileNotFoundError`` when the photo
is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.landmarks import LEFT_EYE, MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT, RIGHT_EYE
from kiosk.paths import resource_root

FRAME_SIZE = (640, 480)  # (width, height) pixels, the default camera mode
FPS = 30.0
FACE_FILE = "grace_hopper.jpg"
_FACE_HEIGHT_PX = 470  # portrait scaled to this height: the face is ~0.23 of the frame width (gate: 0.18)
_JAW_DROP_MOUTH_WIDTHS = 0.45


@dataclass(frozen=True)
class SyntheticClip:
    """Frames (BGR uint8, 640x480) at :data:`FPS`, the still they came from, and when each action
    happens (media seconds): ``blink_s`` (start, end) and ``mouth_s`` (start, end)."""

    frames: tuple[np.ndarray, ...]
    still: np.ndarray
    blink_s: tuple[float, float]
    mouth_s: tuple[float, float]


def portrait_path() -> Path:
    """The portrait: ``selftest/`` in the bundle, else matplotlib's sample data in a checkout."""
    bundled = resource_root() / "selftest" / FACE_FILE
    if bundled.is_file():
        return bundled
    import matplotlib  # noqa: PLC0415 - only in a source checkout, where it is installed

    path = Path(matplotlib.get_data_path()) / "sample_data" / FACE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"self-test portrait {FACE_FILE} not found")
    return path


def compose_still(photo: np.ndarray) -> np.ndarray:
    """The portrait scaled and centred on a mid-grey 640x480 frame (even light, no backlight)."""
    width, height = FRAME_SIZE
    scale = _FACE_HEIGHT_PX / photo.shape[0]
    small = cv2.resize(photo, (round(photo.shape[1] * scale), _FACE_HEIGHT_PX), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    x0, y0 = (width - small.shape[1]) // 2, (height - small.shape[0]) // 2
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return canvas


def close_eyes(still: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``still`` with both eyes covered by lids (see the module docstring)."""
    out = still.copy()
    for eye in (RIGHT_EYE, LEFT_EYE):
        xy = points[list(eye), :2]
        x0, x1 = int(xy[:, 0].min()) - 4, int(xy[:, 0].max()) + 4
        y0, y1 = int(xy[:, 1].min()) - 5, int(xy[:, 1].max()) + 4
        height = y1 - y0
        out[y0:y1, x0:x1] = still[y1 + 6:y1 + 6 + height, x0:x1]  # skin just below the eye
        lash_y = (y0 + y1) // 2 + 2
        cv2.line(out, (x0 + 3, lash_y), (x1 - 3, lash_y), (40, 40, 50), 2)
    return out


def open_mouth(still: np.ndarray, points: np.ndarray, drop: float = _JAW_DROP_MOUTH_WIDTHS) -> np.ndarray:
    """``still`` with the jaw dropped by ``drop`` mouth widths (see the module docstring)."""
    out = still.copy()
    right, left = points[MOUTH_CORNER_RIGHT, :2], points[MOUTH_CORNER_LEFT, :2]
    cx, cy = (right + left) / 2.0
    mouth_width = float(np.linalg.norm(left - right))
    shift = max(1, int(mouth_width * drop))
    fx0, fx1 = int(points[:468, 0].min()), int(points[:468, 0].max())
    top = int(cy)
    bottom = min(still.shape[0] - shift, int(points[:468, 1].max()) + 40)
    out[top + shift:bottom + shift, fx0:fx1] = still[top:bottom, fx0:fx1]
    cv2.ellipse(out, (int(cx), top + shift // 2), (int(mouth_width * 0.45), shift // 2 + 3), 0, 0, 360, (30, 22, 35), -1)
    return out


def synthetic_clip(still: np.ndarray, points: np.ndarray, *, seed: int = 8) -> SyntheticClip:
    """About 5 s at 30 fps: still face (baseline), a 0.2 s blink at 2.0 s, still, the mouth held
    open from 3.3 s to 4.1 s (ramped over 3 frames each way), still until 5.0 s.

    ``still`` is :func:`compose_still` of the portrait and ``points`` its FaceMesh landmarks (pixel
    x, y, z rows, as in :attr:`camera.landmarks.FaceObservation.points`, from a detector in
    static-image mode). Each frame gets mild sensor noise (sigma 2 grey levels) so consecutive
    frames are not byte-identical, as they never are from a camera. ``seed`` makes the noise
    reproducible.
    """
    closed = close_eyes(still, points)
    ramp = [open_mouth(still, points, _JAW_DROP_MOUTH_WIDTHS * f) for f in (0.3, 0.6)]
    wide = open_mouth(still, points)
    # A few noise fields reused in turn: generating fresh noise for 150 frames costs seconds.
    noise_fields = np.random.default_rng(seed).normal(0.0, 2.0, (7, *still.shape)).astype(np.int16)
    blink, mouth = (2.0, 2.2), (3.3, 4.1)
    frames: list[np.ndarray] = []
    for index in range(int(5.0 * FPS)):
        t = index / FPS
        if blink[0] <= t < blink[1]:
            image = closed
        elif mouth[0] <= t < mouth[1]:
            edge = min(t - mouth[0], mouth[1] - t) * FPS  # frames from the nearer edge
            image = ramp[int(edge)] if edge < 2 else wide
        else:
            image = still
        noisy = image.astype(np.int16) + noise_fields[index % len(noise_fields)]
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return SyntheticClip(tuple(frames), still, blink, mouth)
