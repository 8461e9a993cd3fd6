"""Event detectors: blinks, deliberate mouth openings and head turns, from a landmark sequence.

Pure and deterministic: feed ``(t_s, observation or None)`` in time order, get completed
:class:`Event` values back. Time comes only from the timestamps fed in.

Thresholds adapt to the person: the open-eye ratio of each eye, the closed-mouth ratio and the
straight-ahead yaw are percentiles of a sliding window of recent frames in which nothing was
happening (platform.md: a fixed eye-ratio cut misfires on smiles and glasses, which halve the swing).

* Blink: both eyes below ``blink_close_fraction`` of their own open ratio, then both back above
  ``blink_open_fraction`` (hysteresis), closed for ``blink_min_s``..``blink_max_s``. One eye closed
  while the other stays open is a wink and never enters the closed state.
* Mouth opening: the inner-lip ratio at least ``mouth_open_min_ratio`` and ``mouth_open_min_rise_ratio``
  above the person's closed-mouth ratio, held continuously for ``mouth_open_min_s`` (speech opens
  the mouth less and for about 0.1 s at a time); complete once held (the person need not close
  first), over when the ratio falls below ``mouth_close_ratio`` (hysteresis).
* Turn: yaw at least ``turn_min_deg`` from the straight-ahead yaw for ``turn_min_s``.

Thread rules: an :class:`EventDetector` belongs to one thread.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from camera.landmarks import FaceObservation
from camera.settings import LivenessSettings

EventKind = Literal["blink", "mouth_open", "turn_left", "turn_right"]
_MIN_BASELINE_FRAMES = 5
_BASELINE_EVERY = 4  # quiet frames between baseline refreshes (about 7 per second at 30 fps)


@dataclass(frozen=True)
class Event:
    """One completed event. ``start_s`` when it began (eyes closed, mouth wide, head turned),
    ``peak_s`` its deepest point, ``end_s`` when it was complete (eyes reopened, mouth closed again,
    turn held long enough); all media seconds."""

    kind: EventKind
    start_s: float
    peak_s: float
    end_s: float


@dataclass(frozen=True)
class Baseline:
    """The person's own resting values: open-eye ratios, closed-mouth ratio, straight-ahead yaw (deg)."""

    eye_left: float
    eye_right: float
    mouth: float
    yaw_deg: float


def _percentile(ordered: np.ndarray, q: float) -> float:
    """The ``q``-th percentile (0-100) of an ascending, non-empty array, interpolated linearly between
    the two nearest ranks (numpy's default method)."""
    position = q / 100.0 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


class EventDetector:
    """Turns a sequence of observations into :class:`Event` values (see the module docstring)."""

    def __init__(self, settings: LivenessSettings) -> None:
        self._s = settings
        self._window: deque[tuple[float, float, float, float, float]] = deque()
        self._baseline: Baseline | None = None
        # Blink state: start time, deepest mean fraction and its time, or None when open.
        self._closed_since: float | None = None
        self._closed_depth = 1.0
        self._closed_peak_s = 0.0
        # After the face was lost a closure may only start once eyes not closed were seen again: eyes that
        # are already shut when the face comes back are not a blink seen whole.
        self._need_open = True
        # Mouth state: onset, time the wide hold began, longest hold so far, peak ratio and its time.
        self._mouth_since: float | None = None
        self._mouth_wide_since: float | None = None
        self._mouth_held_s = 0.0
        self._mouth_peak = 0.0
        self._mouth_peak_s = 0.0
        self._mouth_emitted = False
        # Turn state: direction, start time, emitted already.
        self._turn: tuple[EventKind, float, bool] | None = None
        self._last_t: float | None = None
        self._learned = 0

    @property
    def baseline(self) -> Baseline | None:
        """The current baseline, or None until enough quiet frames were seen."""
        return self._baseline

    def quiet(self) -> bool:
        """True when no blink, opening or turn is in progress."""
        return self._closed_since is None and self._mouth_since is None and self._turn is None

    def feed(self, t_s: float, obs: FaceObservation | None, *, frontal: bool = True) -> list[Event]:
        """Consumes one frame; returns the events completed at it (usually none).

        A missing face (None) aborts any event in progress: an event must be seen whole.
        ``frontal`` False (the quality gate found the head turned away or a second face) aborts a
        blink or mouth opening in progress, since eye and mouth ratios are unreliable then, and keeps
        the frame out of the baseline; head turns still use it. Raises ValueError when time goes
        backwards.
        """
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError(f"time went backwards: {t_s} after {self._last_t}")
        self._last_t = t_s
        if obs is None:
            self._abort(turn=True)
            self._need_open = True
            return []
        events: list[Event] = []
        if self._baseline is not None:
            if frontal:
                events.extend(self._blink(t_s, obs, self._baseline))
                events.extend(self._mouth(t_s, obs, self._baseline))
            else:
                self._abort(turn=False)
            events.extend(self._head(t_s, obs, self._baseline))
        if frontal and self.quiet():
            self._learn(t_s, obs)
        return events

    def finish(self) -> list[Event]:
        """Ends the sequence (a clip ran out): whatever is in progress is dropped; an event must be
        seen complete. Returns the events completed by the end (none with the current rules)."""
        self._abort(turn=True)
        return []

    def _abort(self, *, turn: bool) -> None:
        self._closed_since = None
        self._mouth_since = None
        self._mouth_wide_since = None
        if turn:
            self._turn = None

    def _learn(self, t_s: float, obs: FaceObservation) -> None:
        self._window.append((t_s, obs.ear_left, obs.ear_right, obs.mouth_ratio, obs.yaw_deg))
        while self._window and self._window[0][0] < t_s - self._s.baseline_window_s:
            self._window.popleft()
        if len(self._window) < _MIN_BASELINE_FRAMES and self._baseline is None:
            return
        self._learned += 1
        if self._baseline is not None and self._learned % _BASELINE_EVERY:
            return  # percentiles over the window move slowly: refresh a few times a second
        # One sort of the window for all four (four numpy percentile calls cost 0.2-0.3 ms, on a
        # quarter of the frames).
        ordered = np.sort(np.asarray(self._window, dtype=np.float64)[:, 1:], axis=0)
        # Open eyes: an upper percentile, so the blinks and glances inside the window do not pull it
        # down. Closed mouth: a low percentile, so speech does not push it up. Yaw: the median.
        self._baseline = Baseline(
            eye_left=_percentile(ordered[:, 0], 75),
            eye_right=_percentile(ordered[:, 1], 75),
            mouth=_percentile(ordered[:, 2], 20),
            yaw_deg=_percentile(ordered[:, 3], 50),
        )

    def _blink(self, t_s: float, obs: FaceObservation, base: Baseline) -> list[Event]:
        left = obs.ear_left / max(base.eye_left, 1e-6)
        right = obs.ear_right / max(base.eye_right, 1e-6)
        if self._closed_since is None:
            if left >= self._s.blink_close_fraction and right >= self._s.blink_close_fraction:
                self._need_open = False
            elif not self._need_open and left < self._s.blink_close_fraction and right < self._s.blink_close_fraction:
                self._closed_since, self._closed_depth, self._closed_peak_s = t_s, (left + right) / 2, t_s
            return []
        depth = (left + right) / 2
        if depth < self._closed_depth:
            self._closed_depth, self._closed_peak_s = depth, t_s
        if left < self._s.blink_open_fraction or right < self._s.blink_open_fraction:
            # A long closure (squint, eyes shut): keep waiting for the reopening, then drop it.
            return []
        start, self._closed_since = self._closed_since, None
        duration = t_s - start
        if self._s.blink_min_s <= duration <= self._s.blink_max_s:
            return [Event("blink", start, self._closed_peak_s, t_s)]
        return []

    def _mouth(self, t_s: float, obs: FaceObservation, base: Baseline) -> list[Event]:
        ratio = obs.mouth_ratio
        wide = ratio >= max(self._s.mouth_open_min_ratio, base.mouth + self._s.mouth_open_min_rise_ratio)
        if self._mouth_since is None:
            if wide:
                self._mouth_since = self._mouth_wide_since = t_s
                self._mouth_held_s, self._mouth_peak, self._mouth_peak_s = 0.0, ratio, t_s
                self._mouth_emitted = False
            return []
        if ratio > self._mouth_peak:
            self._mouth_peak, self._mouth_peak_s = ratio, t_s
        if ratio < max(self._s.mouth_close_ratio, base.mouth + 0.05):
            self._mouth_since = self._mouth_wide_since = None  # closed again (hysteresis)
            return []
        if not wide:
            self._mouth_wide_since = None
            return []
        if self._mouth_wide_since is None:
            self._mouth_wide_since = t_s
        self._mouth_held_s = max(self._mouth_held_s, t_s - self._mouth_wide_since)
        if not self._mouth_emitted and self._mouth_held_s >= self._s.mouth_open_min_s:
            # Complete as soon as it was held long enough: the person need not close first.
            self._mouth_emitted = True
            return [Event("mouth_open", self._mouth_since, self._mouth_peak_s, t_s)]
        return []

    def _head(self, t_s: float, obs: FaceObservation, base: Baseline) -> list[Event]:
        delta = obs.yaw_deg - base.yaw_deg
        direction: EventKind | None = None
        if delta >= self._s.turn_min_deg:
            direction = "turn_left"  # yaw > 0: the person's own left (see camera.landmarks)
        elif delta <= -self._s.turn_min_deg:
            direction = "turn_right"
        if direction is None:
            if abs(delta) < self._s.turn_min_deg / 2:  # hysteresis: back near straight ahead
                self._turn = None
            return []
        if self._turn is None or self._turn[0] != direction:
            self._turn = (direction, t_s, False)
            return []
        kind, since, emitted = self._turn
        if not emitted and t_s - since >= self._s.turn_min_s:
            self._turn = (kind, since, True)
            return [Event(kind, since, t_s, t_s)]
        return []
