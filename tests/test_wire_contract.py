"""One wire contract: the record's shape is defined once and both sides read the roster file alike.

The stored record (``kiosk.store.CertificationRecord``), its table, the wire record
(``wire.result_record.ResultRecord``, what the terminal signs and the centre validates) and the roster
file format (``wire.roster_csv``) must not drift apart; these tests fail when they do.
"""

from __future__ import annotations

import base64
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlite_utils import Database

from center.db import Pensioner as CentrePensioner
from center.db import make_engine, session_factory
from center.provincial_roster import import_csv
from kiosk.clock import CHINA_STANDARD_TIME, FakeClock
from kiosk.roster_import import import_roster
from kiosk.store import CertificationRecord, DeviceKey, Store
from kiosk.store.certifications import RECORD_FIELDS
from kiosk.sync.wire_mapping import WIRE_FIELD_OF, wire_record
from wire import roster_csv
from wire.result_record import ENVELOPE_FIELDS, SCORE_NAMES, ResultRecord, content_digest, signed_record
from wire.signing import canonical_record, public_key_text, verify_record

KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
JPEG = b"\xff\xd8" + b"x" * 20
STORED_FIELDS = {item.name for item in fields(CertificationRecord)}


def full_record(**changes: object) -> CertificationRecord:
    """A record with every field set to something other than its default."""
    values: dict = dict(record_id="6f1c2e3a-1111-4222-8333-944455556666", session_id="s-1",
                        occurred_at=datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME), device_id="D1",
                        region_code="110101", id_number="11010519491231002X", outcome="certified",
                        reason_code="proxy_assisted", liveness_score=0.93, attack_score=0.1, match_distance=0.3125,
                        attempt=2, valid_until=date(2027, 5, 20), chain_seq=7, prev_hash="ab" * 32,
                        evidence_jpeg=JPEG)
    return CertificationRecord(**{**values, **changes})


def send(record: CertificationRecord, *, key: Ed25519PrivateKey = KEY, images: bool = True) -> ResultRecord:
    return wire_record(record, device_id="KIOSK-1", key_id="0123456789abcdef", hall_name="hall", send_face_images=images,
                       key=key)


def test_the_stored_and_the_wire_record_account_for_each_others_fields() -> None:
    assert set(WIRE_FIELD_OF) == STORED_FIELDS, "a field of CertificationRecord has no place on the wire"
    targets = {target for target in WIRE_FIELD_OF.values() if target}
    assert targets | ENVELOPE_FIELDS == set(ResultRecord.model_fields), "a wire field is filled from nowhere"
    assert not targets & ENVELOPE_FIELDS
    assert set(SCORE_NAMES) <= STORED_FIELDS


def test_every_stored_field_reaches_the_wire_record_and_the_centre_accepts_it() -> None:
    record = full_record()
    sent = send(record).wire_dict()
    assert set(sent) == (set(ResultRecord.model_fields) - {"proxy"})  # the terminal never sets proxy
    for name in STORED_FIELDS - {"device_id", "evidence_jpeg", *SCORE_NAMES}:
        value = getattr(record, name)
        expected = value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else value
        if name == "occurred_at":
            expected = value.astimezone(timezone.utc).isoformat(timespec="microseconds")
        assert sent[WIRE_FIELD_OF[name]] == expected, name
    assert sent["scores"] == {name: getattr(record, name) for name in SCORE_NAMES}
    assert base64.b64decode(sent["face_image_jpeg"]) == JPEG
    assert sent["device_id"] == "KIOSK-1"  # the enrolled id, not the configured one
    assert ResultRecord.model_validate(sent).wire_dict() == sent  # the centre reads back what was sent
    assert verify_record(public_key_text(KEY), sent)


def test_absent_values_are_left_out_not_sent_as_null() -> None:
    sent = send(full_record(id_number=None, outcome="liveness_failed", reason_code=None, valid_until=None,
                            liveness_score=None, attack_score=None, match_distance=None, evidence_jpeg=None)).wire_dict()
    assert not {"id_number", "certified_until", "face_image_jpeg", "proxy"} & set(sent)
    assert (sent["reason_code"], sent["scores"]) == ("", {})
    assert "face_image_jpeg" not in send(full_record(), images=False).wire_dict()


def test_the_signed_form_of_a_record_is_pinned() -> None:
    """What a record signature covers must not change between versions: a record resent after an
    upgrade (the centre stored it, the receipt was lost) must be the same content, or the centre
    would set it aside as ``record_conflict``. These bytes are what terminals sent before the
    protocol moved into ``wire/``."""
    sent = send(full_record(reason_code=None, session_id="s" * 70, chain_seq=None, prev_hash=None), images=False).wire_dict()
    assert canonical_record(sent) == (
        '{"attempt":2,"certified_until":"2027-05-20","device_id":"KIOSK-1","hall_name":"hall",'
        '"id_number":"11010519491231002X","key_id":"0123456789abcdef","occurred_at":"2026-05-20T01:00:00.000000+00:00",'
        '"outcome":"certified","reason_code":"","record_id":"6f1c2e3a-1111-4222-8333-944455556666",'
        '"region_code":"110101","scores":{"attack_score":0.1,"liveness_score":0.93,"match_distance":0.3125},'
        f'"session_id":"{"s" * 64}"}}').encode()
    chained = send(full_record(reason_code=None, session_id="s", chain_seq=1, prev_hash=""), images=False).wire_dict()
    assert canonical_record(chained).startswith(b'{"attempt":2,"certified_until":"2027-05-20","chain_seq":1,')
    assert b'"prev_hash":""' in canonical_record(chained)


def test_the_terminal_and_the_centre_compute_the_same_link_hash() -> None:
    from kiosk.store.chain import link_hash
    from wire.result_record import chain_hash

    record = full_record()
    sent = send(record).wire_dict()
    assert link_hash(record) == chain_hash(sent) == chain_hash(ResultRecord.model_validate(sent).wire_dict())
    assert chain_hash({**sent, "hall_name": "elsewhere", "key_id": "f" * 16, "signature": "x"}) == chain_hash(sent)
    for change in ({"outcome": "match_failed"}, {"chain_seq": 8}, {"prev_hash": "cd" * 32}, {"attempt": 3}):
        assert link_hash(full_record(**change)) != link_hash(record), change


def test_a_record_signed_with_a_new_key_is_the_same_content() -> None:
    record = full_record()
    first, again = send(record).wire_dict(), send(record, key=Ed25519PrivateKey.generate()).wire_dict()
    assert first["signature"] != again["signature"]
    assert content_digest(first) == content_digest(again)
    assert content_digest(first) != content_digest(send(full_record(attempt=3)).wire_dict())


def test_a_misspelt_field_is_a_bug_not_a_dropped_value() -> None:
    with pytest.raises(AttributeError, match="certified_untill"):
        signed_record(KEY, record_id="x", certified_untill=date(2027, 1, 1))


def test_the_certifications_table_has_a_column_per_record_field() -> None:
    store = Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate())
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(certifications)").fetchall()}
    assert columns == {*RECORD_FIELDS, "local_day"}
    assert set(RECORD_FIELDS) == STORED_FIELDS - {"evidence_jpeg"}


def test_the_outbox_hands_over_the_stored_record_typed() -> None:
    clock = FakeClock(datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME))
    store = Store(Database(memory=True), clock=clock, key=DeviceKey.generate(), send_face_images=True)
    record = full_record(occurred_at=clock.now())
    store.record_attempt(record)
    (item,) = store.pending_outbox(10, clock.now())
    assert item.record == record and item.record.evidence_jpeg == JPEG and item.unreadable is None


def test_an_unreadable_outbox_row_is_handed_over_without_a_record() -> None:
    clock = FakeClock(datetime(2026, 5, 20, 9, 0, tzinfo=CHINA_STANDARD_TIME))
    store = Store(Database(memory=True), clock=clock, key=DeviceKey.generate())
    good, bad = (store.record_attempt(full_record(record_id=rid, evidence_jpeg=None, occurred_at=clock.now()))
                 for rid in ("6f1c2e3a-1111-4222-8333-944455556666", "6f1c2e3a-1111-4222-8333-944455556667"))
    store.db.execute("UPDATE certifications SET outcome = 'Not A Code' WHERE record_id = ?", (bad,))
    items = {item.record_id: item for item in store.pending_outbox(10, clock.now())}
    assert items[good].record is not None
    assert (items[bad].record, items[bad].unreadable) == (None, "ValueError")


# -- the roster file ------------------------------------------------------------------------------

ROSTER = "\n".join([
    "id_number,name,last_certified,photo",
    "11010519491231002X,ZHANG SAN,2025-01-10,",
    "１１０１０１１９４５０３１５１２３７,LI SI,2025/1/9,",  # full-width digits: the same person in ASCII
    "110101194503151238,WANG WU,,",  # wrong check digit
    "11010519491231002X,ZHANG SAN,,",  # twice
    "440306193807084568,ZHAO LIU,2025年3月1日,",
    "440306193807084568x,,,",  # not a number
    "USA450315123455,SMITH,,",  # a 2017 foreign card (no region: the centre needs --region)
    "110101194001010012,,2025-01-01,",  # no name
    "",
])


def test_the_terminal_and_the_centre_read_a_roster_file_alike(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    today = datetime.now(CHINA_STANDARD_TIME).date()
    store = Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate())
    terminal = import_roster(store, path, region_code="110101", today=today)
    with session_factory(make_engine(str(tmp_path / "centre.db")))() as session:
        centre = import_csv(session, path, None, region="110101")
        centre_rows = {row.id_number: (row.name, row.last_certified) for row in session.scalars(select(CentrePensioner))}
    terminal_rows = {number: (person.name, person.last_certified)
                     for number in centre_rows for person in [store.get_pensioner(number)] if person}
    assert terminal_rows == centre_rows and len(centre_rows) == store.pensioner_count() == 4
    problems = [(problem.line, problem.code) for problem in terminal.problems]
    assert problems == [(line, code) for line, code, _message in centre.errors]
    assert problems == [(4, "id_number_check_digit"), (5, "roster_duplicate_row"), (7, "id_number_format"),
                        (9, "roster_bad_name")]


def test_roster_days_are_the_halls_days() -> None:
    assert roster_csv.CHINA_STANDARD_TIME.utcoffset(None) == CHINA_STANDARD_TIME.utcoffset(None) == timedelta(hours=8)


@pytest.mark.parametrize("device_id", ["hall-01", "A_1.b"])
def test_an_ascii_device_id_is_valid(device_id: str) -> None:
    from wire.api import valid_device_id

    assert valid_device_id(device_id)


@pytest.mark.parametrize("device_id", ["hall-０１", "hall-٠١", "大厅-01", "", "x" * 65, "hall 01"])
def test_a_device_id_outside_ascii_letters_and_digits_is_refused(device_id: str) -> None:
    from wire.api import valid_device_id

    assert not valid_device_id(device_id)
