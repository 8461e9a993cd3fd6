"""The matcher on real faces with the real dlib models (``match.model = "dlib"``, the fallback when
the SFace files are missing): genuine, impostor, no face, several faces, corrupt images, the seed
box, missing models, and the two CLI commands. A handful of images only. The SFace path has its own
file, ``test_matching_sface.py``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.matching import FaceMatcher, MatchError, MatchReason, template_from_image_file
from camera.settings import MatchSettings
from conftest import run_cli

CASIA = "faces/casia"


@pytest.fixture(scope="module")
def settings() -> MatchSettings:
    from kiosk.config import load_config

    return load_config().match.model_copy(update={"model": "dlib"})


@pytest.fixture(scope="module")
def matcher(settings: MatchSettings) -> FaceMatcher:
    return FaceMatcher(settings)


def photo(media_dir: Path, person: str, shot: int) -> np.ndarray:
    image = cv2.imread(str(media_dir / CASIA / person / f"{person}_{shot}.png"))
    assert image is not None
    return image


def test_genuine_frames_match_a_template_from_a_file(media_dir: Path, matcher: FaceMatcher, settings: MatchSettings) -> None:
    reference = template_from_image_file(media_dir / CASIA / "001" / "001_4.png", settings)
    assert reference.dtype == np.float32 and reference.shape == (128,)
    decision = matcher.verify([photo(media_dir, "001", 0), photo(media_dir, "001", 1)], [reference])
    assert decision.matched and decision.reason is None
    assert decision.frames_used == 2 and decision.references_used == 1
    assert decision.distance <= settings.max_distance


def test_chinese_impostor_is_rejected_where_the_usual_cut_would_accept(media_dir: Path, matcher: FaceMatcher,
                                                                      settings: MatchSettings) -> None:
    # 002 and 010 are two young Chinese men whose dlib distance is below the usual 0.6 cut.
    live, reference = photo(media_dir, "002", 0), photo(media_dir, "010", 0)
    decision = matcher.verify([live], [reference])
    assert not decision.matched and decision.reason is MatchReason.MISMATCH
    assert settings.max_distance < decision.distance < 0.6


def test_no_face_is_a_result_not_a_guess(media_dir: Path, matcher: FaceMatcher) -> None:
    blank = np.full((480, 640, 3), 128, dtype=np.uint8)
    decision = matcher.verify([blank], [photo(media_dir, "001", 0)])
    assert not decision.matched and decision.reason is MatchReason.NO_USABLE_FACE and decision.frames_used == 0
    with pytest.raises(MatchError) as info:
        matcher.encode(blank)
    assert info.value.code is MatchReason.NO_USABLE_FACE and info.value.detail == "no_face"
    # 019_4 is a crop that cuts the face off: no usable face.
    with pytest.raises(MatchError) as info:
        template_from_image_file(media_dir / CASIA / "019" / "019_4.png")
    assert info.value.code is MatchReason.NO_USABLE_FACE


def test_a_blurred_frame_fails_the_gate_and_is_skipped_among_good_ones(media_dir: Path, matcher: FaceMatcher) -> None:
    sharp = photo(media_dir, "001", 0)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    encoding = matcher.encode(blurred, require_usable=False)
    assert "blur" in encoding.issues and not encoding.usable
    decision = matcher.verify([blurred, sharp], [photo(media_dir, "001", 1)])
    assert decision.frames_used == 1


def test_several_faces_need_a_seed_box(media_dir: Path, matcher: FaceMatcher) -> None:
    left, right = photo(media_dir, "001", 0), photo(media_dir, "003", 1)
    pair = np.hstack([left, right])
    with pytest.raises(MatchError) as info:
        matcher.encode(pair)
    assert info.value.code is MatchReason.MULTIPLE_FACES_FOUND
    # A FaceMesh-like box around the right face picks that face.
    width = left.shape[1]
    seeded = matcher.encode(pair, face_box=(width + 10, 30, width + 160, 180))
    alone = matcher.encode(right)
    assert seeded.box[0] >= width and not seeded.seeded
    assert float(np.linalg.norm(seeded.vector - alone.vector)) < 0.1


def test_seed_box_is_the_fallback_when_hog_finds_nothing(media_dir: Path, matcher: FaceMatcher) -> None:
    image = photo(media_dir, "001", 0)
    rotated = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)  # HOG is upright-only
    with pytest.raises(MatchError):
        matcher.encode(rotated)
    height, width = rotated.shape[:2]
    encoding = matcher.encode(rotated, face_box=(0, 0, width, height), require_usable=False)
    assert encoding.seeded and encoding.faces_found == 0


def test_corrupt_and_wrong_inputs_are_unreadable(media_dir: Path, matcher: FaceMatcher, tmp_path: Path) -> None:
    truncated = tmp_path / "broken.jpg"
    truncated.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    for path in (truncated, tmp_path / "missing.png"):
        with pytest.raises(MatchError) as info:
            template_from_image_file(path)
        assert info.value.code is MatchReason.IMAGE_UNREADABLE
    for bad in (np.zeros((480, 640), dtype=np.float32), np.zeros((4, 4, 3), dtype=np.uint8), "photo.jpg"):
        with pytest.raises(MatchError) as info:
            matcher.encode(bad)  # type: ignore[arg-type]
        assert info.value.code is MatchReason.IMAGE_UNREADABLE
    decision = matcher.verify([photo(media_dir, "001", 0)], [np.zeros(5, dtype=np.float32)])
    assert decision.reason is MatchReason.NO_REFERENCE


def test_missing_model_is_a_clear_error(tmp_path: Path, settings: MatchSettings) -> None:
    (tmp_path / "shape_predictor_5_face_landmarks.dat").write_bytes(b"not a model")
    with pytest.raises(MatchError) as info:
        FaceMatcher(settings.model_copy(update={"model_dir": str(tmp_path)}))
    assert info.value.code is MatchReason.MODEL_MISSING and "dlib_face_recognition_resnet_model_v1.dat" in info.value.message
    (tmp_path / "dlib_face_recognition_resnet_model_v1.dat").write_bytes(b"not a model either")
    with pytest.raises(MatchError, match="cannot be loaded") as info:
        FaceMatcher(settings.model_copy(update={"model_dir": str(tmp_path)}))
    assert info.value.code is MatchReason.MODEL_MISSING


def test_cli_verify_two_images_and_pairs(media_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = (str(media_dir / CASIA / p) for p in ("001/001_0.png", "001/001_1.png", "019/019_4.png"))
    assert run_cli(["verify", a, b, "--json", "--jitters", "0"]) == 0
    row = json.loads(capsys.readouterr().out)
    # The configured model decides (SFace when its files are installed, else the dlib fallback).
    cut = {"sface": 0.57, "dlib": 0.36}
    assert row["match"] is True and row["faces_a"] == 1 and 0 < row["distance"] <= cut[row["model"]]
    assert run_cli(["verify", a, c, "--json", "--jitters", "0"]) == 1
    row = json.loads(capsys.readouterr().out)
    assert row["error"] == "no_usable_face" and row["side"] == "b" and "match" not in row
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{a}\t{b}\n# a comment\n{a}\t{c}\nnot a pair\n{b}\t{tmp_path / 'gone.png'}\n")
    assert run_cli(["verify", "--pairs", str(pairs), "--json", "--jitters", "0"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("match") for r in rows] == [True, None, None, None]
    assert [r.get("error") for r in rows] == [None, "no_usable_face", "pair_line_malformed", "image_unreadable"]
    assert run_cli(["verify", a]) != 0


def test_cli_faces_evaluate_counts_and_plots(media_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "faces").symlink_to(media_dir / "faces")  # a link, not a copy: media stays outside
    labels = tmp_path / "labels.csv"
    rows = [f"faces/casia/{p}/{p}_{i},casia_{p}" for p in ("001", "004", "019") for i in ("0.png", "1.png")]
    labels.write_text("path,identity\n" + "\n".join(rows) + "\n")
    plot = tmp_path / "det.png"
    arguments = ["faces", "evaluate", str(labels), "--group", "casia", "--plot", str(plot), "--jitters", "0",
                 "--folds", "3", "--workers", "1", "--cache", str(tmp_path / "encodings.npz"), "--json"]
    assert run_cli(arguments) == 0
    report = json.loads(capsys.readouterr().out)
    assert run_cli(arguments) == 0  # the second run reads the encodings back: the same report
    second = capsys.readouterr()
    assert json.loads(second.out) == report and "encoding again" not in second.err
    site = tmp_path / "site.toml"  # other gates decide other failures to acquire: never the old encodings
    site.write_text("[match]\nmin_chin_margin = 0.0\n")
    assert run_cli(["--config", str(site), *arguments]) == 0
    assert "made under other [match] settings: encoding again" in capsys.readouterr().err
    assert (report["images"], report["identities"]) == (6, 3)
    dlib = report["models"]["dlib"]["at_configured_cut"]["casia"]
    # dlib finds no usable face on 019 (cut off / blurred webcam crops): 2 of 6 images fail to
    # acquire; 001 and 004 give 2 genuine and 4 impostor pairs.
    assert dlib["fta"] == pytest.approx(2 / 6) and dlib["failed_images"] == 2
    assert (dlib["genuine_pairs"], dlib["impostor_pairs"]) == (2, 4)
    assert dlib["frr"] == 0.0 and dlib["far"] == 0.0
    sface = report["models"]["sface"]["at_configured_cut"]["casia"]
    assert sface["far"] == 0.0 and sface["impostor_pairs"] >= 4 and 0.0 <= sface["fta"] <= 1.0
    for model in ("dlib", "sface", "fusion"):
        entry = report["models"][model]
        assert set(entry["cross_validated"]) == {"all", "casia"} and len(entry["fold_cuts"]) == 3
        assert Path(entry["det_plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_cli(["faces", "evaluate", str(labels), "--group", "nope", "--plot", str(plot), "--jitters", "0"]) != 0