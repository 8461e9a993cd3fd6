"""Measures live-reference refresh (issue 15, item 4) on the shared face media.

    python scripts/refresh_experiment.py [--media ../shared/media] [--keep-ratio 0.8] [--orders 3]

Genuine runs: for every identity with 3+ usable images, each image in turn is the "old official
photo" and the others, in ``--orders`` shuffled orders, are yearly visits (one still image = one
visit's live face). FRR per visit is counted with the official reference alone and with live
references kept by the product's rules (kiosk/live_references.py: earned from the official
reference only, official distance <= keep-ratio x cut, at most 2 kept, each counted 730 days).

Impostor runs: every image of every other identity (UTK older faces included) attempts each
target's state after its genuine visits (official + live references): FAR with refresh on vs off.
Poisoning: every impostor attempt the official reference falsely accepts at the cut is checked
against the keep rule (would it be kept?), and, as the worst case, it is kept anyway: the share
of that impostor's other images then accepted (through the poisoned reference), and how many
further live references it would earn with and without the earned-from-official rule.

Encodes with SFace only (the configured deciding model); encodings are cached in
``--cache`` (default /tmp/refresh_experiment_sface.npz). Liveness is taken as strong for every
visit (stills carry no attack score): the keep rule here is the distance margin alone.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from camera.matching.evaluation import read_labels, relabel  # noqa: E402
from camera.matching.model_evaluation import wilson  # noqa: E402
from kiosk.config import load_config  # noqa: E402

DAYS_PER_VISIT = 365
MAX_VISITS = 6


def encode_all(paths: list[str], cache: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(reference encodings, live encodings) of SFace's part per path; cached by path list."""
    if cache.exists():
        data = np.load(cache, allow_pickle=True)
        if list(data["paths"]) == paths:
            return data["reference"].item(), data["live"].item()
    from camera.matching.batch import encode_file  # noqa: PLC0415
    from camera.matching.matcher import FaceMatcher  # noqa: PLC0415
    from camera.matching.scoring import split_parts  # noqa: PLC0415

    matcher = FaceMatcher(load_config().match)
    if matcher.sface is None:
        raise SystemExit(f"SFace is not loaded: {matcher.sface_problem}")
    reference: dict[str, np.ndarray] = {}
    live: dict[str, np.ndarray] = {}
    for number, path in enumerate(paths, start=1):
        for is_reference, into in ((True, reference), (False, live)):
            done = encode_file(path, matcher, is_reference, ("sface",))
            if done.vector is not None and (part := split_parts(done.vector)[1]) is not None:
                into[path] = part / np.linalg.norm(part)
        if number % 100 == 0:
            print(f"  encoded {number}/{len(paths)}", file=sys.stderr)
    np.savez(cache, paths=np.array(paths, dtype=object), reference=np.array(reference, dtype=object),
             live=np.array(live, dtype=object))
    return reference, live


@dataclass
class State:
    """One target's references: the official one and the kept live ones (template, visit kept)."""

    official: np.ndarray
    live: list[tuple[np.ndarray, int]] = field(default_factory=list)

    def usable_live(self, visit: int, max_age_days: int) -> list[np.ndarray]:
        return [t for t, kept in self.live if (visit - kept) * DAYS_PER_VISIT <= max_age_days]


@dataclass
class Rules:
    cut: float
    keep_cut: float
    max_live: int = 2
    max_age_days: int = 730
    earned_from_official: bool = True
    anchor_cut: float = math.inf  # a live reference counts only when the official distance is at most this


def attempt(state: State, face: np.ndarray, visit: int, rules: Rules, *, refresh: bool) -> tuple[bool, bool]:
    """(accepted, kept a live reference) for one visit; updates ``state`` when one is kept."""
    official = 1.0 - float(face @ state.official)
    anchored = refresh and official <= rules.anchor_cut
    lives = [1.0 - float(face @ t) for t in state.usable_live(visit, rules.max_age_days)] if anchored else []
    accepted = official <= rules.cut or any(d <= rules.cut for d in lives)
    earned = official <= rules.keep_cut or (not rules.earned_from_official and any(d <= rules.keep_cut for d in lives))
    if refresh and accepted and earned:
        state.live = [(t, v) for t, v in state.live if (visit - v) * DAYS_PER_VISIT <= rules.max_age_days]
        state.live.append((face, visit))
        state.live = state.live[-rules.max_live:]
        return True, True
    return accepted, False


def rate(errors: int, trials: int) -> str:
    if not trials:
        return "n/a (0 trials)"
    low, high = wilson(errors, trials)
    return f"{100 * errors / trials:.2f} % ({errors}/{trials}; 95 % CI {100 * low:.2f}-{100 * high:.2f} %)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    parser.add_argument("--keep-ratio", type=float, default=None, help="default: match.refresh_keep_ratio")
    parser.add_argument("--anchor-ratio", type=float, default=math.inf,
                        help="a live reference counts only when the official distance is at most this x cut (default: always)")
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/refresh_experiment_sface.npz"))
    args = parser.parse_args(argv)
    labels_csv = args.media / "faces" / "labels.csv"
    if not labels_csv.exists():
        print(f"no {labels_csv}: the shared media are absent", file=sys.stderr)
        return 2
    settings = load_config().match
    images, _ = relabel(read_labels(labels_csv), ROOT / "scripts" / "media_same_person.csv")
    paths = [str(i.path) for i in images]
    reference, live = encode_all(paths, args.cache)
    by_identity: dict[str, list[str]] = {}
    for image in images:
        by_identity.setdefault(image.identity, []).append(str(image.path))
    keep_ratio = settings.refresh_keep_ratio if args.keep_ratio is None else args.keep_ratio
    rules = Rules(cut=settings.sface_max_distance, keep_cut=keep_ratio * settings.sface_max_distance,
                  max_live=settings.refresh_max_live, max_age_days=settings.refresh_max_age_days,
                  anchor_cut=args.anchor_ratio * settings.sface_max_distance)
    rng = np.random.default_rng(args.seed)
    print(f"SFace cut {rules.cut}, keep cut {rules.keep_cut:.3f} (ratio {keep_ratio}), "
          f"at most {rules.max_live} live references, {rules.max_age_days} days; "
          f"{len(reference)} reference / {len(live)} live encodings of {len(paths)} images")

    # -- genuine runs ------------------------------------------------------------------------
    group_of = {str(i.path): i.group for i in images}
    visits = refused_off = refused_on = kept = runs = 0
    later_visits = later_refused_off = later_refused_on = 0
    per_group: dict[str, list[int]] = {}  # group -> [visits, refused off, refused on]
    hardest = [0, 0, 0]  # the same for runs whose official photo is the identity's least alike
    final_states: dict[str, list[State]] = {}
    for identity, members in sorted(by_identity.items()):
        usable = [p for p in members if p in live]
        if len(usable) < 3:
            continue
        officials = [p for p in members if p in reference]
        least_alike = max(officials, key=lambda o: np.mean([1.0 - float(live[p] @ reference[o]) for p in usable if p != o]),
                          default=None)
        for official_path in officials:
            others = [p for p in usable if p != official_path]
            for _ in range(args.orders):
                order = list(rng.permutation(others))[:MAX_VISITS]
                off, on = State(reference[official_path]), State(reference[official_path])
                runs += 1
                for visit, path in enumerate(order, start=1):
                    accepted_off, _ = attempt(off, live[path], visit, rules, refresh=False)
                    accepted_on, was_kept = attempt(on, live[path], visit, rules, refresh=True)
                    visits += 1
                    refused_off += not accepted_off
                    refused_on += not accepted_on
                    kept += was_kept
                    tally = per_group.setdefault(group_of[official_path], [0, 0, 0])
                    for counts in (tally, hardest) if official_path == least_alike else (tally,):
                        counts[0] += 1
                        counts[1] += not accepted_off
                        counts[2] += not accepted_on
                    if visit >= 2:  # a live reference can only help from the second visit on
                        later_visits += 1
                        later_refused_off += not accepted_off
                        later_refused_on += not accepted_on
                final_states.setdefault(identity, []).append(on)
    print(f"\nGenuine: {runs} runs, {visits} visits, {kept} live references kept")
    print(f"  FRR official only      : {rate(refused_off, visits)}")
    print(f"  FRR with refresh       : {rate(refused_on, visits)}")
    print(f"  visits 2+ only: off {rate(later_refused_off, later_visits)}; on {rate(later_refused_on, later_visits)}")
    for group, (n, off_n, on_n) in sorted(per_group.items()):
        print(f"  {group:8s} off {rate(off_n, n)}; on {rate(on_n, n)}")
    print(f"  official = each identity's least alike photo: off {rate(hardest[1], hardest[0])}; "
          f"on {rate(hardest[2], hardest[0])}")

    # -- impostor runs against each target's state after its genuine visits -------------------
    attempts = fa_off = fa_on = fa_via_live = 0
    poison_candidates = poison_kept = 0
    reuse_trials = reuse_accepted = 0
    closest_impostor = math.inf
    chain_with_rule = chain_without_rule = 0
    for target, states in sorted(final_states.items()):
        state = states[0]  # one state per target: its first official photo, first order
        final_visit = MAX_VISITS
        lives = state.usable_live(final_visit, rules.max_age_days)
        for impostor, members in by_identity.items():
            if impostor == target:
                continue
            faces = [live[p] for p in members if p in live]
            for index, face in enumerate(faces):
                attempts += 1
                official = 1.0 - float(face @ state.official)
                closest_impostor = min(closest_impostor, official)
                live_best = min((1.0 - float(face @ t) for t in lives), default=math.inf) \
                    if official <= rules.anchor_cut else math.inf
                fa_off += official <= rules.cut
                fa_on += official <= rules.cut or live_best <= rules.cut
                fa_via_live += official > rules.cut and live_best <= rules.cut
                if official > rules.cut:
                    continue
                # A false accept by the official reference: would the keep rule keep it?
                poison_candidates += 1
                poison_kept += official <= rules.keep_cut
                # Worst case: kept anyway. The impostor's other images against the poisoned state.
                for other in faces[:index] + faces[index + 1:]:
                    reuse_trials += 1
                    poisoned = 1.0 - float(other @ face)
                    off_d = 1.0 - float(other @ state.official)
                    reuse_accepted += off_d <= rules.cut or (poisoned <= rules.cut and off_d <= rules.anchor_cut)
                    # Would this attempt earn a further live reference?
                    chain_with_rule += off_d <= rules.keep_cut
                    chain_without_rule += off_d <= rules.keep_cut or poisoned <= rules.keep_cut
    print(f"\nImpostor: {attempts} attempts against {len(final_states)} targets "
          f"(each with its live references after {MAX_VISITS} visits: {sum(len(s[0].live) for s in final_states.values())} in all)")
    print(f"  FAR official only      : {rate(fa_off, attempts)}")
    print(f"  FAR with refresh       : {rate(fa_on, attempts)} ({fa_via_live} through a live reference alone)")
    print(f"  closest impostor to an official reference: {closest_impostor:.3f}")
    print(f"\nPoisoning: {poison_candidates} false accepts by the official reference at the cut")
    print(f"  kept by the keep rule  : {poison_kept} (official distance <= {rules.keep_cut:.3f})")
    print(f"  worst case, kept anyway: the impostor's other images accepted {rate(reuse_accepted, reuse_trials)}")
    print(f"  further live references earned: {chain_with_rule} with the earned-from-official rule, "
          f"{chain_without_rule} without it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
