"""kiosk.spec without building: run it with PyInstaller's build classes replaced by recorders and
check what it would put into the bundle (a build takes minutes; `make bundle-test` does that)."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from camera.matching import face_model_file
from kiosk.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def spec() -> SimpleNamespace:
    recorded = SimpleNamespace()

    class Analysis:
        def __init__(self, scripts, **kwargs) -> None:
            recorded.scripts, recorded.kwargs = scripts, kwargs
            self.binaries = [("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", "x", "BINARY"),
                             ("PySide6/Qt/plugins/platforms/libqxcb.so", "x", "BINARY")]
            self.datas = [("libQt6VirtualKeyboard.so.6", "x", "SYMLINK")]
            self.pure, self.scripts = [], []
            recorded.analysis = self

    def record(name: str):
        def build(*args, **kwargs):
            setattr(recorded, name, (args, kwargs))
            return SimpleNamespace()
        return build

    runpy.run_path(str(REPO / "kiosk.spec"), init_globals={
        "SPECPATH": str(REPO), "Analysis": Analysis, "PYZ": record("pyz"), "EXE": record("exe"), "COLLECT": record("collect"),
    })
    return recorded


def _datas(spec: SimpleNamespace) -> dict[str, list[str]]:
    by_target: dict[str, list[str]] = {}
    for source, target in spec.kwargs["datas"]:
        by_target.setdefault(target, []).append(source)
    return by_target


def test_models_config_and_samples_are_bundled(spec: SimpleNamespace) -> None:
    datas = _datas(spec)
    face_models = {Path(p).name: Path(p) for p in datas["face_recognition_models/models"]}
    resnet = face_models["dlib_face_recognition_resnet_model_v1.dat"]
    onnx = face_model_file.file_name(resnet, face_model_file.source_digest(resnet))
    # The ONNX file cv2.dnn runs, made from the bundled .dat (the matcher looks it up by that
    # file's sha256 next to it), the SFace and YuNet files (sha256-checked), and nothing else.
    from camera.matching import sface_files

    assert set(face_models) == {"shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat", onnx,
                                *sface_files.FILES}
    assert face_models[onnx].stat().st_size > 20_000_000
    assert all(sface_files.sha256_of(face_models[name]) == sface_files.SHA256[name] for name in sface_files.FILES)
    facemesh = {Path(p).name for target, paths in datas.items() if target.startswith("mediapipe/modules") for p in paths}
    assert {"face_landmark_front_cpu.binarypb", "face_landmark_with_attention.tflite",
            "face_detection_short_range.tflite"} <= facemesh
    assert not any("hand_landmark" in target or "pose" in target for target in datas)
    assert {Path(p).name for p in datas["config"]} == {"kiosk.toml", "prompts.toml", "visit.toml"}
    assert "resident_long_term.json" in {Path(p).name for p in datas["reader/samples"]}
    assert [Path(p).name for p in datas["selftest"]] == ["grace_hopper.jpg"]
    assert all(Path(source).exists() for source, _target in spec.kwargs["datas"])


def test_name_imported_modules_are_hidden_imports(spec: SimpleNamespace) -> None:
    hidden = set(spec.kwargs["hiddenimports"])
    assert {"serial.urlhandler.protocol_socket", "serial.urlhandler.protocol_hwgrep", "serial.urlhandler.protocol_loop",
            "reader.urlhandler.protocol_sim", "kiosk.selftest", "PySide6.QtMultimedia", "wire.result_record",
            "wire.signing"} <= hidden
    present = {module for module, _help in COMMANDS.values() if (REPO / (module.replace(".", "/") + ".py")).exists()}
    assert present <= hidden
    assert not any(".tests" in name for name in hidden)


def test_what_stays_out(spec: SimpleNamespace) -> None:
    excludes = set(spec.kwargs["excludes"])
    assert {"jax", "jaxlib", "torch", "tkinter", "center", "fastapi", "pytest"} <= excludes
    kept = [entry[0] for entry in spec.analysis.binaries + spec.analysis.datas]
    assert kept == ["PySide6/Qt/plugins/platforms/libqxcb.so"]  # Virtual Keyboard (GPL) dropped, xcb kept
    assert spec.collect[1]["name"] == "kiosk" and spec.exe[1]["console"] is True
