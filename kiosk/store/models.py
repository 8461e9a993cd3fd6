"""The values the store takes and gives back: small frozen dataclasses, no database types.

Dates are calendar dates in the hall's local time (China Standard Time); instants are
timezone-aware ``datetime`` objects (naive ones are refused: a record's time must be unambiguous).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, NewType

from kiosk.reasons import Outcome, is_code

RecordId = NewType("RecordId", str)
"""A certification record's UUID (text, 36 characters); also the outbox key and the sync key."""

RefId = NewType("RefId", str)
"""A face reference's UUID (text)."""

UpsertResult = Literal["inserted", "updated", "unchanged"]

REFERENCE_SOURCES = frozenset({"roster_photo", "chip_photo", "staff_enrolment", "center", "live_refresh"})
"""Where a face template came from (kept with it so a technician can tell enrolments apart)."""

MAX_EVIDENCE_BYTES = 2_000_000  # a 640x480 JPEG is ~50 kB; anything far larger is a caller's mistake


def new_record_id() -> RecordId:
    """A fresh random record UUID (version 4)."""
    return RecordId(str(uuid.uuid4()))


@dataclass(frozen=True)
class Pensioner:
    """One roster entry: identity data only (the face reference lives apart, see the store).

    ``id_number``: 18-character resident ID number (upper-case X) or another card's number;
    ``region_code``: 6-digit GB/T 2260 code of the region paying the pension;
    ``last_certified``: local date of the last successful certification, None when never;
    ``photo_path``: roster photo file a template is (or will be) built from, None when none.
    """

    id_number: str
    name: str
    region_code: str
    last_certified: date | None = None
    photo_path: str | None = None

    def __post_init__(self) -> None:
        if not self.id_number or len(self.id_number) > 32 or self.id_number != self.id_number.strip().upper():
            raise ValueError("id_number must be 1-32 characters, stripped and upper-case")
        if not self.name.strip() or len(self.name) > 64:
            raise ValueError("name must be 1-64 characters")
        if not re.fullmatch(r"[0-9]{6}", self.region_code):  # not \d: it takes any script's digits (#13)
            raise ValueError("region_code must be 6 digits")
        if self.last_certified is not None and type(self.last_certified) is not date:
            raise ValueError("last_certified must be a date (not a datetime)")


@dataclass(frozen=True, kw_only=True)
class CertificationRecord:
    """One attempt at the terminal, as kept locally and (without the image) sent to the centre.

    ``outcome`` is ``certified`` or a reason code (``kiosk.reasons.Outcome``); ``reason_code`` is the
    finer reason (a device or check code), None when there is none. Scores are for the audit record
    only, never shown to the person (GB/T 38671): ``liveness_score`` and ``attack_score`` in 0-1,
    ``match_distance`` in dlib descriptor space (Euclidean), each None when that step did not run.
    ``attempt`` counts from 1 within the session. ``valid_until``: the date the person is certified
    until (set when certified). ``chain_seq`` / ``prev_hash``: the record's number and the link hash of
    the record before it, given by the store (None for records stored before the trail). ``evidence_jpeg``: optional face image, kept encrypted only when the
    configuration keeps evidence; it is never part of ``repr``.
    """

    record_id: RecordId = field(default_factory=new_record_id)
    session_id: str
    occurred_at: datetime
    device_id: str
    region_code: str
    id_number: str | None
    outcome: str
    reason_code: str | None = None
    liveness_score: float | None = None
    attack_score: float | None = None
    match_distance: float | None = None
    attempt: int = 1
    valid_until: date | None = None
    # Its place in the terminal's tamper-evident trail (kiosk/store/chain.py), set by the store when
    # the record is stored: not part of the decision, so two records compare without it.
    chain_seq: int | None = field(default=None, compare=False)
    prev_hash: str | None = field(default=None, compare=False)
    evidence_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        uuid.UUID(self.record_id)  # raises ValueError for a malformed id
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        if not is_code(self.outcome):
            raise ValueError("outcome must be a snake_case reason code")
        if self.reason_code is not None and not is_code(self.reason_code):
            raise ValueError("reason_code must be a snake_case reason code")
        if not self.session_id or not self.device_id:
            raise ValueError("session_id and device_id are required")
        if self.attempt < 1:
            raise ValueError("attempt counts from 1")
        if self.outcome == Outcome.CERTIFIED and not self.id_number:
            raise ValueError("a certified record needs the id_number")
        for name in ("liveness_score", "attack_score"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0-1")
        if self.match_distance is not None and not self.match_distance >= 0.0:
            raise ValueError("match_distance must be a non-negative number")
        if self.evidence_jpeg is not None and (
            not self.evidence_jpeg.startswith(b"\xff\xd8") or len(self.evidence_jpeg) > MAX_EVIDENCE_BYTES
        ):
            raise ValueError(f"evidence_jpeg must be a JPEG image of at most {MAX_EVIDENCE_BYTES} bytes")

    @property
    def certified(self) -> bool:
        """True when this attempt certified the person."""
        return self.outcome == Outcome.CERTIFIED


@dataclass(frozen=True)
class OutboxItem:
    """A record waiting to go to the centre, as the typed record the store keeps.

    ``record``: the stored decision; its ``evidence_jpeg`` is set only when the store sends face
    images (``sync.send_face_images``) and evidence for the record is kept and readable. None when
    the stored row no longer forms a valid :class:`CertificationRecord` (a damaged database, or a
    rule made stricter since it was written): ``unreadable`` then names the exception class, and the
    sync side sets the record aside instead of guessing what it said.
    """

    record_id: RecordId
    record: CertificationRecord | None
    attempts: int
    last_error: str | None
    unreadable: str | None = None
