"""Doctor checks of the camera: a source that opens, one that does not, and the landmark model."""

from __future__ import annotations

from pathlib import Path

from kiosk.doctor import Status, all_checks
from kiosk.doctor.checks_camera import check_camera, check_landmark_model


def with_camera_url(config, url: str):
    return config.model_copy(update={"camera": config.camera.model_copy(update={"url": url})})


def test_the_camera_checks_are_registered() -> None:
    names = {check.name for check in all_checks()}
    assert {"camera", "landmark model"} <= names


def test_a_clip_opens_but_is_not_a_camera(config, media_dir: Path) -> None:
    result = check_camera(with_camera_url(config, f"file:{media_dir / 'videos' / 'glasses_still.mp4'}"))
    assert result.status is Status.WARNING
    assert "480x480" in result.detail and result.hint


def test_a_missing_camera_fails_with_its_reason_code(config, tmp_path: Path) -> None:
    result = check_camera(with_camera_url(config, f"images:{tmp_path / 'absent'}"))
    assert result.status is Status.FAILED and "camera_unavailable" in result.detail and result.hint
    result = check_camera(with_camera_url(config, "webcam"))
    assert result.status is Status.FAILED and "camera_url_invalid" in result.detail


def test_the_landmark_model_loads(config) -> None:
    assert check_landmark_model(config).status is Status.OK
