"""dlib's ResNet exported to ONNX and run by cv2.dnn: the same descriptors as dlib and the numpy
copy, a valid ONNX file, built once into the cache (or on first use), and each fallback step."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.matching import face_model_file
from camera.matching import models as models_module
from camera.matching.dnn_resnet import DnnResNet
from camera.matching.models import RESNET_FILE, SHAPE_PREDICTOR_FILE, load_models, model_folder
from camera.matching.onnx_export import IR_VERSION, OPSET
from camera.matching.onnx_proto import ModelProto
from camera.matching.resnet import ModelFormatError, load_resnet

# cv2.dnn, numpy's OpenBLAS and dlib sum in different orders; measured max differences are 3e-7 to
# 6e-7. 1e-5 still catches any wrong layer (those move components by 1e-2 and more); against dlib
# the older 1e-4 of tests/test_matching_resnet.py stays the contract.
TOLERANCE_NUMPY = 1e-5
TOLERANCE_DLIB = 1e-4


@pytest.fixture(scope="module")
def source() -> Path:
    return model_folder() / RESNET_FILE


@pytest.fixture(scope="module")
def model_bytes(source: Path) -> bytes:
    return face_model_file.build(source, face_model_file.source_digest(source))


@pytest.fixture(scope="module")
def nets(source: Path, model_bytes: bytes):
    import dlib

    return DnnResNet(model_bytes), load_resnet(source), dlib.face_recognition_model_v1(str(source))


def _synthetic_chips() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    ramp = np.tile(np.linspace(0, 255, 150, dtype=np.uint8)[None, :, None], (150, 1, 3))
    return [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8), np.ascontiguousarray(ramp),
            np.zeros((150, 150, 3), np.uint8), np.full((150, 150, 3), 255, np.uint8)]


def _face_chips(media_dir: Path, count: int) -> list[np.ndarray]:
    """Aligned chips of real faces (CASIA crops and the deepface photos), as Encoder.encode cuts them."""
    import dlib

    from camera.matching.encoding import CHIP_PADDING, CHIP_SIZE_PX

    models = load_models()
    paths = sorted((media_dir / "faces" / "casia").glob("*/*_1.png"))[:count] + \
        sorted((media_dir / "faces" / "deepface").glob("*.jpg"))[:count]
    chips = []
    for path in paths:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        if max(rgb.shape[:2]) < 200:
            rgb = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)  # 92x112 crops
        faces = models.detector(rgb, 0)
        if faces:
            shape = models.shape_predictor(rgb, faces[0])
            chips.append(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING))
    return chips


def _max_differences(nets, chips: list[np.ndarray]) -> tuple[float, float]:
    dnn, numpy_net, dlib_net = nets
    to_numpy = to_dlib = 0.0
    for chip in chips:
        got = dnn.descriptor(chip)
        assert got.dtype == np.float32 and got.shape == (128,)
        to_numpy = max(to_numpy, float(np.abs(got - numpy_net.descriptor(chip)).max()))
        expected = np.asarray(dlib_net.compute_face_descriptor(chip, 0), dtype=np.float32)
        to_dlib = max(to_dlib, float(np.abs(got - expected).max()))
    return to_numpy, to_dlib


def test_cv2_dnn_equals_numpy_and_dlib_on_synthetic_chips(nets) -> None:
    to_numpy, to_dlib = _max_differences(nets, _synthetic_chips())
    assert to_numpy < TOLERANCE_NUMPY and to_dlib < TOLERANCE_DLIB


def test_cv2_dnn_equals_numpy_and_dlib_on_real_faces(media_dir: Path, nets) -> None:
    chips = _face_chips(media_dir, 10)
    assert len(chips) >= 12
    to_numpy, to_dlib = _max_differences(nets, chips)
    assert to_numpy < TOLERANCE_NUMPY and to_dlib < TOLERANCE_DLIB
    # and the network is not blind to its input: two people are far apart
    dnn = nets[0]
    assert float(np.linalg.norm(dnn.descriptor(chips[0]) - dnn.descriptor(chips[-1]))) > 0.3


def test_wrong_chip_is_refused(nets) -> None:
    with pytest.raises(ValueError, match="150x150"):
        nets[0].descriptor(np.zeros((150, 149, 3), np.uint8))
    with pytest.raises(ValueError):
        nets[0].descriptor(np.zeros((150, 150, 3), np.float32))


def test_the_file_is_standard_onnx_and_reproducible(source: Path, model_bytes: bytes) -> None:
    model = ModelProto.FromString(model_bytes)
    assert model.ir_version == IR_VERSION and [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert {n.op_type for n in model.graph.node} == {
        "Sub", "Mul", "Conv", "Relu", "MaxPool", "AveragePool", "Pad", "Add", "GlobalAveragePool", "Flatten", "MatMul"}
    assert dict((p.key, p.value) for p in model.metadata_props)["source_sha256"] == face_model_file.source_digest(source)
    assert [i.name for i in model.graph.input] == ["chip"] and [o.name for o in model.graph.output] == ["descriptor"]
    # Same source, same bytes: a rebuilt cache or bundle file never differs from the tested one.
    assert face_model_file.build(source, face_model_file.source_digest(source)) == model_bytes


def test_onnx_checker_accepts_the_file(model_bytes: bytes) -> None:
    onnx = pytest.importorskip("onnx", reason="the onnx package is not a dependency; install it to run its checker")
    onnx.checker.check_model(onnx.load_from_string(model_bytes), full_check=True)


def test_export_writes_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert face_model_file.cache_dir() == tmp_path / "cache" / "kiosk" / "models"
    path = face_model_file.export(source)
    assert path.parent == face_model_file.cache_dir()
    assert path.name.startswith("dlib_face_recognition_resnet_model_v1.e") and path.suffix == ".onnx"
    assert face_model_file.source_digest(source)[:16] in path.name
    assert path.stat().st_mode & 0o777 == 0o644
    stamp = path.stat().st_mtime_ns
    assert face_model_file.export(source) == path and path.stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    other = face_model_file.file_name(source, "0" * 64)
    assert other != path.name  # another source file gets another name


def test_export_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "scripts" / "export_face_model.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path and Path(done.stdout.strip()).is_file()
    refused = subprocess.run([sys.executable, str(script), "--model-dir", str(tmp_path / "none"), "--out", str(tmp_path)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1 and "not a folder" in refused.stderr


def _fresh_folder(tmp_path: Path) -> Path:
    """A folder linking the dlib files, not yet cached by load_models."""
    folder = tmp_path / "models"
    folder.mkdir(parents=True)
    for name in (SHAPE_PREDICTOR_FILE, RESNET_FILE):
        (folder / name).symlink_to(model_folder() / name)
    return folder


def test_first_use_builds_the_file_and_a_damaged_one_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    models = load_models(str(_fresh_folder(tmp_path)))
    assert models.fast_resnet.backend == "cv2.dnn"
    [built] = face_model_file.cache_dir().iterdir()
    built.write_bytes(built.read_bytes()[:5000])  # a cut file (a full disk, a bad copy)
    with caplog.at_level(logging.WARNING, logger="camera.matching.models"):
        again = load_models(str(_fresh_folder(tmp_path / "again")))
    assert again.fast_resnet.backend == "cv2.dnn" and "damaged" in caplog.text
    assert built.stat().st_size > 20_000_000


def test_an_unwritable_cache_runs_from_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")  # mkdir fails, as on a read-only home
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with caplog.at_level(logging.WARNING, logger="camera.matching.models"):
        models = load_models(str(_fresh_folder(tmp_path)))
    assert models.fast_resnet.backend == "cv2.dnn" and "cannot be cached" in caplog.text


def test_bundled_file_next_to_the_source_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = _fresh_folder(tmp_path)
    face_model_file.export(source, folder)  # as kiosk.spec puts it into the bundle
    assert load_models(str(folder)).fast_resnet.backend == "cv2.dnn"
    assert not face_model_file.cache_dir().exists()  # nothing built


def test_numpy_copy_when_opencv_cannot_run_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from kiosk.config import load_config
    from kiosk.doctor import Status
    from kiosk.doctor.checks_models import check_face_models

    def unreadable(model: bytes):
        raise ModelFormatError("cv2.dnn cannot read the ONNX model: an operator it lacks")

    monkeypatch.setattr(models_module, "DnnResNet", unreadable)
    folder = _fresh_folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="camera.matching.models"):
        models = load_models(str(folder))
    assert models.fast_resnet.backend == "numpy" and "trying the numpy copy" in caplog.text
    config = load_config()
    check = check_face_models(config.model_copy(update={"match": config.match.model_copy(update={"model_dir": str(folder)})}))
    assert check.status is Status.WARNING and "numpy copy" in check.detail
    assert "cv2.dnn" in check_face_models(config).detail
