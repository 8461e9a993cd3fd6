"""The concrete passive checks (interface and combination in :mod:`camera.antispoof`).

* :class:`BezelCheck`: a screen or a sheet of paper held up to the camera puts long straight edges
  (the bezel, the paper edge) around the face, on two sides or more, close to it. A live face in a
  room rarely has straight edges on both sides that span the whole face height: a door frame or a
  whiteboard behind the head is hidden by the head itself over part of its length.
* :class:`MotionCheck`: a hand-held screen or print moves the face and its surroundings together, as
  one plane; a live head moves in front of a background that stays still.
* :class:`GlareCheck`: screens and glossy prints reflect room lights as small saturated, colourless
  patches on the "skin"; live skin rarely clips to white.
* :class:`MoireCheck`: re-photographing a screen adds a periodic pixel grid: isolated peaks in the
  high-frequency spectrum of the face that live skin does not have.

All scores are in 0..1; coordinates are pixels of the analysed frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from camera.antispoof import FrameView, PassiveCheck
from camera.settings import AntispoofSettings

_WORK_FACE_WIDTH_PX = 80  # every check works at this face scale: cost independent of resolution


def _scaled_roi(gray: np.ndarray, box: tuple[float, float, float, float], margin_w: float, margin_h: float
                ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The region of ``gray`` around the face ``box`` (``margin_*`` face sizes each side), scaled so
    the face is 80 px wide; returns (roi, face box in roi pixels)."""
    height, width = gray.shape[:2]
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    rx0, ry0 = max(0, int(x0 - margin_w * fw)), max(0, int(y0 - margin_h * fh))
    rx1, ry1 = min(width, int(x1 + margin_w * fw)), min(height, int(y1 + margin_h * fh))
    scale = _WORK_FACE_WIDTH_PX / max(fw, 1.0)
    roi = gray[ry0:ry1, rx0:rx1]
    size = (max(8, int(roi.shape[1] * scale)), max(8, int(roi.shape[0] * scale)))
    # Area averaging, not bilinear: bilinear keeps more texture noise, which broke the poster's
    # top edge into pieces too short to join (measured: bezel 1.0 -> 0.0 on print_poster_attack).
    # Exact halvings first (2x2 means: OpenCV's fast path, 0.01 ms for a whole frame) leave the
    # general area resize a quarter of the pixels or fewer: 0.5 -> 0.15 ms for a 300 px face.
    while roi.shape[1] >= 2 * size[0] + 2 and roi.shape[0] >= 2 * size[1] + 2:
        even = roi[: roi.shape[0] // 2 * 2, : roi.shape[1] // 2 * 2]
        roi = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2), interpolation=cv2.INTER_AREA)
    roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
    return roi, ((x0 - rx0) * scale, (y0 - ry0) * scale, (x1 - rx0) * scale, (y1 - ry0) * scale)


class _AveragingCheck:
    """The part every check shares: its score is the running mean of its per-frame evidence."""

    def __init__(self) -> None:
        self._sum = 0.0
        self._n = 0

    def _add(self, value: float) -> None:
        self._sum += value
        self._n += 1

    def score(self) -> float:
        return self._sum / self._n if self._n else 0.0

    @property
    def evidence(self) -> int:
        return self._n


def _point_line_distance(point: tuple[int, int], segment: tuple[int, int, int, int]) -> float:
    """Distance in pixels from ``point`` to the infinite line through ``segment``."""
    (x_a, y_a, x_b, y_b), (x, y) = segment, point
    length = math.hypot(x_b - x_a, y_b - y_a)
    if length < 1e-9:
        return math.hypot(x - x_a, y - y_a)
    return abs((x_b - x_a) * (y_a - y) - (x_a - x) * (y_b - y_a)) / length


def _merge_collinear(segments: list[list[int]], *, max_offset_px: float = 4.0, max_angle_deg: float = 5.0,
                     max_gap_px: float = 12.0) -> list[tuple[int, int, int, int]]:
    """Joins Hough segments that continue one another (an edge broken by a finger, a reflection, a
    texture change, or bent where a sheet of paper curls) so that its full length is judged.

    Two segments join when they run the same way (within ``max_angle_deg``), leave at most
    ``max_gap_px`` between them along that way, and where they meet each one's near end lies within
    ``max_offset_px`` of the other's line. Judging the offset where they meet, not between their
    midpoints, keeps a slightly bent edge whole: a print's top edge measured 2.7 degrees on one
    piece and 0 on the next, and whether the midpoints fell within 4 px of each other then depended
    on where Hough happened to split it. Pixel units of the ROI.
    """

    def horizontal(seg: tuple[int, int, int, int]) -> bool:
        return abs(seg[2] - seg[0]) >= abs(seg[3] - seg[1])

    def angle(seg: tuple[int, int, int, int]) -> float:
        return math.degrees(math.atan2(seg[3] - seg[1], seg[2] - seg[0])) % 180.0

    def ends(seg: tuple[int, int, int, int], axis: int) -> tuple[tuple[int, int], tuple[int, int]]:
        first, second = (seg[0], seg[1]), (seg[2], seg[3])
        return (first, second) if first[axis] <= second[axis] else (second, first)

    def axis_of(seg: tuple[int, int, int, int]) -> int:
        return 0 if horizontal(seg) else 1

    # In order along their own direction, so the pieces of one edge arrive one after the other.
    pending = sorted((tuple(int(v) for v in seg) for seg in segments),
                     key=lambda seg: (axis_of(seg), min(seg[axis_of(seg)], seg[axis_of(seg) + 2])))
    merged: list[tuple[int, int, int, int]] = []
    for seg in pending:
        axis = axis_of(seg)  # type: ignore[arg-type]
        seg_start, seg_end = ends(seg, axis)  # type: ignore[arg-type]
        for index, line in enumerate(merged):
            turn = abs(angle(line) - angle(seg))  # type: ignore[arg-type]
            if axis_of(line) != axis or min(turn, 180.0 - turn) > max_angle_deg:
                continue
            line_start, line_end = ends(line, axis)
            if max(seg_start[axis] - line_end[axis], line_start[axis] - seg_end[axis], 0) > max_gap_px:
                continue
            # Where they meet: the line's end nearest the segment, and the segment's end nearest it.
            if abs(line_end[axis] - seg_start[axis]) <= abs(line_start[axis] - seg_end[axis]):
                line_near, seg_near = line_end, seg_start
            else:
                line_near, seg_near = line_start, seg_end
            if (_point_line_distance(seg_near, line) > max_offset_px
                    or _point_line_distance(line_near, seg) > max_offset_px):  # type: ignore[arg-type]
                continue
            points = sorted((line_start, line_end, seg_start, seg_end), key=lambda point: point[axis])
            merged[index] = (*points[0], *points[-1])
            break
        else:
            merged.append(seg)  # type: ignore[arg-type]
    return merged


class BezelCheck(_AveragingCheck):
    """A frame around the face, per frame 0/1: two nearly parallel straight edges left and right of
    the face (a phone or tablet bezel), or a side edge meeting an edge above or below it at a right
    angle (a corner of a screen or sheet), or one straight edge above the head reaching well past the
    face on both sides (the top of a held screen or print). Each edge must span ``span_fraction`` of
    the face; the score is the fraction of analysed frames with a frame."""

    name = "bezel"

    def __init__(self, *, span_fraction: float = 0.6, max_parallel_deg: float = 6.0,
                 max_corner_error_deg: float = 12.0) -> None:
        super().__init__()
        self._span = span_fraction
        self._parallel = max_parallel_deg
        self._corner = max_corner_error_deg

    def sides(self, view: FrameView) -> dict[str, list[float]]:
        """Edge angles (degrees from the image x axis, 0..180) found on each side of the face
        ("left", "right", "top", "bottom", and "top_wide" for a top edge past both sides)."""
        roi, (fx0, fy0, fx1, fy1) = _scaled_roi(view.gray, view.face.box, 1.2, 0.8)
        fw, fh = fx1 - fx0, fy1 - fy0
        edges = cv2.Canny(cv2.GaussianBlur(roi, (3, 3), 0), 40, 120)
        # 2-degree angle steps: the frame rules allow 6 degrees between parallel sides and 12 off a
        # right angle, and each edge point votes in half as many bins as at 1 degree (0.65 ->
        # 0.37 ms a frame; see docs/liveness.md for what it changed on the media).
        lines = cv2.HoughLinesP(edges, 1, math.pi / 90, threshold=int(0.3 * fh),
                                minLineLength=int(self._span * min(fw, fh)), maxLineGap=6)
        found: dict[str, list[float]] = {}
        for x_a, y_a, x_b, y_b in _merge_collinear(lines[:, 0].tolist() if lines is not None else []):
            dx, dy = abs(int(x_b) - int(x_a)), abs(int(y_b) - int(y_a))
            angle = math.degrees(math.atan2(int(y_b) - int(y_a), int(x_b) - int(x_a))) % 180.0
            if dy > 2.2 * dx:  # within about 25 degrees of vertical (a tilted phone)
                overlap = min(max(y_a, y_b), fy1) - max(min(y_a, y_b), fy0)
                if overlap < self._span * fh:
                    continue
                if max(x_a, x_b) < fx0 - 0.05 * fw:
                    found.setdefault("left", []).append(angle)
                elif min(x_a, x_b) > fx1 + 0.05 * fw:
                    found.setdefault("right", []).append(angle)
            elif dx > 2.2 * dy:  # within about 25 degrees of horizontal
                overlap = min(max(x_a, x_b), fx1) - max(min(x_a, x_b), fx0)
                if overlap < self._span * fw:
                    continue
                if max(y_a, y_b) < fy0 - 0.05 * fh:
                    found.setdefault("top", []).append(angle)
                    # Past the face on both sides by 0.3 face widths, or to the frame's edge.
                    reach_left = min(x_a, x_b) < max(fx0 - 0.3 * fw, 2)
                    reach_right = max(x_a, x_b) > min(fx1 + 0.3 * fw, roi.shape[1] - 3)
                    if reach_left and reach_right:
                        found.setdefault("top_wide", []).append(angle)
                elif min(y_a, y_b) > fy1 + 0.05 * fh:
                    found.setdefault("bottom", []).append(angle)
        return found

    def framed(self, view: FrameView) -> bool:
        """True when the edges around the face form a frame (see the class docstring)."""
        sides = self.sides(view)
        if "top_wide" in sides:
            return True
        for left in sides.get("left", []):
            for right in sides.get("right", []):
                if abs(left - right) <= self._parallel:
                    return True
        verticals = sides.get("left", []) + sides.get("right", [])
        horizontals = sides.get("top", []) + sides.get("bottom", [])
        for v in verticals:
            for h in horizontals:
                if abs(abs(v - h) - 90.0) <= self._corner:
                    return True
        return False

    def observe(self, view: FrameView) -> None:
        self._add(1.0 if self.framed(view) else 0.0)


class MotionCheck(_AveragingCheck):
    """Does the surrounding move with the face? Per analysed pair of frames in which the face moved
    at least ``min_shift_px`` (at the 80 px face scale), 1 when the strips beside the face moved the
    same way, else 0; the score is the mean over such pairs."""

    name = "motion"

    def __init__(self, *, min_shift_px: float = 0.6, min_pairs: int = 5) -> None:
        super().__init__()
        self._min_shift = min_shift_px
        self._min_pairs = min_pairs
        # The previous analysed grey frame and its face box (kept until the next analysed frame).
        self._previous: tuple[np.ndarray, tuple[float, float, float, float]] | None = None

    @staticmethod
    def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
        window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
        (sx, sy), response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), window)
        return sx, sy, response

    def observe(self, view: FrameView) -> None:
        gray = view.gray
        previous, self._previous = self._previous, (gray, view.face.box)
        if previous is None or previous[0].shape != gray.shape:
            return
        # Both crops are cut at the previous face's place, so a moving face shows as a shift.
        prev_roi, box = _scaled_roi(previous[0], previous[1], 1.0, 0.3)
        roi, _ = _scaled_roi(gray, previous[1], 1.0, 0.3)
        fx0, fy0, fx1, fy1 = (int(v) for v in box)
        face_a, face_b = prev_roi[fy0:fy1, fx0:fx1], roi[fy0:fy1, fx0:fx1]
        if face_a.shape[0] < 16 or face_a.shape[1] < 16:
            return
        fsx, fsy, _ = self._shift(face_a, face_b)
        moved = math.hypot(fsx, fsy)
        if moved < self._min_shift:
            return
        strip_w = max(8, (fx1 - fx0) // 2)
        agree = 0
        strips = 0
        for sx0 in (fx0 - strip_w - 2, fx1 + 2):
            if sx0 < 0 or sx0 + strip_w > roi.shape[1]:
                continue
            a, b = prev_roi[fy0:fy1, sx0:sx0 + strip_w], roi[fy0:fy1, sx0:sx0 + strip_w]
            if float(a.std()) < 4.0:  # a featureless wall tells nothing about motion
                continue
            ssx, ssy, response = self._shift(a, b)
            strips += 1
            if response > 0.1 and math.hypot(ssx - fsx, ssy - fsy) < 0.35 * moved + 0.3:
                agree += 1
        if strips:
            self._add(agree / strips)

    def score(self) -> float:
        return super().score() if self.evidence >= self._min_pairs else 0.0


class GlareCheck(_AveragingCheck):
    """Fraction of the face area that is clipped, colourless highlight (per frame), scaled so that
    ``full_fraction`` of the face reads 1."""

    name = "glare"

    def __init__(self, *, full_fraction: float = 0.02) -> None:
        super().__init__()
        self._full = full_fraction

    def observe(self, view: FrameView) -> None:
        height, width = view.image_bgr.shape[:2]
        x0, y0, x1, y1 = (int(v) for v in view.face.box)
        crop = view.image_bgr[max(0, y0):min(height, y1), max(0, x0):min(width, x1)]
        if crop.size == 0:
            return
        hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
        glare = (hsv[:, :, 2] >= 250) & (hsv[:, :, 1] <= 30)
        # Only the skin inside the face outline counts (a bright window beside the cheek is not
        # glare); spectacle lenses reflect lights like a screen does, so the band from the brows to
        # just under the eyes is left out too.
        points = view.face.points
        origin = np.array([max(0, x0), max(0, y0)], dtype=np.float32)
        mask = np.zeros(glare.shape, dtype=np.uint8)
        hull = cv2.convexHull((points[:, :2] - origin).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
        band_top = int(points[[105, 334], 1].min() - origin[1])
        band_bottom = int(points[[145, 374], 1].max() + 0.08 * (y1 - y0) - origin[1])
        mask[max(0, band_top):max(0, band_bottom), :] = 0
        skin = int(mask.sum())
        if skin == 0:
            return
        self._add(min(1.0, float((glare & mask.astype(bool)).sum()) / skin / self._full))


class MoireCheck(_AveragingCheck):
    """Peakiness of the high-frequency spectrum of the face crop (per frame): the strongest
    high-frequency peak over the median high-frequency energy, mapped to 0..1 between ``low`` and
    ``high`` (live skin has a smooth, peak-free fall-off)."""

    name = "moire"

    def __init__(self, *, low: float = 12.0, high: float = 40.0) -> None:
        super().__init__()
        self._low, self._high = low, high

    def observe(self, view: FrameView) -> None:
        height, width = view.gray.shape[:2]
        x0, y0, x1, y1 = view.face.box
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.3
        ix0, iy0 = max(0, int(cx - half)), max(0, int(cy - half))
        crop = view.gray[iy0:min(height, int(cy + half)), ix0:min(width, int(cx + half))]
        if min(crop.shape[:2]) < 32:
            return
        crop = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
        crop -= crop.mean()
        spectrum = np.abs(np.fft.fftshift(np.fft.fft2(crop * np.outer(np.hanning(64), np.hanning(64)))))
        yy, xx = np.mgrid[-32:32, -32:32]
        high = spectrum[np.hypot(xx, yy) > 12]
        ratio = float(high.max() / (np.median(high) + 1e-6))
        self._add(min(1.0, max(0.0, (ratio - self._low) / (self._high - self._low))))


def default_checks(settings: AntispoofSettings) -> list[tuple[PassiveCheck, float]]:
    """The shipped checks with their configured weights."""
    return [
        (BezelCheck(), settings.bezel_weight),
        (MotionCheck(), settings.motion_weight),
        (GlareCheck(), settings.glare_weight),
        (MoireCheck(), settings.moire_weight),
    ]
