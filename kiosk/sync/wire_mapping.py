"""Stored records become signed wire records; roster pages become store changes.

Only the decision record leaves the terminal by default: who (ID number), when, where (region,
hall, device), outcome, reason code, scores. A face image is added only when the region's
configuration says so (``sync.send_face_images``; PIPL art. 28-30 and the 2025 face-recognition
measures) *and* the store attached one. Names, addresses and templates never leave.

Thread rules: pure functions, except :func:`apply_roster_page`, which writes through the store of
the calling thread in one transaction.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.errors import reason_code
from kiosk.store import CertificationRecord, Pensioner, Store
from kiosk.sync.review import apply_review, parse_failure as review_refusal
from kiosk.store.chain import decision_fields
from reader.idnumber import parse_card_number
from wire.result_record import SCORE_NAMES, ResultRecord, signed_record
from wire.schemas import RosterChange
from wire.template_codec import decode_template

log = logging.getLogger(__name__)

CURSOR_META_KEY = "sync.roster_cursor"

WIRE_FIELD_OF = {
    "record_id": "record_id", "session_id": "session_id", "occurred_at": "occurred_at", "region_code": "region_code",
    "id_number": "id_number", "outcome": "outcome", "reason_code": "reason_code", "attempt": "attempt",
    "valid_until": "certified_until", "evidence_jpeg": "face_image_jpeg", "assisted_by": "assisted_by",
    "channel": "channel", "staff_number": "staff_number", "staff_reason": "staff_reason", "chain_seq": "chain_seq",
    "prev_hash": "prev_hash",
    **{name: "scores" for name in SCORE_NAMES},
    "device_id": None,  # the record's is the configured id; the wire carries the enrolled one
}
"""Where each field of the stored record goes in the wire record (:func:`wire_record` fills them so;
``tests/test_wire_contract.py`` checks that together with ``wire.result_record.ENVELOPE_FIELDS`` they
account for every field on both sides)."""


def wire_record(record: CertificationRecord, *, device_id: str, key_id: str, hall_name: str,
                send_face_images: bool, key: Ed25519PrivateKey) -> ResultRecord:
    """The signed wire record of one stored decision (``ResultRecord`` in docs/sync-protocol.yaml).

    ``device_id`` is the enrolled id (the centre checks it against the request's device). The
    image goes only with ``send_face_images`` and when the store attached one. Not validated here:
    the centre judges the record. Raises ValueError / TypeError when a value cannot be written as
    JSON (the caller sets the record aside).
    """
    image = record.evidence_jpeg if send_face_images else None
    # The decision's fields come from the one function the store's link hashes come from.
    return signed_record(
        key, **decision_fields(record), device_id=device_id, key_id=key_id, hall_name=hall_name[:80],
        face_image_jpeg=base64.b64encode(image).decode("ascii") if image else None)


def apply_roster_page(store: Store, changes: list[dict[str, Any]], next_cursor: int) -> tuple[int, int, int]:
    """Applies one page of roster changes and moves the cursor, all in one transaction.

    A crash leaves either the whole page and the new cursor, or neither: the page is then fetched
    again and applied again (upserts and removals are idempotent). ID numbers follow the one rule
    of :func:`reader.idnumber.parse_card_number` (full-width digits and X folded to ASCII, any other
    non-ASCII character refused), as in the roster import. A malformed change (a field missing, an
    invalid number or template) is skipped whole (its own savepoint) and logged by its position,
    sequence number and reason (an ``id_number_*`` code or the exception's class), never its
    content; the page's skips are logged once more, counted by reason. One bad row must not stop
    every later roster update. Returns (upserted, removed, skipped). Raises StorageError /
    KeyUnavailableError from the store; nothing of the page is kept then.
    """
    upserted = removed = 0
    skipped: Counter[str] = Counter()
    with store.transaction():
        for position, change in enumerate(changes):
            try:
                with store.transaction():
                    if _apply_change(store, change):
                        upserted += 1
                    else:
                        removed += 1
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                reason = reason_code(exc)
                skipped[reason] += 1
                seq = change.get("seq") if isinstance(change, dict) else None
                # seq is the centre's integer; anything else could be any text, so it is not logged.
                log.warning("roster change #%d (seq %s) skipped: %s", position,
                            seq if type(seq) is int else "?", reason)
        store.set_meta(CURSOR_META_KEY, str(int(next_cursor)))
    if skipped:
        log.warning("roster page: %d of %d changes skipped (%s)", skipped.total(), len(changes),
                    ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())))
    return upserted, removed, skipped.total()


def _apply_change(store: Store, raw: Any) -> bool:
    """One change; True for an upsert, False for a removal. Raises ValueError (a ValidationError
    for a change that is not a ``RosterChange``, InvalidIdNumber for a number outside the one rule)
    or KeyError / TypeError."""
    # The review is judged on its own below: a malformed one must not cost the row its update.
    row = {key: value for key, value in raw.items() if key != "review"} if isinstance(raw, dict) else raw
    change = RosterChange.model_validate(row)
    id_number = parse_card_number(change.id_number).value
    if change.op == "remove":
        store.remove_pensioner(id_number)
        return False
    if change.name is None or change.region_code is None:
        raise KeyError("an upsert carries the name and the region_code")
    # Decoded before anything is written, so a bad template cannot leave half a change behind.
    templates = [decode_template(text) for text in change.templates]
    outcome = store.upsert_pensioner(Pensioner(id_number=id_number, name=change.name, region_code=change.region_code,
                                               last_certified=change.last_certified))
    # The centre's delta carries the person's full set of centre templates: replace ours from the
    # centre, and keep references enrolled by staff at this hall.
    if outcome != "inserted":  # a new row has no references yet
        store.remove_references(id_number, source="center")
    for template in templates:
        store.add_reference(id_number, template, "center")
    review = raw.get("review") if isinstance(raw, dict) else None
    if review is not None:
        # A review that cannot be trusted is refused alone: the row's own data is the roster's.
        try:
            with store.transaction():
                apply_review(store, id_number, review)
        except ValueError as exc:
            log.warning("roster change seq %s: review refused (%s)", change.seq, review_refusal(exc))
    return True


def roster_cursor(store: Store) -> int:
    """The highest roster sequence number applied (0 before the first pull)."""
    text = store.get_meta(CURSOR_META_KEY)
    return int(text) if text and text.isdigit() else 0


def set_aside_records(store: Store, limit: int = 100) -> list[tuple[str, str]]:
    """(record id, reason) of records the centre refused, newest first, for the technician page.

    The reason is the centre's code and message (never personal data). The store has no query for
    this yet, so it reads the outbox table directly (read-only).
    """
    rows = store.db.execute(
        "SELECT record_id, coalesce(rejected_reason, '') FROM outbox WHERE state = 'rejected' "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?", (int(limit),)).fetchall()
    return [(str(record_id), str(reason)) for record_id, reason in rows]
