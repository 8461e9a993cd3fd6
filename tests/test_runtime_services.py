"""The technician services built by the runtime, as the kiosk window builds them: the test read goes
through the running reader service, enrolment is encoded in the matcher process, and dlib never
loads in the GUI process (checked in a fresh interpreter, since other tests load dlib in this one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.runtime import KioskSlot, technician_services
from reader.errors import ReaderError

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: the window with its technician panel, the runtime started behind it
# (as ui.app.run_app does), an enrolment photo encoded and the technician page's doctor run.
GUI_PROCESS = r"""
import json, sys
import cv2
from PySide6.QtWidgets import QApplication
from kiosk.clock import SystemClock
from kiosk.config import load_config
from kiosk.headless import RecordingVoice
from kiosk.runtime import Devices, KioskRuntime, KioskSlot, technician_services
from kiosk.selftest_frames import compose_still, portrait_path
from ui.app import build_main_window

app = QApplication([])
config = load_config()
slot = KioskSlot()
services = technician_services(config, config.terminal.resolved_data_dir() / "site.toml", SystemClock(), slot)
runtime = KioskRuntime(config, SystemClock(), Devices("sim://?present=0", config.camera.url, watch_for_people=False),
                       voice=RecordingVoice(), with_sync=False)
window = build_main_window(config, runtime.post, technician_services=services)
runtime.start()
slot.put(runtime)
try:
    template = services.encode_face(compose_still(cv2.imread(str(portrait_path()))))
    models = [f.result.status for f in services.checks(config) if f.check.name == "face models"]
    seen = {"template": len(template), "models": models, "dlib_in_gui": "dlib" in sys.modules}
finally:
    runtime.stop()
from camera.matching.encoding import Encoder  # the control: encoding here does load dlib
Encoder(config.match).encode(compose_still(cv2.imread(str(portrait_path()))))
seen["dlib_after_local_encode"] = "dlib" in sys.modules
print(json.dumps(seen))
"""


def test_dlib_never_loads_in_the_gui_process(data_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KIOSK_DATA_DIR": str(data_dir), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", GUI_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["template"] in (128, 256)  # encoded (dlib and/or SFace parts), in the matcher process
    assert seen["models"] == ["ok"]  # the doctor's face-models check ran, in a child process
    assert seen["dlib_in_gui"] is False
    assert seen["dlib_after_local_encode"] is True  # the check can see dlib when it is there


class FakeKiosk:
    """A running kiosk (kiosk.runtime.RunningKiosk) that records what the services borrow."""

    sync = None

    def __init__(self) -> None:
        self.reads: list[float] = []
        self.encoded: list[tuple[int, ...]] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def post(self, _event) -> None:
        pass

    def read_card_now(self, timeout_s: float) -> str:
        self.reads.append(timeout_s)
        return "the card"

    def encode_reference(self, image_bgr: np.ndarray, timeout_s: float = 30.0) -> np.ndarray:
        self.encoded.append(image_bgr.shape)
        return np.zeros(128)


def test_services_borrow_the_kiosk_once_it_runs(config: KioskConfig) -> None:
    from camera.matching.errors import MatchError

    slot = KioskSlot()
    services = technician_services(config, Path("/nonexistent/site.toml"), FakeClock(), slot, with_camera=False)
    assert services.start_preview is None and services.stop_preview is None
    with pytest.raises(ReaderError) as read_early:
        services.read_card()
    with pytest.raises(MatchError) as encode_early:
        services.encode_face(np.zeros((4, 4, 3), np.uint8))
    assert read_early.value.code == "reader_unavailable" and encode_early.value.code == "matcher_unavailable"
    with pytest.raises(RuntimeError):
        services.sync_status()
    kiosk = FakeKiosk()
    slot.put(kiosk)
    assert services.read_card() == "the card"
    assert services.encode_face(np.zeros((4, 4, 3), np.uint8)).shape == (128,)
    assert kiosk.encoded == [(4, 4, 3)] and len(kiosk.reads) == 1
