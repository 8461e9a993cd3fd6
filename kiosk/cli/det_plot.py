"""DET plots (FRR against FAR, log axes) as PNG files for ``kiosk faces evaluate``.

matplotlib (Agg backend, no display) when it is installed, which it is wherever mediapipe is;
otherwise the curve is drawn with OpenCV, so the command never needs a new package.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FLOOR = 1e-5  # a log axis has no zero: rates below this are drawn at it


def write_det_plot(path: Path, title: str, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                   points: dict[str, tuple[float, float]]) -> None:
    """Writes one DET plot: ``curves`` name -> (FAR array, FRR array); ``points`` name -> (FAR, FRR)
    of the operating point. Raises ``OSError`` when the file cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        _cv2_plot(path, title, curves, points)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(6, 5), dpi=100)
    for name, (far, frr) in curves.items():
        shown = (far > 0) & (frr > 0)
        (line,) = axes.plot(far[shown], frr[shown], label=name)
        if name in points:
            axes.plot([max(points[name][0], FLOOR)], [max(points[name][1], FLOOR)], "o", color=line.get_color())
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false accept rate (FAR)")
    axes.set_ylabel("false reject rate (FRR)")
    axes.set_title(title)
    axes.axvline(1e-3, color="grey", linestyle=":", linewidth=1)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path)
    finally:
        plt.close(figure)


def _cv2_plot(path: Path, title: str, curves: dict, points: dict) -> None:
    import cv2  # noqa: PLC0415

    width, height, margin = 600, 500, 60
    image = np.full((height, width, 3), 255, np.uint8)

    def at(far: float, frr: float) -> tuple[int, int]:
        x = (math.log10(max(far, FLOOR)) - math.log10(FLOOR)) / -math.log10(FLOOR)
        y = (math.log10(max(frr, FLOOR)) - math.log10(FLOOR)) / -math.log10(FLOOR)
        return margin + round(x * (width - 2 * margin)), height - margin - round(y * (height - 2 * margin))

    cv2.rectangle(image, at(FLOOR, FLOOR), at(1, 1), (0, 0, 0), 1)
    cv2.line(image, at(1e-3, FLOOR), at(1e-3, 1), (160, 160, 160), 1)
    colours = [(200, 80, 0), (0, 140, 0), (0, 0, 200), (120, 0, 120)]
    for n, (name, (far, frr)) in enumerate(curves.items()):
        colour = colours[n % len(colours)]
        line = np.array([at(a, b) for a, b in zip(far, frr, strict=True) if a > 0 and b > 0], np.int32)
        if len(line) > 1:
            cv2.polylines(image, [line], False, colour, 2)
        if name in points:
            cv2.circle(image, at(*points[name]), 5, colour, -1)
        cv2.putText(image, name, (width - 180, 40 + 20 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    cv2.putText(image, title, (margin, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(image, "FAR (log)", (width // 2 - 30, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(image, "FRR (log)", (5, margin - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")
