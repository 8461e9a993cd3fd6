"""The liveness benchmark module plugs into ``kiosk bench`` (numbers only; nothing here times anything)."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pytest

from conftest import run_cli
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


SHORT_CLIP = "videos/blink_mouth_plain_bg.mp4"  # 7 s, 216 frames


@pytest.fixture
def short_liveness_bench(media_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The liveness benchmark cut down to a few seconds: a short clip, 24 frames, 2 passes, 1 s of the
    30 fps camera beside the matcher process, and two still presentations for the PAD rates."""
    import cv2

    import camera.pad

    if not (media_dir / SHORT_CLIP).is_file():
        pytest.skip(f"{SHORT_CLIP} not in the shared media folder {media_dir}")
    module = importlib.import_module("kiosk.benchmarks.liveness")
    monkeypatch.setattr(module, "CLIP", SHORT_CLIP)
    monkeypatch.setattr(module, "FRAMES", 24)  # the first 10 are left out as warm-up
    monkeypatch.setattr(module, "PASSES", 2)
    monkeypatch.setattr(module, "PACED_S", 1.0)
    monkeypatch.setattr(camera.pad, "SHARED_PRESENTATIONS", {
        "spoof/print_poster_attack.jpg": "print", "spoof/live_person.jpg": camera.pad.BONA_FIDE})
    threads = cv2.getNumThreads()
    yield module
    cv2.setNumThreads(threads)  # the benchmark pins OpenCV to one thread for the rest of the process


def test_the_benchmark_prints_numbers_for_a_real_clip(short_liveness_bench, media_dir: Path, capsys) -> None:
    """The whole benchmark body on real frames, through ``kiosk bench``: which numbers it prints and
    what it counted. Never how fast: the values are only checked to be measured numbers."""
    assert run_cli(["bench", "--only", "liveness", "--media", str(media_dir), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines and {line["area"] for line in lines} == {"liveness"}
    by_name = {line["name"]: line for line in lines}
    assert not [name for name in by_name if "skipped" in name], by_name.keys()

    per_frame = [line for line in lines if line["unit"] == "ms"]
    assert len(per_frame) == 9  # 3 of the whole loop, 2 of FaceMesh alone, 2 of the file decode, 2 of the rest
    assert all(math.isfinite(line["value"]) and line["value"] > 0 for line in per_frame), per_frame
    first = by_name["per-frame cost 640x480, one core, median (quietest pass)"]
    assert "24 YUYV camera frames in each of 2 passes" in first["note"]
    spread = by_name["per-frame cost 640x480, one core, p95 (quietest pass)"]
    passes = [float(v) for v in re.fullmatch(r"passes: ([\d.]+) / ([\d.]+)", spread["note"]).groups()]
    assert spread["value"] == pytest.approx(min(passes), abs=0.01)  # the quietest of the two printed passes

    dropped = by_name["30 fps camera + 1:1 match in another process: dropped"]
    fed = int(re.fullmatch(r"(\d+) fed in 1 s", dropped["note"]).group(1))
    assert fed > 0 and dropped["value"] >= 0 and dropped["unit"] == "frames"
    assert by_name["30 fps camera + 1:1 match: delivered rate"]["value"] > 0
    assert by_name["30 fps camera + 1:1 match: matches completed"]["value"] >= 0

    rates = {name: line for name, line in by_name.items() if line["unit"] == "%"}
    assert set(rates) == {"passive: APCER print", "passive: BPCER", "session: APCER print"}
    assert all(line["note"] == "n=1" and 0 <= line["value"] <= 100 for line in rates.values()), rates
