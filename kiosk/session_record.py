"""The certification record of one attempt, as the session controller stores it.

Pure: built from the flow's :class:`~kiosk.flow_events.StoreRecord` effect and what the controller
holds of the attempt (the person's ID number, the liveness scores, the match, the evidence frame).
Runs on the controller's thread (it is handed that thread's data), but keeps nothing.

Privacy: the evidence image goes into the record only when the region keeps evidence
(``storage.evidence_retention_days``) or sends face images to the centre (``sync.send_face_images``);
the store encrypts it.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from kiosk.config import KioskConfig
from kiosk.flow_events import StoreRecord
from kiosk.ports import LivenessScores, MatchOutcome
from kiosk.reasons import Outcome
from kiosk.store import CertificationRecord

JPEG_QUALITY = 90
"""JPEG quality of the evidence image (0-100)."""


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
        reason_code=None if effect.outcome == Outcome.CERTIFIED else effect.outcome,
        liveness_score=unit(scores.liveness_score),
        attack_score=unit(scores.attack_score),
        match_distance=match.distance if match else None,
        attempt=max(1, effect.attempt),
        valid_until=effect.valid_until,
        evidence_jpeg=evidence_jpeg(config, evidence),
    )


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
