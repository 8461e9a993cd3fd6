"""Doctor checks of the camera: the configured source opens and gives a frame; FaceMesh loads.

The camera check grabs one frame (at most ``camera.frame_timeout_s`` plus the open time) and keeps
nothing of it: the detail carries the size and the measured rate, never the picture.
"""

from __future__ import annotations

import numpy as np

from camera.errors import CameraError, CameraReason
from kiosk.config import KioskConfig
from kiosk.doctor import Check, CheckResult, Status

_HINTS = {
    CameraReason.CAMERA_UNAVAILABLE: "check the USB cable and camera.url (v4l2-ctl --list-devices), and that "
                                     "the kiosk user is in the video group",
    CameraReason.CAMERA_URL_INVALID: "fix camera.url: device:0, /dev/video0, file:clip.mp4 or images:folder/",
    CameraReason.CAMERA_SOURCE_EMPTY: "the file or folder in camera.url has no decodable picture",
}


def check_camera(config: KioskConfig) -> CheckResult:
    """Opens ``camera.url`` and waits for one frame."""
    from camera.sources import open_source  # OpenCV import only when the check runs

    settings = config.camera
    try:
        source = open_source(settings.url, settings)
        source.start()
        try:
            frame = source.next_frame(settings.frame_timeout_s + 3.0)
            fps = source.fps
        finally:
            source.stop()
    except CameraError as exc:
        return CheckResult(Status.FAILED, f"{settings.url}: [{exc.code}] {exc.message}",
                           _HINTS.get(exc.code, "see docs/liveness.md for this reason code"))
    if frame is None:
        return CheckResult(Status.FAILED, f"{settings.url}: opened but no frame within "
                           f"{settings.frame_timeout_s + 3.0:.0f} s", _HINTS[CameraReason.CAMERA_UNAVAILABLE])
    height, width = frame.image.shape[:2]
    detail = f"{settings.url}: {width}x{height}" + (f", {fps:.0f} fps" if fps else "")
    if not settings.url.startswith(("device:", "/dev/")):
        return CheckResult(Status.WARNING, detail + " (not a camera)", "set camera.url to the camera before certifying people")
    if (width, height) != (settings.width_px, settings.height_px):
        return CheckResult(Status.WARNING, detail + f" (asked for {settings.width_px}x{settings.height_px})",
                           "the camera does not offer the configured size: set camera.width_px/height_px to one it does")
    return CheckResult(Status.OK, detail)


def check_landmark_model(config: KioskConfig) -> CheckResult:
    """Loads FaceMesh (with irises) and the face counter and runs them once on a blank frame."""
    from camera.landmarks import LandmarkDetector

    try:
        with LandmarkDetector(static_images=True) as detector:
            detector.detect(np.zeros((config.camera.height_px, config.camera.width_px, 3), dtype=np.uint8))
    except CameraError as exc:
        return CheckResult(Status.FAILED, f"[{exc.code}] {exc.message}",
                           "reinstall mediapipe==0.10.21 (the last release that bundles the FaceMesh models)")
    return CheckResult(Status.OK, "FaceMesh (468 points + irises) and the face detector load")


CHECKS: list[Check] = [
    Check("camera", check_camera, required=True, order=30),
    Check("landmark model", check_landmark_model, required=True, order=31),
]
