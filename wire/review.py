"""Review decisions on the wire: the centre's signed answer to a request for manual review.

A person whose attempts ran out may ask for a manual review (record outcome
``manual_review_requested``). A reviewer at the centre approves or rejects it with a reason; the
decision travels back to every terminal inside the person's roster delta row
(:class:`wire.schemas.RosterChange` ``review``), signed by the centre's Ed25519 key so that a terminal
can tell a real decision from a forged roster answer. The centre's public key is published as
``center_public_key`` in the ``/v1/ping``, ``/v1/enrol`` and ``/v1/heartbeat`` answers.

The signature covers the canonical JSON (:mod:`wire.canonical`) of every other field of the decision
exactly as it travels (:meth:`ReviewDecision.wire_dict`); a terminal verifies the object it received
with :func:`verify_decision`. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from wire.signing import sign_record, verify_record


class RecordOutcome(StrEnum):
    """The record outcomes the centre acts on (the terminal's ``kiosk.reasons.Outcome`` spells the same
    codes; ``wire`` imports nothing of the kiosk, so the centre names them here)."""

    CERTIFIED = "certified"
    STAFF_VERIFIED = "staff_verified"  # 面对面认证: a member of staff checked the person (staff_number, staff_reason)
    MANUAL_REVIEW_REQUESTED = "manual_review_requested"


CERTIFYING_OUTCOMES = frozenset({RecordOutcome.CERTIFIED, RecordOutcome.STAFF_VERIFIED})
"""Outcomes that certify the person for the cycle (domain.md: next due within 365 days)."""


class Decision(StrEnum):
    """A reviewer's verdict."""

    APPROVED = "approved"  # the person is certified as of the decision
    REJECTED = "rejected"  # not certified: the person must certify again (counter, face to face)


MAX_REASON_CHARS = 200


class ReviewDecision(BaseModel):
    """One signed decision on a review request (``record_id`` is the request record's id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    record_id: str = Field(min_length=1, max_length=36)
    decision: Decision
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)
    reviewer: str = Field(min_length=1, max_length=32, description="the reviewer's staff number")
    decided_at: datetime
    signature: str = Field(min_length=1, max_length=200)

    @field_validator("decided_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("decided_at needs a UTC offset")
        return value

    @field_serializer("decided_at")
    def _instant(self, value: datetime) -> str:
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def wire_dict(self) -> dict[str, Any]:
        """The JSON-ready decision as it travels (what the signature covers, with the signature)."""
        return self.model_dump(mode="json")


def signed_decision(key: Ed25519PrivateKey, *, record_id: str, decision: Decision, reason: str, reviewer: str,
                    decided_at: datetime) -> ReviewDecision:
    """A decision signed with the centre's key (validated: a bad field raises pydantic's ValidationError)."""
    unsigned = ReviewDecision.model_construct(record_id=record_id, decision=Decision(decision), reason=reason,
                                              reviewer=reviewer, decided_at=decided_at)
    fields = {name: value for name, value in unsigned.model_dump(mode="json").items() if name != "signature"}
    return ReviewDecision.model_validate({**fields, "signature": sign_record(key, fields)})


def verify_decision(center_public_key: str, decision: Mapping[str, Any]) -> bool:
    """True when ``decision`` (the JSON object as received) carries a valid signature of the centre's key."""
    return verify_record(center_public_key, decision)
