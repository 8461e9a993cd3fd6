"""Face-to-face certification by staff (issue 17, item 2) through the real session controller and
store: the record says ``staff_verified`` with the staff number and the reason, moves the last
certified date (it counts for the cycle), syncs like any record, and keeps a photo only with consent
and only where the configuration keeps images."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from kiosk.config import KioskConfig
from kiosk.flow import (
    CardPlaced, CardRead, HelpRequested, StaffCallShown, StaffSignedIn, StaffVerified, State,
)
from kiosk.session import SessionController
from kiosk.store import Store
from kiosk.sync.wire_mapping import wire_record
from test_session_controller import ID, SCRIPT, FakeLiveness, FakeMatcher, Harness
from wire.result_record import ResultRecord
from wire.signing import new_signing_key

JPEG = b"\xff\xd8" + b"p" * 200


class RecordingStaffCalls:
    """The staff-call port: remembers what the controller asked for."""

    def __init__(self) -> None:
        self.raised: list[tuple[str, str, str]] = []
        self.acknowledged: list[str | None] = []
        self.done = threading.Event()

    def raise_call(self, call_id: str, reason: str, screen: str) -> None:
        self.raised.append((call_id, reason, screen))
        self.done.set()

    def acknowledge_here(self, staff_number: str | None) -> None:
        self.acknowledged.append(staff_number)
        self.done.set()


def start(config: KioskConfig, staff_calls: RecordingStaffCalls | None = None) -> Harness:
    h = Harness(config, FakeLiveness(SCRIPT), FakeMatcher())
    if staff_calls is not None:  # the harness builds a controller without the port: build it again with it
        h.controller = SessionController(config, h.clock, store_factory=lambda: Store.from_config(config, h.clock),
                                         reader=h.reader, liveness=h.liveness, matcher=FakeMatcher(), voice=h.voice,
                                         on_view=h._on_view, staff_calls=staff_calls)
    h.controller.start()
    return h


def to_status(h: Harness) -> None:
    h.reader.post(CardPlaced())
    h.reader.post(CardRead(ID, "张*"))
    h.wait_for(lambda v: v.state is State.STATUS)


def keeping_images(config: KioskConfig) -> KioskConfig:
    return config.model_copy(update={"storage": config.storage.model_copy(update={"evidence_retention_days": 30})})


@pytest.mark.parametrize("consent", [True, False])
def test_a_staff_verified_certification_is_stored_counts_and_syncs(config: KioskConfig, consent: bool) -> None:
    config = keeping_images(config)
    h = start(config)
    try:
        to_status(h)
        h.controller.post(StaffVerified("S-001", "cannot_do_actions", JPEG if consent else None))
        view = h.wait_for(lambda v: v.state is State.RESULT)
        assert view.outcome == "staff_verified" and view.valid_until == date(2027, 5, 20)
        h.wait_for(lambda v: "result_staff_verified" in h.voice.prompts)
    finally:
        h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        assert store.get_pensioner(ID).last_certified == date(2026, 5, 20)  # counts for the cycle
        (record_id,) = [row[0] for row in store.db.execute("SELECT record_id FROM certifications")]
        record = store.get_record(record_id)
        assert (record.outcome, record.staff_number, record.staff_reason) == ("staff_verified", "S-001",
                                                                              "cannot_do_actions")
        assert record.liveness_score is None and record.match_distance is None and record.reason_code is None
        assert store.evidence_jpeg(record_id) == (JPEG if consent else None)
        assert ("staff", "verified") in {(entry["step"], entry["code"]) for entry in store.audit_entries()}
        (item,) = store.pending_outbox(10, h.clock.now())
    sent = wire_record(item.record, device_id="KIOSK-1", key_id="0123456789abcdef", hall_name="hall",
                       send_face_images=False, key=new_signing_key()).wire_dict()
    assert (sent["outcome"], sent["staff_number"], sent["staff_reason"]) == ("staff_verified", "S-001",
                                                                             "cannot_do_actions")
    assert "face_image_jpeg" not in sent  # the image leaves only where send_face_images allows
    ResultRecord.model_validate(sent)


def test_without_a_card_read_staff_cannot_certify_anybody(config: KioskConfig) -> None:
    h = start(config)
    try:
        h.controller.post(StaffVerified("S-001", "no_reference", JPEG))
        h.controller.post(HelpRequested())  # something that surely changes the view after it
        view = h.wait_for(lambda v: v.staff_call is not None)
        assert view.state is State.IDLE and view.outcome is None
    finally:
        h.controller.stop()
    with Store.from_config(config, h.clock) as store:
        assert store.db.execute("SELECT count(*) FROM certifications").fetchone()[0] == 0


def test_help_goes_to_the_staff_call_port_and_signing_in_acknowledges(config: KioskConfig) -> None:
    calls = RecordingStaffCalls()
    h = start(config, calls)
    try:
        to_status(h)
        h.controller.post(HelpRequested())
        h.wait_for(lambda v: v.staff_call is StaffCallShown.CALLING)
        assert calls.done.wait(5)
        (_call_id, reason, screen), = calls.raised
        assert (reason, screen) == ("help_pressed", "status")
        calls.done.clear()
        h.controller.post(StaffSignedIn("S-001"))
        h.wait_for(lambda v: v.staff_call is None)
        assert calls.done.wait(5) and calls.acknowledged == ["S-001"]
    finally:
        h.controller.stop()


def test_without_a_staff_call_service_the_screen_never_claims_staff_were_told(config: KioskConfig) -> None:
    h = start(config)
    try:
        to_status(h)
        h.controller.post(HelpRequested())
        view = h.wait_for(lambda v: v.staff_call is StaffCallShown.LOCAL)
        assert not view.staff_called and "staff_called" not in h.voice.prompts
        assert "staff_call_local" in h.voice.prompts
    finally:
        h.controller.stop()

