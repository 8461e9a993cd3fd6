"""Reason codes and the exception of the face matcher.

Every code is flat snake_case and unique across the project (the camera package's own quality and
liveness codes live in :mod:`camera.errors`; none of these repeat them), so ``ui/`` can map each one
to a message. Messages are for technicians and logs: they never hold a name, an ID number, a photo,
a path to a person's photo or an embedding.
"""

from __future__ import annotations

from enum import StrEnum


class MatchReason(StrEnum):
    """Every reason the matcher gives for not matching or not encoding."""

    #: A face was found but failed a quality gate (too small, blurred, turned, cut off), or no face
    #: was found at all: the matcher says so instead of guessing.
    NO_USABLE_FACE = "no_usable_face"
    #: Several faces of similar size and no seed box to say which one is meant.
    MULTIPLE_FACES_FOUND = "multiple_faces_found"
    #: The bytes are not a decodable image (or not JPEG, PNG, BMP, WebP or PBM/PGM/PPM), or the
    #: array is not an 8-bit grey/BGR image.
    IMAGE_UNREADABLE = "image_unreadable"
    #: The photo file, or the width x height its header claims, is past the limits of
    #: ``camera.matching.templates`` (a decompression bomb, or a photo far larger than any camera's):
    #: refused before it is decoded.
    IMAGE_TOO_LARGE = "image_too_large"
    #: A dlib model file is missing or cannot be loaded (see ``match.model_dir``).
    MODEL_MISSING = "model_missing"
    #: Faces on both sides were usable and the score is past the operating point.
    MISMATCH = "mismatch"
    #: No reference template or image was given, or none of them holds a usable face.
    NO_REFERENCE = "no_reference"
    #: The matcher worker process died or could not be started.
    MATCHER_UNAVAILABLE = "matcher_unavailable"


class MatchError(Exception):
    """A matcher failure with a stable reason ``code`` (a :class:`MatchReason`).

    ``detail`` names the failed quality gate(s) for ``no_usable_face`` (for example ``"blur"``), so
    that a technician can tell a blurred photo from a cut-off one; it never holds personal data.
    """

    def __init__(self, code: MatchReason, message: str = "", *, detail: str = "") -> None:
        super().__init__(message or code.value)
        self.code: MatchReason = code
        self.detail = detail

    @property
    def message(self) -> str:
        """The technician-facing sentence."""
        return str(self.args[0])

    def __reduce__(self):  # noqa: ANN204 - keeps code and detail across the worker-process pipe
        return (_rebuild, (self.code.value, self.message, self.detail))


def _rebuild(code: str, message: str, detail: str) -> MatchError:
    return MatchError(MatchReason(code), message, detail=detail)
