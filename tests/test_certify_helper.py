"""``kiosk certify --headless --helper`` end to end (issue 19): real clip, real FaceMesh, real dlib.

The helper's face is a second real face pasted into the genuine clip's frames (a son or daughter
leaning into the picture). When the helper leaves the picture before the actions, the card holder
is certified and the record says ``assisted_by = family``; when the helper comes back into the
picture during the actions, the attempt is refused as ``multiple_faces``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.store.store import DB_FILE_NAME
from test_certify_headless import GENUINE, PROMPTS, certify, import_roster, terminal  # noqa: F401 - the fixture

HELPER_FACE = "faces/casia/003/003_0.png"
HELPER_LEAVES_AT_FRAME = 20  # the helper steps aside within the first second (at 30 fps)


def compose(media_dir: Path, out: Path, helper_in_view: callable) -> Path:
    """The genuine clip with the helper's face pasted at the top left of the frames ``helper_in_view``
    selects (by frame index), written as an MP4 at the clip's own frame rate."""
    capture = cv2.VideoCapture(str(media_dir / GENUINE))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    helper = cv2.resize(cv2.imread(str(media_dir / HELPER_FACE)), None, fx=0.8, fy=0.8)
    writer: cv2.VideoWriter | None = None
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
        if helper_in_view(index):
            frame = np.ascontiguousarray(frame)
            frame[:helper.shape[0], :helper.shape[1]] = helper
        writer.write(frame)
        index += 1
    capture.release()
    assert writer is not None and index > 0
    writer.release()
    return out


def stored_records(data_dir: Path) -> list[tuple[str, str | None, str]]:
    """(outcome, assisted_by, channel) of every stored record (columns that hold no personal data)."""
    with sqlite3.connect(data_dir / DB_FILE_NAME) as db:
        return db.execute("SELECT outcome, assisted_by, channel FROM certifications ORDER BY rowid").fetchall()


def test_a_helped_certification_of_the_right_person_passes(terminal: dict, data_dir: Path,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    clip = compose(terminal["media"], terminal["tmp"] / "helper_leaves.mp4", lambda i: i < HELPER_LEAVES_AT_FRAME)
    import_roster(terminal, "same.jpg")
    status, result = certify(terminal, str(clip), [*PROMPTS, "--helper"], capsys)
    assert status == 0, result
    assert result["outcome"] == "certified" and result["assisted"] is True
    assert result["states"].index("helper_aside") < result["states"].index("positioning") < result["states"].index("actions")
    prompts = result["prompts"]
    assert prompts.index("helper_on") < prompts.index("helper_step_aside") < prompts.index("helper_look_at_screen")
    assert stored_records(data_dir) == [("certified", "family", "hall")]


def test_the_helper_staying_in_view_during_the_actions_is_refused(terminal: dict, data_dir: Path,  # noqa: F811
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    clip = compose(terminal["media"], terminal["tmp"] / "helper_stays.mp4",
                   lambda i: i < HELPER_LEAVES_AT_FRAME or i >= 45)  # back from 1.5 s, through the actions
    import_roster(terminal, "same.jpg")
    status, result = certify(terminal, str(clip), [*PROMPTS, "--helper"], capsys)
    assert status == 3, result
    assert result["outcome"] == "multiple_faces" and result["valid_until"] is None
    assert "actions" in result["states"] and "result_certified" not in result["prompts"]
    assert stored_records(data_dir) == [("multiple_faces", "family", "hall")]
