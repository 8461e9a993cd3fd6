"""Review decisions from the centre, as they arrive in the roster delta (issue 17, item 3, the
terminal's half).

A roster row may carry ``review``: ``{record_id, decision: approved|rejected, reason, reviewer,
decided_at, signature}``, the signature being the centre's Ed25519 signature over the canonical JSON
of the other fields (:func:`wire.signing.verify_record` checks exactly that). The centre's public
key (``center_public_key``) comes in its answers (enrolment, ping, heartbeat) and is kept in the
store's meta table (:data:`CENTER_KEY_META`). A decision that arrives before the key is kept
unverified and checked once the key is known (:func:`verify_pending`); one whose signature does not
verify against a known key is refused (logged by record id, never kept). The row's
``last_certified`` (set by the centre on approval) is applied with the row as any roster change.

The status screen tells the person a verified decision of the last :data:`REVIEW_NEWS_DAYS` days.

:class:`ReviewOnWire` is the wire contract's model (:class:`wire.review.ReviewDecision`, one place
for the fields' limits), tolerant of fields a newer centre may add and strict on the record id.

Thread rules: functions of the calling thread's store. Privacy: logs name record ids only.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from typing import Any

from pydantic import ConfigDict, ValidationError, field_validator

from kiosk.store import Store
from kiosk.store.base import local_day
from kiosk.store.staff import ReviewDecision
from wire.review import ReviewDecision as WireReviewDecision
from wire.signing import verify_record

log = logging.getLogger(__name__)

CENTER_KEY_META = "sync.center_public_key"
REVIEW_NEWS_DAYS = 60
"""A decision is told to the person on the status screen for this many days after it was made."""


class ReviewOnWire(WireReviewDecision):
    """The ``review`` object of a roster row (see the module docstring): the wire model's fields and
    limits, plus a record id that must be a UUID (the terminal's record ids are)."""

    # A newer centre may add fields: accepted here (the signature over the raw object covers them).
    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("record_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        uuid.UUID(value)
        return value


class ReviewSignatureInvalid(ValueError):
    """The decision's signature does not verify with the centre's key (the row's other data is kept)."""


def center_key(store: Store) -> str | None:
    """The centre's public key (base64), None while unknown."""
    return store.get_meta(CENTER_KEY_META)


def remember_center_key(store: Store, public_key: str | None) -> bool:
    """Keeps the centre's public key from an answer; True when it was new (then pending decisions
    are checked). Trust on first use: a changed key is logged and taken (the centre rotated it)."""
    if not public_key or public_key == center_key(store):
        return False
    if center_key(store) is not None:
        log.warning("the centre's public key changed; decisions are checked with the new one")
    store.set_meta(CENTER_KEY_META, public_key)
    return True


def apply_review(store: Store, id_number: str, raw: Any) -> ReviewDecision:
    """Keeps the review of one roster row (in the caller's transaction). Raises ValueError (a
    ValidationError for a malformed review, :class:`ReviewSignatureInvalid` for a bad signature)."""
    if not isinstance(raw, dict):
        raise ValueError("review is not an object")
    review = ReviewOnWire.model_validate(raw)
    key = center_key(store)
    verified = False
    if key is not None:
        if not verify_record(key, raw):
            raise ReviewSignatureInvalid(f"review of record {review.record_id}: signature does not verify")
        verified = True
    decision = ReviewDecision(record_id=review.record_id, id_number=id_number, decision=review.decision.value,
                              reason=review.reason, reviewer=review.reviewer, decided_at=review.decided_at,
                              signature=review.signature, verified=verified,
                              signed_json=json.dumps(raw, ensure_ascii=False, sort_keys=True))
    store.save_review_decision(decision)
    log.info("review of record %s applied: %s%s", review.record_id, review.decision.value,
             "" if verified else " (signature checked once the centre's key is known)")
    return decision


def verify_pending(store: Store) -> tuple[int, int]:
    """Checks kept decisions that arrived before the centre's key: (verified, dropped)."""
    key = center_key(store)
    if key is None:
        return 0, 0
    verified = dropped = 0
    for decision in store.review_decisions(unverified_only=True):
        if verify_record(key, json.loads(decision.signed_json)):
            store.mark_review_verified(decision.record_id)
            verified += 1
        else:
            store.drop_review_decision(decision.record_id)
            log.warning("review of record %s dropped: its signature does not verify", decision.record_id)
            dropped += 1
    return verified, dropped


def review_news(store: Store, id_number: str, today: date) -> ReviewDecision | None:
    """The person's verified decision to tell on the status screen, None when none is recent."""
    decision = store.latest_review_decision(id_number)
    if decision is None or not decision.verified:
        return None
    if (today - local_day(decision.decided_at)).days > REVIEW_NEWS_DAYS:
        return None
    return decision


def parse_failure(exc: BaseException) -> str:
    """A short code for a refused review (logs)."""
    if isinstance(exc, ReviewSignatureInvalid):
        return "review_signature_invalid"
    if isinstance(exc, ValidationError):
        return "review_invalid"
    return type(exc).__name__
