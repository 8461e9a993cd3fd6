"""The numpy copy of dlib's face-recognition ResNet (the exporter's reader and reference, and the
fallback when OpenCV cannot run the ONNX file): same descriptors as dlib, refuses other files, and
the encoder falls back to dlib when it cannot read the model. The cv2.dnn runtime:
tests/test_matching_onnx.py."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.matching import models as models_module
from camera.matching.models import (
    RESNET_FILE,
    SHAPE_PREDICTOR_FILE,
    load_models,
    model_folder,
)
from camera.matching.resnet import ModelFormatError, load_resnet

# dlib without BLAS and numpy's OpenBLAS sum in different orders: float32 rounding differs in
# the last digits. Distances are compared to 0.36, so 1e-4 per component is far below any effect.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def dlib_models():
    return load_models()


@pytest.fixture(scope="module")
def resnet_path() -> Path:
    return model_folder() / RESNET_FILE


def _chips() -> list[np.ndarray]:
    """Chips that drive every layer hard: noise, a ramp, a flat grey, saturated colours."""
    rng = np.random.default_rng(7)
    ramp = np.tile(np.linspace(0, 255, 150, dtype=np.uint8)[:, None, None], (1, 150, 3))
    return [
        rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        np.ascontiguousarray(ramp),
        np.full((150, 150, 3), 128, dtype=np.uint8),
        np.dstack([np.full((150, 150), 255, np.uint8), np.zeros((150, 150), np.uint8),
                   rng.integers(0, 256, (150, 150), dtype=np.uint8)]),
    ]


def _uncached_model_folder(tmp_path: Path, source: Path) -> Path:
    """A new folder linking the model files of ``source``: load_models caches per folder, so
    loading from it runs the whole load again."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name in (SHAPE_PREDICTOR_FILE, RESNET_FILE):
        (folder / name).symlink_to(source / name)
    return folder


@pytest.fixture(scope="module")
def numpy_resnet(resnet_path: Path):
    return load_resnet(resnet_path)


def test_descriptor_equals_dlibs_on_synthetic_chips(dlib_models, numpy_resnet) -> None:
    for chip in _chips():
        expected = np.asarray(dlib_models.resnet.compute_face_descriptor(chip, 0), dtype=np.float32)
        got = numpy_resnet.descriptor(chip)
        assert got.dtype == np.float32 and got.shape == (128,)
        assert np.abs(got - expected).max() < TOLERANCE


def test_descriptor_equals_dlibs_on_real_faces(media_dir: Path, dlib_models, numpy_resnet) -> None:
    import dlib

    from camera.matching.encoding import CHIP_PADDING, CHIP_SIZE_PX

    compared = 0
    for path in sorted((media_dir / "faces" / "casia").glob("*/*_0.png"))[:12]:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)  # 92x112 crops
        faces = dlib_models.detector(rgb, 0)
        if not faces:
            continue
        shape = dlib_models.shape_predictor(rgb, faces[0])
        chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING)  # as Encoder.encode
        expected = np.asarray(dlib_models.resnet.compute_face_descriptor(chip, 0), dtype=np.float32)
        assert np.abs(numpy_resnet.descriptor(chip) - expected).max() < TOLERANCE
        compared += 1
    assert compared >= 8


def test_descriptors_of_different_chips_differ(numpy_resnet) -> None:
    # Guards against a network that ignores its input (e.g. a lost layer order): dlib's own
    # descriptors of these chips are far apart, so must ours be.
    noise, ramp, *_ = _chips()
    distance = float(np.linalg.norm(numpy_resnet.descriptor(noise) - numpy_resnet.descriptor(ramp)))
    assert distance > 0.1


def test_wrong_chip_is_refused(numpy_resnet) -> None:
    with pytest.raises(ValueError, match="150x150"):
        numpy_resnet.descriptor(np.zeros((149, 150, 3), np.uint8))
    with pytest.raises(ValueError):
        numpy_resnet.descriptor(np.zeros((150, 150, 3), np.float32))


def test_truncated_file_is_refused(tmp_path: Path, resnet_path: Path) -> None:
    data = resnet_path.read_bytes()
    for cut in (10, 400, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.dat").write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            load_resnet(tmp_path / "cut.dat")


def test_other_files_are_refused(tmp_path: Path, resnet_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="metric-learning"):
        load_resnet(resnet_path.parent / SHAPE_PREDICTOR_FILE)
    data = bytearray(resnet_path.read_bytes())
    (tmp_path / "extra.dat").write_bytes(bytes(data) + b"\x01\x00")
    with pytest.raises(ModelFormatError, match="bytes left"):
        load_resnet(tmp_path / "extra.dat")
    # The first convolution's filter count (32 -> 33) no longer fits the weights that follow.
    index = data.index(b"con_4") + len(b"con_4") + 11 + 4736 * 4  # past the tensor header and data
    assert data[index: index + 2] == b"\x01\x20"
    data[index + 1] = 0x21
    (tmp_path / "changed.dat").write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="unexpected convolution 33x7x7"):
        load_resnet(tmp_path / "changed.dat")


def test_encoder_falls_back_to_dlib_when_the_copy_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture, dlib_models) -> None:
    from camera.matching.encoding import Encoder
    from kiosk.config import load_config

    folder = _uncached_model_folder(tmp_path, dlib_models.folder)

    def unreadable(path: Path):
        raise ModelFormatError("not this network")

    # The parser refuses the file: no ONNX file can be built, and no numpy copy read.
    monkeypatch.setattr(models_module, "_dnn_resnet", unreadable)
    monkeypatch.setattr(models_module, "load_resnet", unreadable)
    with caplog.at_level(logging.WARNING, logger="camera.matching.models"):
        fallback = load_models(str(folder))
    assert fallback.fast_resnet is None
    assert "runs in dlib" in caplog.text
    # The technician sees it: matching works, slower.
    from kiosk.doctor import Status
    from kiosk.doctor.checks_models import check_face_models

    config = load_config()
    elsewhere = config.match.model_copy(update={"model_dir": str(folder)})
    slow_check = check_face_models(config.model_copy(update={"match": elsewhere}))
    assert slow_check.status is Status.WARNING and "4x slower" in slow_check.detail
    assert check_face_models(config).status is Status.OK
    settings = config.match
    chip = _chips()[0]
    slow = Encoder(settings, fallback)._descriptor(chip, 0)
    fast = Encoder(settings, dlib_models)._descriptor(chip, 0)
    assert np.abs(slow - fast).max() < TOLERANCE


def test_jittered_descriptors_stay_with_dlib(dlib_models) -> None:
    from dataclasses import replace

    from camera.matching.encoding import Encoder
    from kiosk.config import load_config

    calls: list[int] = []

    class CountingResnet:
        def compute_face_descriptor(self, chip, jitters):
            calls.append(jitters)
            return dlib_models.resnet.compute_face_descriptor(chip, jitters)

    encoder = Encoder(load_config().match, replace(dlib_models, resnet=CountingResnet()))
    chip = _chips()[0]
    plain = encoder._descriptor(chip, 0)
    assert calls == []  # one plain pass: the numpy copy
    assert np.array_equal(encoder._descriptor(chip, 1), plain)  # dlib's 1 jitter is the plain pass too
    assert calls == []
    jittered = encoder._descriptor(chip, 3)
    assert calls == [3]
    # dlib's jitters are random crops, rotations and flips: the average moves away from the plain pass.
    assert np.abs(jittered - plain).max() > TOLERANCE


def test_loading_limits_blas_and_opencv_to_one_thread(tmp_path: Path, dlib_models) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    # Start from two BLAS threads and load from a folder not yet cached, so the limit is set by
    # this load: with BLAS already at one thread (an earlier load, a 1-core machine) the check
    # below would pass without it.
    folder = _uncached_model_folder(tmp_path, dlib_models.folder)
    with threadpool_limits(limits=2, user_api="blas"):
        assert any(pool["num_threads"] == 2 for pool in threadpool_info() if pool["user_api"] == "blas")
        cv2.setNumThreads(2)
        load_models(str(folder))
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
        assert cv2.getNumThreads() == 1  # cv2.dnn: one thread too
