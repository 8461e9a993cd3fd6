"""Staff calls (issue 17, item 1): delivered at once over their own signed request, never claimed
when not delivered, queued and signalled locally offline, acknowledged on the console or at the
terminal, every call and its answer times in the store.

Unit tests drive :class:`StaffCallDesk` with a fake clock and a fake centre client; the flow tests
run the table; the integration test runs the real service, the real client and real HTTP on
loopback against a minimal fake centre (the real centre's endpoints are hall-center's branch).
"""

from __future__ import annotations

import json
import os
import pty
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlite_utils import Database

from centre_harness import enrolled_credentials
from kiosk.clock import FakeClock, SystemClock
from kiosk.config import load_config
from kiosk.devices.staff_signal import (
    BEEP_REPEAT_S, ESC_POS_BEEP, FileSignal, NullSignal, PrinterBuzzerSignal, SerialSignal, open_staff_signal,
)
from kiosk.errors import SyncError
from kiosk.flow import (
    CallStaff, CardPlaced, CardRead, DeviceFailed, Flow, HelpRequested, LivenessFailed, PensionerFound, ReferenceMissing,
    StaffCallAcknowledged, StaffCallDelivered, StaffCallShown, StaffCallUndelivered, StaffSignedIn, StartRequested,
    ConsentGiven, RetryRequested, Speak, AcknowledgeStaffCalls, UserActive,
)
from kiosk.reasons import SyncReason
from kiosk.sync.client import RequestRefused
from kiosk.staff_calls import StaffCallDesk, StaffCallService, StaffCallTimings, staff_call_service
from kiosk.store import DeviceKey, Store
from kiosk.sync.credentials import new_credentials, rotated_credentials, save_credentials
from wire.signing import HEADER_DEVICE, HEADER_KEY, HEADER_SIGNATURE
from wire.staff import PATH_STAFF_CALLS, StaffCallAck, StaffCallAnswer, StaffCallRequest

CONFIG = load_config(env={})


# --- fakes ---------------------------------------------------------------------------------------


class FakeCentre:
    """The three staff-call requests in memory; ``reachable`` False raises center_unreachable."""

    def __init__(self) -> None:
        self.reachable = True
        self.calls: dict[str, dict] = {}
        self.requests: list[str] = []

    def _check(self, what: str) -> None:
        self.requests.append(what)
        if not self.reachable:
            raise SyncError("down", code=SyncReason.CENTER_UNREACHABLE)

    def answer(self, call_id: str) -> StaffCallAnswer:
        return StaffCallAnswer.model_validate({"call_id": call_id, **self.calls[call_id]})

    def raise_staff_call(self, request: StaffCallRequest) -> StaffCallAnswer:
        self._check("raise")
        self.calls.setdefault(request.call_id, {"status": "open", "acknowledged_by": None, "acknowledged_at": None,
                                                "reason": request.reason, "screen": request.screen})
        return self.answer(request.call_id)

    def staff_call_state(self, call_id: str) -> StaffCallAnswer:
        self._check("poll")
        return self.answer(call_id)

    def acknowledge_staff_call(self, call_id: str, ack: StaffCallAck) -> StaffCallAnswer:
        self._check("ack")
        self.calls[call_id].update(status="acknowledged", acknowledged_by=ack.staff_number,
                                   acknowledged_at=ack.acknowledged_at)
        return self.answer(call_id)

    def console_ack(self, call_id: str, staff_number: str) -> None:
        self.calls[call_id].update(status="acknowledged", acknowledged_by=staff_number,
                                   acknowledged_at=datetime.now(timezone.utc))


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store(clock: FakeClock) -> Iterator[Store]:
    with Store(Database(memory=True), clock=clock, key=DeviceKey.generate()) as opened:
        yield opened


def make_desk(store: Store, clock: FakeClock, centre: FakeCentre | None, signal: NullSignal,
              events: list) -> StaffCallDesk:
    return StaffCallDesk(store, clock, lambda: centre, signal, events.append, StaffCallTimings())


def new_id() -> str:
    return str(uuid.uuid4())


# --- the desk ------------------------------------------------------------------------------------


def test_a_delivered_call_is_announced_polled_and_acknowledged_on_the_console(store: Store, clock: FakeClock) -> None:
    centre, signal, events = FakeCentre(), NullSignal(), []
    desk = make_desk(store, clock, centre, signal, events)
    call_id = new_id()
    desk.raise_call(call_id, "help_pressed", "consent")
    assert store.staff_call(call_id).state == "pending"
    next_due = desk.step()
    assert events == [StaffCallDelivered(call_id)]
    assert centre.calls[call_id]["reason"] == "help_pressed" and not signal.on
    stored = store.staff_call(call_id)
    assert stored.state == "open" and stored.delivered_at == clock.now()
    assert next_due == pytest.approx(clock.monotonic() + 2.0)  # polled every poll_interval_s
    clock.advance(2.0)
    desk.step()
    assert centre.requests == ["raise", "poll"] and len(events) == 1
    centre.console_ack(call_id, "S-007")
    clock.advance(2.0)
    assert desk.step() is None  # nothing more to do for it
    assert events[-1] == StaffCallAcknowledged(call_id, "S-007")
    stored = store.staff_call(call_id)
    assert (stored.state, stored.acknowledged_by, stored.ack_to_send) == ("acknowledged", "S-007", False)
    assert [entry["code"] for entry in store.audit_entries() if entry["step"] == "staff_call"] == [
        "help_pressed", "acknowledged_on_console"]


def test_an_undelivered_call_signals_locally_and_is_retried_with_backoff(store: Store, clock: FakeClock) -> None:
    centre, signal, events = FakeCentre(), NullSignal(), []
    centre.reachable = False
    desk = make_desk(store, clock, centre, signal, events)
    call_id = new_id()
    desk.raise_call(call_id, "attempts_exhausted", "result")
    first = desk.step()
    assert events == [StaffCallUndelivered(call_id, "center_unreachable")] and signal.on
    assert store.staff_call(call_id).state == "pending" and store.staff_call(call_id).attempts == 1
    waits = []
    for _ in range(6):  # the waits grow (with jitter, 50-100 % of 2, 4, 8, 16, 30, 30 s)
        now = clock.monotonic()
        clock.advance(first - now)
        waits.append(first - now)
        first = desk.step()
    assert all(1.0 <= wait <= 30.0 for wait in waits) and max(waits) > 8.0
    assert len(events) == 1, "the person is told once, not at every retry"
    centre.reachable = True
    clock.advance(first - clock.monotonic())
    desk.step()
    assert events[-1] == StaffCallDelivered(call_id) and not signal.on  # the console has it now
    assert store.staff_call(call_id).state == "open"


def test_a_call_the_centre_refuses_is_told_locally_and_not_retried(store: Store, clock: FakeClock) -> None:
    class Refusing(FakeCentre):
        def raise_staff_call(self, request: StaffCallRequest) -> StaffCallAnswer:
            self.requests.append("raise")
            raise RequestRefused(422, "request_invalid", "screen: bad")

    centre, signal, events = Refusing(), NullSignal(), []
    desk = make_desk(store, clock, centre, signal, events)
    call_id = new_id()
    desk.raise_call(call_id, "help_pressed", "idle")
    desk.step()
    assert events == [StaffCallUndelivered(call_id, "center_refused_request")] and signal.on
    assert store.staff_call(call_id).last_error == "center_refused_request"
    clock.advance(StaffCallTimings().local_signal_max_s)
    assert desk.step() is None and not signal.on  # the signal ran out; the call was never sent again
    assert centre.requests == ["raise"]


def test_without_enrolment_a_call_is_undelivered_not_claimed(store: Store, clock: FakeClock) -> None:
    events: list = []
    signal = NullSignal()
    desk = make_desk(store, clock, None, signal, events)
    call_id = new_id()
    desk.raise_call(call_id, "no_reference", "result")
    desk.step()
    assert events == [StaffCallUndelivered(call_id, "sync_not_enrolled")] and signal.on


def test_the_local_signal_stops_after_its_longest_time(store: Store, clock: FakeClock) -> None:
    centre, signal, events = FakeCentre(), NullSignal(), []
    centre.reachable = False
    desk = StaffCallDesk(store, clock, lambda: centre, signal, events.append, StaffCallTimings(local_signal_max_s=60))
    desk.raise_call(new_id(), "help_pressed", "idle")
    desk.step()
    assert signal.on
    clock.advance(61)
    desk.step()
    assert not signal.on


def test_staff_at_the_terminal_acknowledge_and_the_centre_is_told(store: Store, clock: FakeClock) -> None:
    centre, signal, events = FakeCentre(), NullSignal(), []
    centre.reachable = False
    desk = make_desk(store, clock, centre, signal, events)
    call_id = new_id()
    desk.raise_call(call_id, "help_pressed", "status")
    desk.step()
    assert signal.on
    assert desk.acknowledge_here("S-001") == [call_id]
    assert events[-1] == StaffCallAcknowledged(call_id, "S-001") and not signal.on
    stored = store.staff_call(call_id)
    assert (stored.state, stored.acknowledged_by, stored.ack_to_send) == ("acknowledged", "S-001", True)
    centre.reachable = True
    for _ in range(3):  # delivered, then the acknowledgement sent
        clock.advance(60)
        desk.step()
    assert centre.calls[call_id]["status"] == "acknowledged" and centre.calls[call_id]["acknowledged_by"] == "S-001"
    assert not store.staff_call(call_id).ack_to_send
    assert StaffCallDelivered(call_id) not in events, "an acknowledged call is never shown as merely delivered"


def test_a_restarted_terminal_sends_what_it_had_queued(store: Store, clock: FakeClock) -> None:
    centre, events = FakeCentre(), []
    centre.reachable = False
    first = make_desk(store, clock, centre, NullSignal(), events)
    call_id = new_id()
    first.raise_call(call_id, "help_pressed", "idle")
    first.step()
    centre.reachable = True
    again: list = []
    make_desk(store, clock, centre, NullSignal(), again).step()
    assert centre.calls[call_id]["status"] == "open" and store.staff_call(call_id).state == "open"


# --- the flow ------------------------------------------------------------------------------------


def run(flow: Flow, *events: object) -> list:
    effects: list = []
    for event in events:
        effects += flow.handle(event)
    return effects


def spoken(effects: list) -> list[str]:
    return [effect.prompt for effect in effects if isinstance(effect, Speak)]


@pytest.fixture()
def flow(clock: FakeClock) -> Flow:
    counter = iter(range(1000))
    return Flow(CONFIG.rules, CONFIG.session, clock, new_session_id=lambda: f"id-{next(counter)}")


def the_call(effects: list) -> CallStaff:
    return next(effect for effect in effects if isinstance(effect, CallStaff))


def test_the_screen_says_staff_were_told_only_after_the_centre_answered(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None))
    call = the_call(run(flow, HelpRequested()))
    assert flow.view.staff_call is StaffCallShown.CALLING and not flow.view.staff_called
    assert spoken(run(flow, StaffCallUndelivered(call.call_id, "center_unreachable"))) == ["staff_call_local"]
    assert flow.view.staff_call is StaffCallShown.LOCAL and not flow.view.staff_called
    again = run(flow, HelpRequested())  # asking again: told again where to go, no second call
    assert spoken(again) == ["staff_call_local"] and not [e for e in again if isinstance(e, CallStaff)]
    assert spoken(run(flow, StaffCallDelivered(call.call_id))) == ["staff_called"]  # the retry got through
    assert flow.view.staff_call is StaffCallShown.NOTIFIED and flow.view.staff_called


def test_an_undelivered_call_repeats_its_alert_until_acknowledged(flow: Flow, clock: FakeClock) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None))
    call = the_call(run(flow, HelpRequested()))
    run(flow, StaffCallUndelivered(call.call_id, "center_unreachable"))
    clock.advance(CONFIG.session.staff_alert_repeat_s)
    assert spoken(flow.tick()) == ["staff_call_local"]
    assert spoken(flow.tick()) == []
    run(flow, UserActive())  # the person is still there: the status screen stays (it times out sooner)
    clock.advance(CONFIG.session.staff_alert_repeat_s)
    assert spoken(flow.tick()) == ["staff_call_local"]
    assert spoken(run(flow, StaffCallAcknowledged(call.call_id, None))) == ["staff_coming"]
    assert flow.view.staff_call is StaffCallShown.ACKNOWLEDGED
    run(flow, UserActive())
    clock.advance(CONFIG.session.staff_alert_repeat_s)
    assert spoken(flow.tick()) == []


def test_the_idle_screen_text_never_stays_for_the_next_person(flow: Flow, clock: FakeClock) -> None:
    call = the_call(run(flow, HelpRequested()))
    assert call.screen == "idle"
    run(flow, StaffCallDelivered(call.call_id))
    assert flow.view.staff_called
    clock.advance(CONFIG.session.staff_notice_idle_s)
    flow.tick()
    assert flow.view.staff_call is None and not flow.view.staff_called
    # A card placed while the text shows starts a fresh screen too; the old call's answer is ignored.
    call = the_call(run(flow, HelpRequested()))
    run(flow, CardPlaced())
    assert flow.view.staff_call is None
    assert run(flow, StaffCallDelivered(call.call_id)) == [] and not flow.view.staff_called


def test_three_failures_and_a_missing_reference_call_staff_by_themselves(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"))
    call = the_call(run(flow, ReferenceMissing(None)))
    assert (call.reason, call.screen) == ("no_reference", "looking_up")
    assert flow.view.staff_call is StaffCallShown.CALLING

    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    for attempt in range(CONFIG.rules.attempts_per_session):
        effects = run(flow, LivenessFailed("spoof_detected"))
        calls = [effect for effect in effects if isinstance(effect, CallStaff)]
        if attempt < CONFIG.rules.attempts_per_session - 1:
            assert not calls
            run(flow, RetryRequested())
        else:
            assert [c.reason for c in calls] == ["attempts_exhausted"]
            assert "staff_calling" not in spoken(effects)  # the result is announced whole first


def test_a_reader_or_camera_failure_in_a_session_calls_staff(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None), StartRequested(), ConsentGiven())
    call = the_call(run(flow, DeviceFailed("camera_unavailable")))
    assert (call.reason, call.screen) == ("camera_problem", "positioning")
    run(flow, CardPlaced(), CardRead("x", "a*"))
    assert not [e for e in run(flow, DeviceFailed("storage_error")) if isinstance(e, CallStaff)]


def test_a_staff_member_signing_in_acknowledges_and_clears(flow: Flow) -> None:
    run(flow, CardPlaced(), CardRead("x", "a*"), PensionerFound(None))
    call = the_call(run(flow, HelpRequested()))
    run(flow, StaffCallUndelivered(call.call_id, "center_unreachable"))
    effects = run(flow, StaffSignedIn("S-001"))
    assert AcknowledgeStaffCalls("S-001") in effects and flow.view.staff_call is None


# --- the local signal ----------------------------------------------------------------------------


def test_signal_urls(tmp_path: Path) -> None:
    assert isinstance(open_staff_signal(""), NullSignal) and isinstance(open_staff_signal("null://"), NullSignal)
    light = tmp_path / "light"
    signal = open_staff_signal(f"file://{light}")
    assert isinstance(signal, FileSignal)
    signal.set(True)
    assert light.read_text() == "1\n"
    signal.close()
    assert light.read_text() == "0\n"
    assert isinstance(open_staff_signal("/dev/ttyUSB7"), SerialSignal)


def test_a_serial_light_gets_on_and_off_lines_over_a_pty() -> None:
    master, slave = pty.openpty()
    try:
        signal = SerialSignal(os.ttyname(slave))
        signal.set(True)
        signal.set(True)  # no repeat for the same state
        signal.set(False)
        signal.close()
        received = b""
        while received.count(b"\r\n") < 2:
            received += os.read(master, 64)
        assert received == b"ON\r\nOFF\r\n"
    finally:
        os.close(master)
        os.close(slave)


def test_the_receipt_printers_buzzer_beeps_on_and_again_while_on() -> None:
    master, slave = pty.openpty()
    now = [0.0]
    try:
        buzzer = open_staff_signal(f"escpos:{os.ttyname(slave)}")
        assert isinstance(buzzer, PrinterBuzzerSignal)
        buzzer._monotonic = lambda: now[0]  # noqa: SLF001 - the test's clock
        buzzer.set(True)
        buzzer.set(True)  # within BEEP_REPEAT_S: quiet
        now[0] = BEEP_REPEAT_S
        buzzer.set(True)
        buzzer.close()
        received = b""
        while len(received) < 2 * len(ESC_POS_BEEP):
            received += os.read(master, 64)
        assert received == ESC_POS_BEEP * 2
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_serial_light_never_raises() -> None:
    signal = SerialSignal("/dev/does-not-exist-kiosk")
    signal.set(True)
    signal.close()


# --- integration: real service, real client, real HTTP on loopback -------------------------------


class MiniCentre(ThreadingHTTPServer):
    """The three staff-call endpoints of the wire contract, in memory; refuses unsigned requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: dict[str, dict] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def console_ack(self, call_id: str, staff_number: str) -> None:
        with self.lock:
            self.calls[call_id].update(status="acknowledged", acknowledged_by=staff_number,
                                       acknowledged_at=datetime.now(timezone.utc).isoformat())


class _Handler(BaseHTTPRequestHandler):
    server: MiniCentre

    def log_message(self, *_args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _call_answer(self, call_id: str) -> None:
        with self.server.lock:
            call = self.server.calls.get(call_id)
            if call is None:
                self._answer(404, {"error": {"code": "request_not_found", "message": "no such call"}})
                return
            self._answer(200, {"call_id": call_id, "status": call["status"], "acknowledged_by": call["acknowledged_by"],
                               "acknowledged_at": call["acknowledged_at"]})

    def _signed(self) -> bool:
        if not self.headers.get(HEADER_DEVICE) or not self.headers.get(HEADER_SIGNATURE):
            self._answer(401, {"error": {"code": "auth_headers_missing", "message": "unsigned"}})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self._signed():
            self._call_answer(self.path.removeprefix(PATH_STAFF_CALLS + "/"))

    def do_POST(self) -> None:  # noqa: N802
        if not self._signed():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == PATH_STAFF_CALLS:
            request = StaffCallRequest.model_validate(body)
            with self.server.lock:
                self.server.calls.setdefault(request.call_id, {"status": "open", "acknowledged_by": None,
                                                               "acknowledged_at": None, "reason": request.reason,
                                                               "signer": (self.headers[HEADER_DEVICE],
                                                                          self.headers.get(HEADER_KEY))})
            self._call_answer(request.call_id)
        elif self.path.endswith("/ack"):
            call_id = self.path.removeprefix(PATH_STAFF_CALLS + "/").removesuffix("/ack")
            ack = StaffCallAck.model_validate(body)
            with self.server.lock:
                self.server.calls[call_id].update(status="acknowledged", acknowledged_by=ack.staff_number,
                                                  acknowledged_at=ack.acknowledged_at.isoformat())
            self._call_answer(call_id)


@pytest.fixture()
def mini_centre() -> Iterator[MiniCentre]:
    server = MiniCentre()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_call_reaches_a_centre_over_http_and_its_console_acknowledgement_comes_back(
        tmp_path: Path, mini_centre: MiniCentre) -> None:
    config = load_config(env={"KIOSK_DATA_DIR": str(tmp_path), "KIOSK__STAFF__POLL_INTERVAL_S": "0.5"})
    config = config.model_copy(update={"terminal": config.terminal.model_copy(update={"data_dir": tmp_path})})
    save_credentials(tmp_path, enrolled_credentials(mini_centre.url, "KIOSK-1"))
    events: queue.Queue = queue.Queue()
    service = staff_call_service(config, SystemClock(), events.put)
    service.start()
    try:
        call_id = new_id()
        service.raise_call(call_id, "help_pressed", "consent")
        assert events.get(timeout=20) == StaffCallDelivered(call_id)
        assert mini_centre.calls[call_id]["reason"] == "help_pressed"
        mini_centre.console_ack(call_id, "S-009")
        assert events.get(timeout=20) == StaffCallAcknowledged(call_id, "S-009")
    finally:
        service.stop()
    with Store.from_config(config, SystemClock()) as store:
        stored = store.staff_call(call_id)
        assert stored.state == "acknowledged" and stored.delivered_at and stored.acknowledged_by == "S-009"


def test_a_call_after_the_technician_changed_the_credentials_is_signed_with_the_new_ones(
        tmp_path: Path, mini_centre: MiniCentre) -> None:
    """Re-enrolment and key rotation while the kiosk runs, at the same centre URL: the next call
    must not go out with the client of the old credentials (the centre would refuse it)."""
    config = load_config(env={"KIOSK_DATA_DIR": str(tmp_path)})
    config = config.model_copy(update={"terminal": config.terminal.model_copy(update={"data_dir": tmp_path})})
    first_enrolment = enrolled_credentials(mini_centre.url, "KIOSK-1")
    reenrolled = enrolled_credentials(mini_centre.url, "KIOSK-2")
    rotated = replace(rotated_credentials(reenrolled), previous_private_key="")
    events: queue.Queue = queue.Queue()
    service = staff_call_service(config, SystemClock(), events.put)
    signed_with: dict[str, tuple[str, str]] = {}
    service.start()
    try:
        for credentials in (first_enrolment, reenrolled, rotated):
            save_credentials(tmp_path, credentials)
            call_id = new_id()
            service.raise_call(call_id, "help_pressed", "idle")
            assert events.get(timeout=20) == StaffCallDelivered(call_id)
            signed_with[call_id] = (credentials.device_id, credentials.key_id)
    finally:
        service.stop()
    assert {call_id: mini_centre.calls[call_id]["signer"] for call_id in signed_with} == signed_with


def test_with_the_centre_down_the_call_is_queued_then_delivered(tmp_path: Path) -> None:
    config = load_config(env={"KIOSK_DATA_DIR": str(tmp_path)})
    config = config.model_copy(update={"terminal": config.terminal.model_copy(update={"data_dir": tmp_path})})
    server = MiniCentre()
    url = server.url
    server.server_close()  # the port is closed: connection refused
    save_credentials(tmp_path, enrolled_credentials(url, "KIOSK-1"))
    events: queue.Queue = queue.Queue()
    service = staff_call_service(config, SystemClock(), events.put)
    service.start()
    try:
        call_id = new_id()
        service.raise_call(call_id, "help_pressed", "idle")
        event = events.get(timeout=20)
        assert isinstance(event, StaffCallUndelivered) and event.code == "center_unreachable"
    finally:
        service.stop()
    with Store.from_config(config, SystemClock()) as store:
        assert store.staff_call(call_id).state == "pending" and store.staff_call(call_id).last_error


def test_a_service_without_a_desk_does_not_hang_the_terminal() -> None:
    def broken() -> StaffCallDesk:
        raise SyncError("no store", code="storage_error")

    service = StaffCallService(broken)
    service.start()
    service.raise_call(new_id(), "help_pressed", "idle")
    service.stop()
