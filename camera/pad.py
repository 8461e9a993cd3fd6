"""Presentation-attack detection metrics (ISO/IEC 30107-3) on a set of labelled presentations.

APCER (attack presentation classification error rate) is computed per attack species: the share of
that species' attack presentations accepted as bona fide. BPCER is the share of bona fide
presentations rejected. Two decisions are measured for each presentation:

* ``passive``: the passive checks alone (:mod:`camera.antispoof`) over the whole presentation;
* ``session``: the full liveness session as the kiosk runs it, with the attacker prompted at the
  most favourable moment (just before a blink the replay contains, else at the start), and the
  bona fide person prompted just before an action they perform (from the annotations).

Each run goes through :func:`camera.liveness.replay`. Runs are sequential and take about the
clip's length in CPU time; call off the GUI thread.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from camera.liveness import replay
from camera.settings import Action, AntispoofSettings, CameraSettings, LivenessSettings, QualitySettings

BONA_FIDE = "bona_fide"
# The shared media (../shared/media): path relative to it -> species.
SHARED_PRESENTATIONS: dict[str, str] = {
    "spoof/phone_replay_a_attack.mp4": "phone_replay",
    "spoof/phone_replay_b_attack.mp4": "phone_replay",
    "spoof/print_poster_attack.jpg": "print",
    "spoof/tablet_screen_attack.jpg": "tablet_replay",
    "spoof/phone_replay_a_live.mp4": BONA_FIDE,
    "spoof/live_person.jpg": BONA_FIDE,
    "videos/blink_mouth_plain_bg.mp4": BONA_FIDE,
    "videos/glasses_selfie_blinks.mp4": BONA_FIDE,
    "videos/glasses_still.mp4": BONA_FIDE,
    "videos/glasses_talking_mouth.mp4": BONA_FIDE,
    "videos/glasses_webcam_many_blinks.mp4": BONA_FIDE,
    "videos/still_three_quarter.mp4": BONA_FIDE,
    "videos/talking_blinks.mp4": BONA_FIDE,
}
LEAD_S = 0.25


@dataclass(frozen=True)
class PresentationResult:
    """One presentation: its species, the passive attack score and both decisions (True = accepted
    as bona fide). ``session_accepted`` is None for a bona fide presentation with no action to
    prompt (a still image, a clip without blinks): it cannot pass a challenge by design."""

    name: str
    species: str
    attack_score: float
    check_scores: dict[str, float]
    passive_accepted: bool
    session_accepted: bool | None
    session_reason: str


def evaluate(media_dir: Path, camera: CameraSettings, quality: QualitySettings, liveness: LivenessSettings,
             antispoof: AntispoofSettings, presentations: dict[str, str] | None = None) -> list[PresentationResult]:
    """Runs every presentation (default: the shared media) and returns one result each."""
    annotations_file = media_dir / "videos" / "annotations.json"
    annotations = json.loads(annotations_file.read_text()) if annotations_file.is_file() else {}
    results: list[PresentationResult] = []
    for relative, species in (presentations or SHARED_PRESENTATIONS).items():
        path = media_dir / relative
        if not path.exists():
            continue
        passive = replay(path, camera, quality, liveness, antispoof, random.Random(0), [])
        verdict = passive.verdict
        prompts: list[tuple[Action, float]] | None
        if species == BONA_FIDE:
            annotation = annotations.get(path.name, {})
            if annotation.get("blinks"):
                prompts = [("blink", max(0.0, annotation["blinks"][0] - LEAD_S))]
            elif annotation.get("mouth_open"):
                prompts = [("mouth_open", max(0.0, annotation["mouth_open"][0][0] - LEAD_S))]
            else:
                prompts = None
        else:
            blinks = [e.start_s for e in passive.events if e.kind == "blink"]
            prompts = [("blink", max(0.0, blinks[0] - LEAD_S) if blinks else 0.0)]
        if prompts is None:
            session_accepted, reason = None, "no_action_to_prompt"
        else:
            report = replay(path, camera, quality, liveness, antispoof, random.Random(0), prompts)
            session_accepted, reason = report.verdict.passed, str(report.verdict.reason)
        results.append(PresentationResult(path.name, species, verdict.attack_score, verdict.check_scores,
                                          not (antispoof.enabled and verdict.attack_score > antispoof.max_attack_score),
                                          session_accepted, reason))
    return results


def error_rates(results: list[PresentationResult], decision: str) -> dict[str, tuple[float, int]]:
    """{"APCER <species>": (rate, n), ..., "BPCER": (rate, n)} for ``decision`` "passive" or "session"."""
    rates: dict[str, tuple[float, int]] = {}
    species = sorted({r.species for r in results if r.species != BONA_FIDE})
    for kind in species:
        decided = [getattr(r, f"{decision}_accepted") for r in results if r.species == kind]
        decided = [d for d in decided if d is not None]
        if decided:
            rates[f"APCER {kind}"] = (sum(decided) / len(decided), len(decided))
    bona = [getattr(r, f"{decision}_accepted") for r in results if r.species == BONA_FIDE]
    bona = [d for d in bona if d is not None]
    if bona:
        rates["BPCER"] = (sum(1 for d in bona if not d) / len(bona), len(bona))
    return rates
