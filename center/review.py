"""The review queue: requests for manual review, their evidence, and the reviewers' signed decisions.

A record with outcome ``manual_review_requested`` (the person asked for it after the attempts ran
out) is a request. Its evidence is the request itself and the person's attempts before it at the same
terminal (outcomes, reason codes, audit scores, and face images only where the terminal sent them:
a terminal sends images only where its province allows, ``sync.send_face_images``), with the
person's roster row as the reference. A reviewer approves or rejects it with a reason; the decision
is stored with who, when and why, signed with the centre's key (:mod:`wire.review`), and attached to
the person's roster row with a new ``seq``, so every terminal receives it in its next roster delta.
An approval also sets the row's ``last_certified`` to the day of the request (never earlier than it
was).

Thread rules: functions take a session owned by the calling thread; :func:`decide` commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.db import Certification, Pensioner, ReviewDecisionRow, next_seq, utcnow
from wire.review import Decision, RecordOutcome, ReviewDecision, signed_decision
from wire.roster_csv import CHINA_STANDARD_TIME

# How far back before a request its attempts are looked for (the same visit).
EVIDENCE_WINDOW = timedelta(hours=2)


class ReviewError(Exception):
    """A decision that cannot be made; ``code`` is stable, the message is for the reviewer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ReviewCase:
    """One request with what a reviewer needs to judge it."""

    request: Certification
    attempts: list[Certification] = field(default_factory=list)
    pensioner: Pensioner | None = None
    decision: ReviewDecisionRow | None = None


def pending(session: Session, limit: int = 200) -> list[Certification]:
    """Requests without a decision, oldest first."""
    query = (select(Certification).outerjoin(ReviewDecisionRow, ReviewDecisionRow.record_id == Certification.record_id)
             .where(Certification.outcome == RecordOutcome.MANUAL_REVIEW_REQUESTED,
                    ReviewDecisionRow.record_id.is_(None))
             .order_by(Certification.occurred_at).limit(limit))
    return list(session.scalars(query))


def decided(session: Session, limit: int = 50) -> list[ReviewDecisionRow]:
    """The latest decisions, newest first."""
    return list(session.scalars(select(ReviewDecisionRow).order_by(ReviewDecisionRow.decided_at.desc()).limit(limit)))


def case(session: Session, record_id: str) -> ReviewCase:
    """The request ``record_id`` with its evidence; raises :class:`ReviewError` when it is no request."""
    request = session.get(Certification, record_id)
    if request is None or request.outcome != RecordOutcome.MANUAL_REVIEW_REQUESTED:
        raise ReviewError("review_not_found", "no request for manual review has this record id")
    attempts: list[Certification] = []
    if request.id_number:
        attempts = list(session.scalars(
            select(Certification).where(Certification.id_number == request.id_number,
                                        Certification.device_id == request.device_id,
                                        Certification.record_id != request.record_id,
                                        Certification.occurred_at <= request.occurred_at,
                                        Certification.occurred_at >= request.occurred_at - EVIDENCE_WINDOW)
            .order_by(Certification.occurred_at)))
    pensioner = session.get(Pensioner, request.id_number) if request.id_number else None
    return ReviewCase(request=request, attempts=attempts, pensioner=pensioner,
                      decision=session.get(ReviewDecisionRow, record_id))


def decide(session: Session, key: Ed25519PrivateKey, record_id: str, decision: Decision | str, reason: str,
           reviewer: str, *, now: datetime | None = None) -> ReviewDecision:
    """Records, signs and publishes a decision (commits); returns it as it travels.

    Raises :class:`ReviewError`: ``review_not_found``, ``review_already_decided`` (a decision is
    final: a mistaken one is corrected by a new certification, not overwritten), ``review_invalid``
    (an empty or too long reason, an unknown decision).
    """
    found = case(session, record_id)
    if found.decision is not None:
        raise ReviewError("review_already_decided",
                          f"this request was already {found.decision.decision} by {found.decision.reviewer}")
    decided_at = now or utcnow()
    try:
        signed = signed_decision(key, record_id=record_id, decision=Decision(decision), reason=reason.strip(),
                                 reviewer=reviewer, decided_at=decided_at)
    except (ValidationError, ValueError):
        raise ReviewError("review_invalid", "give approved or rejected and a reason of 1-200 characters") from None
    session.add(ReviewDecisionRow(record_id=record_id, id_number=found.request.id_number, decision=str(signed.decision),
                                  reason=signed.reason, reviewer=reviewer, decided_at=decided_at,
                                  signature=signed.signature))
    session.flush()
    pensioner = found.pensioner
    if pensioner is not None and not pensioner.removed:
        if signed.decision is Decision.APPROVED:
            day = occurred_at(found.request).astimezone(CHINA_STANDARD_TIME).date()
            if pensioner.last_certified is None or pensioner.last_certified < day:
                pensioner.last_certified = day
        pensioner.review_record_id = record_id
        pensioner.seq = next_seq(session)
        pensioner.updated_at = decided_at
    session.commit()
    return signed


def occurred_at(row: Certification) -> datetime:
    """When the person was at the terminal (aware), from the record as signed (the column lost its offset
    on SQLite for records stored before it was kept in UTC)."""
    try:
        return datetime.fromisoformat(str(row.record["occurred_at"]))
    except (KeyError, ValueError):
        moment = row.occurred_at
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def decisions_for(session: Session, record_ids: set[str]) -> dict[str, ReviewDecision]:
    """The wire form of the decisions ``record_ids`` (for roster pages)."""
    if not record_ids:
        return {}
    rows = session.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.record_id.in_(record_ids)))
    return {row.record_id: as_wire(row) for row in rows}


def as_wire(row: ReviewDecisionRow) -> ReviewDecision:
    """A stored decision as it travels (the stored signature covers exactly these fields)."""
    decided_at = row.decided_at if row.decided_at.tzinfo else row.decided_at.replace(tzinfo=timezone.utc)
    return ReviewDecision(record_id=row.record_id, decision=Decision(row.decision), reason=row.reason,
                          reviewer=row.reviewer, decided_at=decided_at, signature=row.signature)
