"""What the session controller holds of a person's session, what comes back for it from other
threads, and the certification record built from it.

* :class:`SessionData`: the ID number of the accepted card, the current attempt's match and
  evidence frame; replaced on every wipe.
* Completions (:class:`MatchDecided`, :class:`MatcherFailed`, :class:`LiveReferenceEncoded`,
  :class:`LiveReferenceFailed`): made on the matcher's reply thread from a finished future by
  :func:`match_completion` / :func:`encoding_completion`, which read nothing but the future, then
  posted to the controller's queue and handled on its thread.
* :func:`build_record`: the record of one attempt (pure).

Privacy: the ID number and the images are kept out of every ``repr``; the evidence image goes into
the record only when the region keeps evidence (``storage.evidence_retention_days``) or sends face
images to the centre (``sync.send_face_images``); the store encrypts it.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from kiosk.config import KioskConfig
from kiosk.errors import reason_code
from kiosk.flow_events import StoreRecord
from kiosk.ports import LivenessScores, MatchOutcome
from kiosk.reasons import CERTIFYING_OUTCOMES, Outcome
from kiosk.store import CertificationRecord

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
"""JPEG quality of the evidence image (0-100)."""


@dataclass
class SessionData:
    """What the controller holds of the person while their session runs; replaced on every wipe.

    ``id_number`` comes from the card read the flow accepted; ``match`` and ``evidence`` (the live
    frame kept as evidence, BGR) belong to the current attempt and are reset when one starts.
    """

    id_number: str | None = field(default=None, repr=False)
    match: MatchOutcome | None = None
    evidence: np.ndarray | None = field(default=None, repr=False)
    staff_photo: bytes | None = field(default=None, repr=False)  # JPEG a staff member took, with consent
    #: The source of each reference given to the current attempt's match, in the matcher's order.
    reference_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchDecided:
    """The matcher answered for the session ``session_id`` (which may have ended meanwhile)."""

    session_id: str | None
    outcome: MatchOutcome


@dataclass(frozen=True)
class MatcherFailed:
    """The match of session ``session_id`` could not be run (the worker died): ``code``."""

    session_id: str | None
    code: str


@dataclass(frozen=True, eq=False)
class LiveReferenceEncoded:
    """The best live frame of a certified person was encoded: keep it as their live reference."""

    id_number: str = field(repr=False)
    vector: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class LiveReferenceFailed:
    """The live frame could not be encoded (``code``); the certification stands without it."""

    code: str


Completion = MatchDecided | MatcherFailed | LiveReferenceEncoded | LiveReferenceFailed
"""Every completion the controller's queue carries besides flow events."""


def match_completion(future: Future[MatchOutcome], session_id: str | None) -> MatchDecided | MatcherFailed:
    """The completion for a finished match. Runs on the matcher's thread: reads only the future."""
    try:
        return MatchDecided(session_id, future.result())
    except Exception as exc:  # noqa: BLE001 - the matcher process may die; that is a device error
        from camera.matching.errors import MatchReason  # noqa: PLC0415 - camera.matching loads OpenCV

        log.warning("matcher failed: %s", reason_code(exc))
        return MatcherFailed(session_id, reason_code(exc, MatchReason.MATCHER_UNAVAILABLE))


def encoding_completion(future: Future, id_number: str) -> LiveReferenceEncoded | LiveReferenceFailed:
    """The completion for a finished encoding. Runs on the matcher's thread: reads only the future."""
    try:
        return LiveReferenceEncoded(id_number, np.asarray(future.result().vector, dtype=np.float64))
    except Exception as exc:  # noqa: BLE001 - a refresh is a bonus; the certification stands
        return LiveReferenceFailed(reason_code(exc))


def build_record(config: KioskConfig, occurred_at: datetime, session_id: str | None, id_number: str | None,
                 effect: StoreRecord, scores: LivenessScores, match: MatchOutcome | None,
                 evidence: np.ndarray | None) -> CertificationRecord:
    """The record of one attempt. ``scores`` are kept for a failed challenge too (a spoof's score is
    evidence); ``evidence`` is a BGR frame, encoded only when the configuration keeps images."""
    return CertificationRecord(
        session_id=session_id or "none",
        occurred_at=occurred_at,
        device_id=config.terminal.device_id,
        region_code=config.terminal.region_code,
        id_number=id_number,
        outcome=effect.outcome,
        reason_code=None if effect.outcome in CERTIFYING_OUTCOMES else effect.outcome,
        liveness_score=unit(scores.liveness_score),
        attack_score=unit(scores.attack_score),
        match_distance=match.distance if match else None,
        attempt=max(1, effect.attempt),
        valid_until=effect.valid_until,
        assisted_by=effect.assisted_by,
        channel=config.terminal.channel,
        # On a home visit every record names the staff member signed in for the visit (issue 19).
        staff_number=(config.terminal.staff_number or None) if config.terminal.channel == "home_visit" else None,
        evidence_jpeg=evidence_jpeg(config, evidence),
    )


def build_staff_record(config: KioskConfig, occurred_at: datetime, session_id: str | None, id_number: str | None,
                       effect: StoreRecord, photo_jpeg: bytes | None) -> CertificationRecord:
    """The record of a face-to-face certification by staff: no scores (no face check ran), the
    staff member and the reason; the photo (taken with the person's consent) only when the
    configuration keeps evidence images."""
    keeps_image = config.storage.evidence_retention_days > 0 or config.sync.send_face_images
    return CertificationRecord(
        session_id=session_id or "none", occurred_at=occurred_at, device_id=config.terminal.device_id,
        region_code=config.terminal.region_code, id_number=id_number, outcome=effect.outcome,
        attempt=max(1, effect.attempt), valid_until=effect.valid_until, staff_number=effect.staff_number,
        staff_reason=effect.staff_reason, channel=config.terminal.channel,
        evidence_jpeg=photo_jpeg if keeps_image else None)


def evidence_jpeg(config: KioskConfig, frame: np.ndarray | None) -> bytes | None:
    """``frame`` as JPEG bytes when the configuration keeps evidence images, else None."""
    keeps_image = config.storage.evidence_retention_days > 0 or config.sync.send_face_images
    if not keeps_image or frame is None:
        return None
    import cv2  # only when evidence is kept at all

    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return encoded.tobytes() if ok else None


def unit(value: float | None) -> float | None:
    """Clamps a score to 0-1 for the record (devices may report slightly outside by rounding)."""
    return None if value is None else min(1.0, max(0.0, float(value)))
