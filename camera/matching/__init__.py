"""1:1 face matching with dlib: detection, 5-point alignment, ResNet descriptor, decision.

Public API (see ``docs/matching.md``)::

    matcher = FaceMatcher(settings)                 # loads the models (MatchError model_missing)
    encoding = matcher.encode(image_bgr, face_box)  # FaceEncoding: vector float32 (128,), box, quality
    decision = matcher.verify(live_frames, references)  # MatchDecision: matched, distance, reason
    worker = MatcherProcess(settings)               # same, in a process: submit_verify / submit_encode
    template = template_from_image_file(path)       # roster photos -> float32 (128,)

No Qt, no kiosk imports. Importing this package loads no model and does not import dlib.
"""

from camera.matching.encoding import Box, FaceEncoding, FaceQuality
from camera.matching.errors import MatchError, MatchReason
from camera.matching.matcher import FaceMatcher, MatchDecision
from camera.matching.process import MatcherProcess
from camera.matching.templates import read_image, template_from_image_file

__all__ = [
    "Box",
    "FaceEncoding",
    "FaceMatcher",
    "FaceQuality",
    "MatchDecision",
    "MatchError",
    "MatchReason",
    "MatcherProcess",
    "read_image",
    "template_from_image_file",
]
