"""Outbox payloads become signed wire records; roster pages become store changes.

Only the decision record leaves the terminal by default: who (ID number), when, where (region,
hall, device), outcome, reason code, scores. A face image is added only when the region's
configuration says so (``sync.send_face_images``; PIPL art. 28-30 and the 2025 face-recognition
measures) *and* the store attached one. Names, addresses and templates never leave.

Thread rules: pure functions, except :func:`apply_roster_page`, which writes through the store of
the calling thread in one transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.store import Pensioner, Store
from reader.idnumber import InvalidIdNumber, parse_card_number
from wire.signing import sign_record
from wire.templates import decode_template

log = logging.getLogger(__name__)

SCORE_FIELDS = ("liveness_score", "attack_score", "match_distance")
IMAGE_FIELD = "face_image_jpeg_base64"  # as the store attaches it (kiosk/store/records.py)
CURSOR_META_KEY = "sync.roster_cursor"


def wire_record(payload: dict[str, Any], *, device_id: str, key_id: str, hall_name: str,
                send_face_images: bool, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed record for one outbox payload (see ``ResultRecord`` in docs/sync-protocol.yaml).

    ``device_id`` is the enrolled id (the centre checks it against the request's device). Raises
    KeyError / ValueError when the payload lacks a required field (the caller sets it aside).
    """
    occurred = payload["occurred_at"]
    occurred_text = occurred.isoformat() if isinstance(occurred, datetime) else str(occurred)
    if datetime.fromisoformat(occurred_text).tzinfo is None:
        raise ValueError("occurred_at has no UTC offset")
    valid_until = payload.get("valid_until")
    record: dict[str, Any] = {
        "record_id": str(payload["record_id"]),
        "device_id": device_id,
        "key_id": key_id,
        "session_id": str(payload.get("session_id") or "")[:64],
        "occurred_at": occurred_text,
        "region_code": str(payload["region_code"]),
        "hall_name": hall_name[:80],
        "outcome": str(payload["outcome"]),
        "reason_code": str(payload.get("reason_code") or ""),
        "attempt": int(payload.get("attempt") or 1),
        "scores": {name: float(payload[name]) for name in SCORE_FIELDS if payload.get(name) is not None},
    }
    if payload.get("id_number"):
        record["id_number"] = str(payload["id_number"])
    if valid_until:
        record["certified_until"] = valid_until.isoformat() if isinstance(valid_until, date) else str(valid_until)
    if send_face_images and payload.get(IMAGE_FIELD):
        record["face_image_jpeg"] = str(payload[IMAGE_FIELD])
    record["signature"] = sign_record(key, record)
    return record


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
                reason = exc.code if isinstance(exc, InvalidIdNumber) else type(exc).__name__
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


def _apply_change(store: Store, change: dict[str, Any]) -> bool:
    """One change; True for an upsert, False for a removal. Raises KeyError/TypeError/ValueError
    (InvalidIdNumber for a number outside the one rule)."""
    op = change["op"]
    if not isinstance(change["id_number"], str):
        raise TypeError("id_number is not a string")
    id_number = parse_card_number(change["id_number"]).value
    if op == "remove":
        store.remove_pensioner(id_number)
        return False
    if op != "upsert":
        raise ValueError("unknown op")
    # Decoded before anything is written, so a bad template cannot leave half a change behind.
    templates = [decode_template(text) for text in change.get("templates") or []]
    last = change.get("last_certified")
    outcome = store.upsert_pensioner(Pensioner(id_number=id_number, name=str(change["name"]),
                                               region_code=str(change["region_code"]),
                                               last_certified=date.fromisoformat(last) if last else None))
    # The centre's delta carries the person's full set of centre templates: replace ours from the
    # centre, and keep references enrolled by staff at this hall.
    if outcome != "inserted":  # a new row has no references yet
        store.remove_references(id_number, source="centre")
    for template in templates:
        store.add_reference(id_number, template, "centre")
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
