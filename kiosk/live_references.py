"""When a certification earns a live reference, and which stored live references still count.

A pensioner's official reference (roster photo, chip photo, staff enrolment, centre template) may
be twenty years old. After a certification the live face can be kept beside it as a
``live_refresh`` reference (issue 15, item 4), under these rules (docs/matching.md, "References
that stay young", gives the measurements behind each number):

* **Earned from the official reference only.** The official reference itself must have matched,
  with a distance at most ``refresh_keep_ratio`` x the model's cut; a match decided by a live
  reference never earns another one, so one lucky false accept cannot chain.
* **Strong liveness.** The passive attack score must be known and at most
  ``refresh_max_attack_score`` (stricter than the pass mark).
* **Capped and expiring.** At most ``refresh_max_live`` live references per person (the oldest
  goes), each counted for ``refresh_max_age_days`` (two certification cycles); the store drops
  older ones. An official reference is never replaced.

Pure functions: no clock, no store. Used by the session controller and by
``scripts/refresh_experiment.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from camera.settings import MatchSettings

LIVE_SOURCE = "live_refresh"
"""The reference source of a kept live face."""


def model_cut(settings: MatchSettings, model: str) -> float:
    """The accepting cut of ``model`` ("sface": 1 - cosine; "dlib": Euclidean)."""
    return settings.sface_max_distance if model == "sface" else settings.max_distance


def keep_cut(settings: MatchSettings, model: str) -> float:
    """The largest official-reference distance that earns a live reference (same scale as the cut)."""
    return settings.refresh_keep_ratio * model_cut(settings, model)


def refusal(settings: MatchSettings, *, matched: bool, model: str, sources: Sequence[str],
            distances: Sequence[float], attack_score: float | None) -> str | None:
    """Why this certification does not earn a live reference (a snake_case code), None when it does.

    ``sources`` and ``distances`` are per reference, in the order given to the matcher (a NaN
    distance: that reference could not be compared). ``model``: the model whose distances these are.
    """
    if not settings.refresh_reference_on_success:
        return "refresh_off"
    if not matched or not model:
        return "not_matched"
    official = [d for s, d in zip(sources, distances, strict=True) if s != LIVE_SOURCE and not math.isnan(d)]
    if not official:
        return "no_official_distance"
    if min(official) > keep_cut(settings, model):
        return "official_margin_weak"
    if attack_score is None or attack_score > settings.refresh_max_attack_score:
        return "liveness_weak"
    return None
