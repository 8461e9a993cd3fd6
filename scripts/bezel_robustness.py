#!/usr/bin/env python3
"""How often the bezel check still sees the frame when a still presentation is slightly changed.

The shared media hold one print and one tablet still, so a single yes/no per still says little
about how close the check is to missing them. This script shows each still to the check under 50
small changes a real presentation could bring (scale 0.85-1.15 with rotation -4..+4 degrees in
1-degree steps, so some fall between the Hough transform's 2-degree bins; gain 0.7 and 1.3; JPEG
quality 50 and 80; a resampling round trip) and prints how many were framed.

Usage: .venv/bin/python scripts/bezel_robustness.py [--media ../shared/media]
Prints one line per still (numbers in docs/liveness.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camera.antispoof import FrameView  # noqa: E402
from camera.antispoof_checks import BezelCheck  # noqa: E402
from camera.landmarks import LandmarkDetector  # noqa: E402
from camera.matching.templates import read_image  # noqa: E402

STILLS = ("spoof/print_poster_attack.jpg", "spoof/tablet_screen_attack.jpg", "spoof/live_person.jpg")


def perturbations(image: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """(name, changed image) pairs: 45 scale/rotation pairs, 2 gains, 2 JPEG qualities, 1 resampling."""
    height, width = image.shape[:2]
    for scale in (0.85, 0.92, 1.0, 1.08, 1.15):
        for degrees in range(-4, 5):
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, scale)
            yield f"scale {scale} rotate {degrees}", cv2.warpAffine(image, matrix, (width, height),
                                                                    borderMode=cv2.BORDER_REFLECT)
    for gain in (0.7, 1.3):
        yield f"gain {gain}", np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    for quality in (50, 80):
        encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        yield f"jpeg {quality}", cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    yield "resampled", cv2.resize(cv2.resize(image, (width * 3 // 4, height * 3 // 4)), (width, height))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "media")
    args = parser.parse_args()
    with LandmarkDetector(static_images=True) as detector:
        for still in STILLS:
            framed, seen = 0, 0
            for _name, image in perturbations(read_image(args.media / still)):
                face = detector.detect(image)
                if face is None:
                    continue
                seen += 1
                gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
                framed += BezelCheck().framed(FrameView(image, gray, face, 0.0))
            print(f"{still:36s} framed in {framed} of {seen} changed copies with a face")


if __name__ == "__main__":
    main()
