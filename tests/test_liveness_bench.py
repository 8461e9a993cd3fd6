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


def test_the_benchmark_camera_frames_decode_back_to_the_picture() -> None:
    """The YUYV stand-in must be what a camera sends: OpenCV's decoder gives the picture back."""
    import cv2
    import numpy as np

    from kiosk.benchmarks.liveness import to_yuyv

    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    image = np.dstack([np.tile(ramp, (48, 1)), np.tile(ramp[::-1], (48, 1)), np.full((48, 64), 128, np.float32)])
    image = np.repeat(image.astype(np.uint8), 2, axis=1)  # pairs of equal pixels: chroma sharing loses nothing
    packed = to_yuyv(image)
    assert packed.shape == (48, 128, 2) and packed.dtype == np.uint8
    back = cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_YUYV)
    assert np.abs(back.astype(int) - image).max() <= 3
    for grey in (20, 128, 230):
        flat = np.full((2, 2, 3), grey, np.uint8)
        assert np.abs(cv2.cvtColor(to_yuyv(flat), cv2.COLOR_YUV2BGR_YUYV).astype(int) - grey).max() <= 1
