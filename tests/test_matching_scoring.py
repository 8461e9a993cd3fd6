"""Matching without models: templates, score-level fusion, FAR/FRR/FTA counting, labels, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from camera.matching import scoring
from camera.matching.errors import MatchError, MatchReason
from camera.matching.evaluation import PairScores, pair_scores, read_labels


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector) * 1.4  # dlib descriptors have norms near 1.4


def test_template_checks_shape_and_finiteness() -> None:
    assert scoring.as_template(unit(1).reshape(1, 128)).shape == (128,)
    for bad in (np.zeros(127), np.full(128, np.nan), np.zeros((2, 128))):
        with pytest.raises(ValueError, match="128 or 256 finite floats"):
            scoring.as_template(bad)


def test_fused_distance_is_the_mean_of_frame_distances() -> None:
    reference, frames = unit(1), [unit(2), unit(3), unit(4)]
    expected = np.mean([np.linalg.norm(f - reference) for f in frames])
    assert scoring.fused_distance(frames, reference) == pytest.approx(expected)
    # The mean of the descriptors would come closer than any frame: that is why it is not used.
    assert scoring.distance(np.mean(frames, axis=0), reference) < min(scoring.distance(f, reference) for f in frames)
    with pytest.raises(ValueError):
        scoring.fused_distance([], reference)


def test_pair_scores_count_genuine_impostor_and_failures() -> None:
    a1, a2, b1 = unit(1), unit(1) + 0.01, unit(2)
    scores = pair_scores([a1, a2, b1, None], ["a", "a", "b", "b"])
    assert scores.genuine.size == 1 and scores.impostor.size == 2
    assert scores.genuine[0] == pytest.approx(np.linalg.norm(a1 - a2), rel=1e-6)
    assert sorted(scores.impostor) == pytest.approx(sorted(np.linalg.norm([a1 - b1, a2 - b1], axis=1)), rel=1e-6)
    assert scores.fta == 0.25
    assert scores.frr(0.2) == 0.0 and scores.far(0.2) == 0.0
    assert scores.far(10.0) == 1.0 and scores.frr(0.0) == 1.0


def test_threshold_for_far_never_exceeds_the_target() -> None:
    rng = np.random.default_rng(0)
    scores = PairScores(rng.uniform(0.1, 0.5, 200), rng.uniform(0.3, 0.9, 5000), 100, 0)
    for target in (0.0, 0.001, 0.01, 0.1):
        cut = scores.threshold_for_far(target)
        assert scores.far(cut) <= target
        # and it is tight: the next impostor distance up would break the target
        next_impostor = float(np.sort(scores.impostor)[int(np.floor(target * scores.impostor.size))])
        assert scores.far(next_impostor) > target


def test_read_labels_resolves_paths_and_rejects_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "faces" / "casia").mkdir(parents=True)
    labels = tmp_path / "faces" / "labels.csv"
    labels.write_text("path,identity\nfaces/casia/x.png,casia_000\n")
    (row,) = read_labels(labels)
    assert row.path == tmp_path / "faces" / "casia" / "x.png" and row.group == "casia"
    labels.write_text("path,identity\nfaces/casia/x.png,\n")
    with pytest.raises(ValueError, match=":2: a row needs both"):
        read_labels(labels)
    labels.write_text("file,who\n")
    with pytest.raises(ValueError, match="header"):
        read_labels(labels)


def test_match_error_keeps_code_and_detail_across_processes() -> None:
    error = pickle.loads(pickle.dumps(MatchError(MatchReason.NO_USABLE_FACE, "gate", detail="blur")))
    assert error.code is MatchReason.NO_USABLE_FACE and error.detail == "blur" and error.message == "gate"


def test_reason_codes_are_flat_snake_case_and_do_not_repeat_camera_codes() -> None:
    from camera.errors import CameraReason

    codes = [str(code) for code in MatchReason]
    assert len(codes) == len(set(codes))
    assert all(code.islower() and " " not in code and "." not in code for code in codes)
    assert not set(codes) & {str(code) for code in CameraReason}


def test_importing_the_package_loads_no_model_and_not_dlib() -> None:
    import subprocess
    import sys

    code = "import sys, camera.matching, camera.matching.models as m; print('dlib' in sys.modules, len(m._cache))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["False", "0"]
