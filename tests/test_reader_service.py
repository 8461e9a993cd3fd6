"""The reader service: event sequences as cards come and go, one read per placement, reconnection."""

from __future__ import annotations

import queue
import threading
import time

import pytest

import reader.service as service_module
from reader.card import IdCard
from reader.client import CardReader
from reader.errors import ReaderError, ReaderReason, ReaderTimeout, ReaderUnavailable, StatusError
from reader.service import (
    CardPlaced,
    CardRead,
    CardReadFailed,
    CardRemoved,
    ReaderEvent,
    ReaderLost,
    ReaderReady,
    ReaderService,
)
from reader.settings import ReaderSettings
from reader.simulator import forget_simulators, simulator_for
from reader.transport import open_reader

SETTINGS = ReaderSettings(url="sim://", baudrate=115200, poll_interval_s=0.3, command_timeout_s=0.5,
                          reconnect_max_backoff_s=1.0, wlt_decoder="")
WAIT_S = 10.0  # generous upper bound for one event on a loaded machine; never a timing assertion


@pytest.fixture(autouse=True)
def _fresh_simulators() -> None:
    forget_simulators()
    yield
    forget_simulators()


class Recorder:
    """Collects events from the service thread and lets the test wait for the next one."""

    def __init__(self) -> None:
        self.events: queue.Queue[ReaderEvent] = queue.Queue()
        self.threads: set[str] = set()

    def __call__(self, event: ReaderEvent) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.put(event)

    def next(self) -> ReaderEvent:
        return self.events.get(timeout=WAIT_S)

    def expect(self, *kinds: type) -> list[ReaderEvent]:
        got = [self.next() for _ in kinds]
        assert [type(event) for event in got] == list(kinds)
        return got


def _service(url: str, recorder: Recorder, **kwargs) -> ReaderService:  # noqa: ANN003
    service = ReaderService(url, SETTINGS, recorder, **kwargs)
    service.start()
    return service


def test_card_laid_read_once_lifted_laid_again() -> None:
    recorder = Recorder()
    service = _service("sim://", recorder)
    try:
        _, _, read = recorder.expect(ReaderReady, CardPlaced, CardRead)
        assert isinstance(read.card, IdCard) and read.card.card_type.value == "resident"
        simulator = simulator_for("sim://")
        time.sleep(1.0)  # several polls with the card lying there: no second read
        assert recorder.events.empty()
        reads_before = simulator.count("read")
        simulator.remove_card()
        recorder.expect(CardRemoved)
        simulator.place_card("hk_mo_tw_permit")
        _, read = recorder.expect(CardPlaced, CardRead)
        assert read.card.card_type.value == "hk_mo_tw_permit"
        assert simulator.count("read") == reads_before + 1
    finally:
        service.stop()
    assert recorder.threads == {"reader-service"}
    assert not service.running


def test_failed_read_is_reported_once_for_the_placement() -> None:
    recorder = Recorder()
    service = _service("sim://?fail_reads=1", recorder)
    try:
        _, _, failed = recorder.expect(ReaderReady, CardPlaced, CardReadFailed)
        assert failed.code == ReaderReason.CARD_READ_FAILED
        simulator = simulator_for("sim://?fail_reads=1")
        simulator.remove_card()
        recorder.expect(CardRemoved)
        simulator.place_card()
        recorder.expect(CardPlaced, CardRead)
    finally:
        service.stop()


def test_invalid_card_reports_the_id_number_reason() -> None:
    recorder = Recorder()
    service = _service("sim://?present=0", recorder)
    try:
        recorder.expect(ReaderReady)
        fields = {"card_type": "resident", "name": "测试", "gender_code": "1", "nation_code": "01",
                  "birth_date": "1950-01-01", "address": "北京市东城区", "id_number": "110101195001010010",
                  "issuing_authority": "x", "valid_from": "2010-01-01", "valid_until": "长期"}
        simulator_for("sim://?present=0").place_card(fields)
        _, failed = recorder.expect(CardPlaced, CardReadFailed)
        assert failed.code == ReaderReason.ID_NUMBER_CHECK_DIGIT
    finally:
        service.stop()


@pytest.mark.parametrize("id_number", ["310101194805120²2X", "3101011948051200①X"])
def test_a_card_whose_number_has_a_non_ascii_digit_is_one_failed_read_not_a_lost_reader(id_number: str) -> None:
    """#13: a card-level failure with its reason, once for the placement; the reader is not "lost"
    and the card lying there is not read again and again."""
    url = "sim://?present=0"
    recorder = Recorder()
    service = _service(url, recorder)
    try:
        recorder.expect(ReaderReady)
        simulator = simulator_for(url)
        fields = {"card_type": "resident", "name": "测试", "gender_code": "2", "nation_code": "01",
                  "birth_date": "1948-05-12", "address": "上海市黄浦区", "id_number": id_number,
                  "issuing_authority": "x", "valid_from": "2010-06-01", "valid_until": "长期"}
        simulator.place_card(fields)
        _, failed = recorder.expect(CardPlaced, CardReadFailed)
        assert failed.code == ReaderReason.ID_NUMBER_FORMAT
        reads = simulator.count("read")
        time.sleep(1.0)  # several polls with the card lying there
        assert recorder.events.empty() and simulator.count("read") == reads
        simulator.remove_card()
        recorder.expect(CardRemoved)
    finally:
        service.stop()


def test_unplugged_reader_is_lost_then_recovers() -> None:
    recorder = Recorder()
    service = _service("sim://", recorder)
    simulator = simulator_for("sim://")
    try:
        recorder.expect(ReaderReady, CardPlaced, CardRead)
        simulator.unplug()
        _, lost = recorder.expect(CardRemoved, ReaderLost)
        assert lost.code == ReaderReason.READER_UNAVAILABLE
        time.sleep(1.5)  # several failed reconnection attempts: ReaderLost is not repeated
        assert recorder.events.empty()
        simulator.plug()
        recorder.expect(ReaderReady, CardPlaced, CardRead)
    finally:
        service.stop()


def test_reader_absent_at_start_is_reported_once() -> None:
    recorder = Recorder()
    service = _service("/dev/nonexistent-reader-tty", recorder)
    try:
        lost = recorder.next()
        assert lost == ReaderLost(ReaderReason.READER_UNAVAILABLE)
        time.sleep(1.0)
        assert recorder.events.empty()
    finally:
        service.stop()


class FakeReader:
    """Scripted backend: each find pops the next answer (True, False or an exception)."""

    def __init__(self, finds: list, read_error: Exception | None = None) -> None:
        self.finds = finds
        self.read_error = read_error
        self.find_times: list[float] = []
        self.closed = 0

    def sam_status(self) -> None:
        pass

    def find_card(self) -> bool:
        self.find_times.append(time.monotonic())
        answer = self.finds.pop(0) if self.finds else False
        if isinstance(answer, Exception):
            raise answer
        return answer

    def read_card(self, *, find: bool = True) -> IdCard:
        assert find is False  # the service reads the card it has just found
        raise self.read_error or StatusError(ReaderReason.CARD_READ_FAILED, 0x41)

    def close(self) -> None:
        self.closed += 1


def test_one_missed_find_is_not_a_removal_and_polls_are_spaced() -> None:
    recorder = Recorder()
    fake = FakeReader([True, False, True, True, False, False])
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        recorder.expect(ReaderReady, CardPlaced, CardReadFailed, CardRemoved)
    finally:
        service.stop()
    # The removal came from the two misses in a row (finds 5 and 6), not from the single miss (find 2).
    assert len(fake.find_times) >= 6
    gaps = [b - a for a, b in zip(fake.find_times, fake.find_times[1:])]
    assert min(gaps) >= 0.29  # never faster than every 300 ms (Event.wait never returns early)
    assert fake.closed >= 1


def test_timeouts_during_find_mean_reader_lost_and_reconnect() -> None:
    recorder = Recorder()
    fakes = [FakeReader([ReaderTimeout("x")]), FakeReader([True], read_error=ReaderUnavailable("gone"))]
    service = _service("fake://", recorder, opener=lambda url: fakes.pop(0) if fakes else FakeReader([]))
    try:
        _, lost = recorder.expect(ReaderReady, ReaderLost)
        assert lost.code == ReaderReason.READER_TIMEOUT
        _, _, failed, _, lost = recorder.expect(ReaderReady, CardPlaced, CardReadFailed, CardRemoved, ReaderLost)
        assert failed.code == lost.code == ReaderReason.READER_UNAVAILABLE
        recorder.expect(ReaderReady)
    finally:
        service.stop()


def test_a_raising_callback_does_not_kill_the_thread() -> None:
    seen: list[ReaderEvent] = []

    def callback(event: ReaderEvent) -> None:
        seen.append(event)
        raise RuntimeError("ui bug")

    service = ReaderService("sim://", SETTINGS, callback)
    service.start()
    deadline = time.monotonic() + WAIT_S
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    service.stop()
    assert [type(e) for e in seen[:3]] == [ReaderReady, CardPlaced, CardRead]


def test_stop_is_idempotent_and_safe_before_start() -> None:
    service = ReaderService("sim://", SETTINGS, lambda event: None)
    service.stop()
    service.stop()
    with pytest.raises(RuntimeError):
        service.start()
        service.start()
    service.stop()
    service.stop()
    assert not service.running


class ReadThreads:
    """Wraps a backend and notes the thread each ``read_card`` runs on."""

    def __init__(self, inner: CardReader) -> None:
        self.inner = inner
        self.read_threads: list[str] = []

    def read_card(self, *, find: bool = True) -> IdCard:
        self.read_threads.append(threading.current_thread().name)
        return self.inner.read_card(find=find)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.inner, name)


def test_a_test_read_goes_through_the_running_service_and_is_not_an_event() -> None:
    """The technician's read borrows the service's connection: the port keeps one owner."""
    recorder = Recorder()
    opened: list[ReadThreads] = []

    def opener(url: str) -> ReadThreads:
        opened.append(ReadThreads(open_reader(url, baudrate=SETTINGS.baudrate, timeout_s=SETTINGS.command_timeout_s)))
        return opened[-1]

    service = _service("sim://", recorder, opener=opener)
    try:
        recorder.expect(ReaderReady, CardPlaced, CardRead)
        simulator = simulator_for("sim://")
        reads_before = simulator.count("read")
        card = service.read_now(WAIT_S)  # the card lying there is read again
        assert isinstance(card, IdCard) and card.card_type.value == "resident"
        assert simulator.count("read") == reads_before + 1
        time.sleep(0.7)  # a couple of polls
        assert recorder.events.empty()  # the session flow hears nothing of it
    finally:
        service.stop()
    assert len(opened) == 1  # no second connection for the test read
    assert opened[0].read_threads == ["reader-service", "reader-service"]  # its commands never interleave


def test_a_test_read_waits_for_a_card_and_says_when_none_came() -> None:
    recorder = Recorder()
    service = _service("sim://?present=0", recorder)
    try:
        recorder.expect(ReaderReady)
        with pytest.raises(ReaderError) as error:
            service.read_now(0.8)
        assert error.value.code == ReaderReason.NO_CARD
        simulator = simulator_for("sim://?present=0")
        reads_before = simulator.count("read")
        test_read = BackgroundRead(service, WAIT_S)
        _wait_until_asked(service)  # asked before the card comes
        simulator.place_card("hk_mo_tw_permit")
        assert test_read.finished.wait(WAIT_S)
        assert test_read.card is not None and test_read.card.card_type.value == "hk_mo_tw_permit"  # the card laid while waiting
        recorder.expect(CardPlaced, CardRead)  # and the placement is still reported as usual
        assert simulator.count("read") == reads_before + 1  # one read serves both
    finally:
        service.stop()


def test_a_test_read_without_a_reader_is_reader_unavailable() -> None:
    recorder = Recorder()

    def unplugged(url: str):  # noqa: ANN202
        raise ReaderUnavailable("unplugged")

    service = _service("sim://", recorder, opener=unplugged)
    try:
        recorder.expect(ReaderLost)
        with pytest.raises(ReaderError) as error:
            service.read_now(0.5)
        assert error.value.code == ReaderReason.READER_UNAVAILABLE
    finally:
        service.stop()


# -- test reads at the edges: the timeout boundary, stop, a failed placement read -------------------

def _a_card() -> IdCard:
    """A valid card for the fakes below, read once from a simulator of its own."""
    client = open_reader("sim://?seed=7", baudrate=SETTINGS.baudrate, timeout_s=SETTINGS.command_timeout_s)
    try:
        return client.read_card()
    finally:
        client.close()


class GatedReader:
    """A card lies on the reader for good. The placement read answers at once; every later read
    sets ``reading`` and then lasts until the test sets ``release`` (a slow read, timed by the test)."""

    def __init__(self, card: IdCard) -> None:
        self.card = card
        self.reads = 0
        self.reading = threading.Event()
        self.release = threading.Event()

    def sam_status(self) -> None:
        pass

    def find_card(self) -> bool:
        return True

    def read_card(self, *, find: bool = True) -> IdCard:
        self.reads += 1
        if self.reads > 1:
            self.reading.set()
            self.release.wait(WAIT_S)
        return self.card

    def close(self) -> None:
        pass


class BackgroundRead:
    """``service.read_now(timeout_s)`` on a thread of its own (the technician's), its outcome kept."""

    def __init__(self, service: ReaderService, timeout_s: float) -> None:
        self.card: IdCard | None = None
        self.error: ReaderError | None = None
        self.finished = threading.Event()
        threading.Thread(target=self._run, args=(service, timeout_s), name="technician-read", daemon=True).start()

    def _run(self, service: ReaderService, timeout_s: float) -> None:
        try:
            self.card = service.read_now(timeout_s)
        except ReaderError as exc:
            self.error = exc
        finally:
            self.finished.set()


def _wait_until_asked(service: ReaderService) -> None:
    deadline = time.monotonic() + WAIT_S
    while service._pending_request() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service._pending_request() is not None


class _WaitAfter(threading.Event):
    """A request's ``done`` whose waits begin only once ``first`` is set (so a short ``read_now``
    timeout runs out while the read is under way, whatever the machine's load) and which sets
    ``timed_out`` when a wait runs out."""

    def __init__(self, first: threading.Event, timed_out: threading.Event) -> None:
        super().__init__()
        self.first = first
        self.timed_out = timed_out

    def wait(self, timeout: float | None = None) -> bool:
        self.first.wait(WAIT_S)
        got = super().wait(timeout)
        if not got:
            self.timed_out.set()
        return got


def test_a_test_read_whose_wait_runs_out_during_its_read_gets_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service had taken the request and was reading: the card is not lost to ``no_card``."""
    fake = GatedReader(_a_card())
    timed_out = threading.Event()

    class Request(service_module._ReadRequest):
        def __init__(self) -> None:
            super().__init__()
            self.done = _WaitAfter(fake.reading, timed_out)

    monkeypatch.setattr(service_module, "_ReadRequest", Request)
    recorder = Recorder()
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        recorder.expect(ReaderReady, CardPlaced, CardRead)
        test_read = BackgroundRead(service, 0.2)
        assert timed_out.wait(WAIT_S)  # read_now's own wait ran out, the read still under way
        fake.release.set()
        assert test_read.finished.wait(WAIT_S)
        assert test_read.error is None
        assert test_read.card is fake.card
        assert fake.reads == 2
        assert service._pending_request() is None
    finally:
        service.stop()


def test_a_test_read_that_ran_out_is_not_answered_by_a_card_laid_later(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list = []

    class Request(service_module._ReadRequest):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(service_module, "_ReadRequest", Request)
    recorder = Recorder()
    service = _service("sim://?present=0", recorder)
    try:
        recorder.expect(ReaderReady)
        with pytest.raises(ReaderError) as error:
            service.read_now(0.3)
        assert error.value.code == ReaderReason.NO_CARD
        simulator_for("sim://?present=0").place_card()
        recorder.expect(CardPlaced, CardRead)
        assert made[0].card is None and made[0].error is None and not made[0].done.is_set()
        assert service.read_now(WAIT_S).card_type.value == "resident"  # a new test read is served
    finally:
        service.stop()


def test_stop_ends_a_waiting_test_read_at_once() -> None:
    recorder = Recorder()
    fake = FakeReader([])  # never a card
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        recorder.expect(ReaderReady)
        test_read = BackgroundRead(service, 600.0)
        _wait_until_asked(service)
    finally:
        service.stop()
    assert test_read.finished.wait(WAIT_S)  # not after its 600 s
    assert test_read.error is not None and test_read.error.code == ReaderReason.READER_UNAVAILABLE
    assert "stopped" in test_read.error.detail


def test_stop_ends_a_test_read_whose_read_is_under_way() -> None:
    """Even when the backend cannot be woken (no ``cancel``), the technician is answered at once."""
    recorder = Recorder()
    fake = GatedReader(_a_card())
    service = _service("fake://", recorder, opener=lambda url: fake)
    recorder.expect(ReaderReady, CardPlaced, CardRead)
    test_read = BackgroundRead(service, 600.0)
    assert fake.reading.wait(WAIT_S)
    stopper = threading.Thread(target=service.stop, name="stopper")
    stopper.start()
    try:
        assert test_read.finished.wait(WAIT_S)  # while the read still hangs
        assert test_read.error is not None and test_read.error.code == ReaderReason.READER_UNAVAILABLE
    finally:
        fake.release.set()
        stopper.join(WAIT_S)
    assert test_read.card is None  # the read that finished afterwards changed nothing
    assert not service.running


def test_a_test_read_before_start_or_after_stop_fails_at_once() -> None:
    recorder = Recorder()
    service = ReaderService("sim://", SETTINGS, recorder)
    before = BackgroundRead(service, 600.0)
    assert before.finished.wait(WAIT_S)
    assert before.error is not None and before.error.code == ReaderReason.READER_UNAVAILABLE
    service.start()
    recorder.expect(ReaderReady, CardPlaced, CardRead)
    service.stop()
    after = BackgroundRead(service, 600.0)
    assert after.finished.wait(WAIT_S)
    assert after.error is not None and after.error.code == ReaderReason.READER_UNAVAILABLE


def test_a_waiting_test_read_gets_the_error_of_a_failed_placement_read() -> None:
    url = "sim://?present=0&fail_reads=1"
    recorder = Recorder()
    service = _service(url, recorder)
    try:
        recorder.expect(ReaderReady)
        simulator = simulator_for(url)
        reads_before = simulator.count("read")
        test_read = BackgroundRead(service, WAIT_S)
        _wait_until_asked(service)
        simulator.place_card()
        _, failed = recorder.expect(CardPlaced, CardReadFailed)
        assert test_read.finished.wait(WAIT_S)
        assert test_read.error is not None and test_read.error.code == failed.code == ReaderReason.CARD_READ_FAILED
        assert test_read.card is None
        assert simulator.count("read") == reads_before + 1  # the failed read was not repeated for the test read
    finally:
        service.stop()


def test_a_waiting_test_read_is_answered_before_the_event_callback_runs() -> None:
    """A slow event callback (the kiosk's queue, a busy GUI) must not hold the technician's card back."""
    release = threading.Event()
    recorder = Recorder()

    def slow_callback(event: ReaderEvent) -> None:
        recorder(event)
        if isinstance(event, CardRead):
            release.wait(WAIT_S)  # held until the test has seen the test read's answer

    url = "sim://?present=0"
    service = ReaderService(url, SETTINGS, slow_callback)
    service.start()
    try:
        recorder.expect(ReaderReady)
        test_read = BackgroundRead(service, WAIT_S)
        _wait_until_asked(service)
        simulator_for(url).place_card()
        assert test_read.finished.wait(WAIT_S), "the test read waited for the event callback"
        assert test_read.card is not None and test_read.card.card_type.value == "resident"
    finally:
        release.set()
        service.stop()


def test_a_backend_bug_is_reported_as_a_lost_reader_and_retried() -> None:
    """A vendor backend raising something other than ReaderError (a bug) must not end the service:
    the kiosk hears reader_unavailable, and the service opens the reader again."""
    attempts: list[int] = []
    fake = FakeReader([False] * 1000)

    def flaky_opener(url: str) -> CardReader:
        attempts.append(1)
        if len(attempts) == 1:
            raise ZeroDivisionError("backend bug")
        return fake

    recorder = Recorder()
    service = _service("fake://", recorder, opener=flaky_opener)
    try:
        lost, _ = recorder.expect(ReaderLost, ReaderReady)
        assert lost.code == ReaderReason.READER_UNAVAILABLE and len(attempts) == 2 and service.running
    finally:
        service.stop()


def test_a_backend_bug_while_polling_is_reported_as_a_lost_reader_and_retried() -> None:
    """The same for a bug raised once the reader is up (by find_card): the watch ends, the service goes on."""
    fake = FakeReader([False, ZeroDivisionError("backend bug")] + [False] * 1000)
    recorder = Recorder()
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        _, lost, _ = recorder.expect(ReaderReady, ReaderLost, ReaderReady)
        assert lost.code == ReaderReason.READER_UNAVAILABLE and fake.closed >= 1 and service.running
    finally:
        service.stop()


def test_a_backend_bug_with_a_card_on_the_reader_reports_the_removal_first() -> None:
    """As for any reader that dies with a card on it (docs/reader.md): CardRemoved, then ReaderLost,
    so the kiosk does not go on believing a card lies there."""
    fake = FakeReader([True, ZeroDivisionError("backend bug")] + [False] * 1000)  # its read fails: still laid
    recorder = Recorder()
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        *_, lost, _ = recorder.expect(ReaderReady, CardPlaced, CardReadFailed, CardRemoved, ReaderLost, ReaderReady)
        assert lost.code == ReaderReason.READER_UNAVAILABLE
    finally:
        service.stop()


def test_a_backend_bug_during_a_test_read_answers_it_and_the_service_goes_on() -> None:
    class BuggyGatedReader(GatedReader):
        def read_card(self, *, find: bool = True) -> IdCard:
            self.reads += 1
            if self.reads == 2:  # the test read
                raise ZeroDivisionError("backend bug")
            return self.card

    fake = BuggyGatedReader(_a_card())
    recorder = Recorder()
    service = _service("fake://", recorder, opener=lambda url: fake)
    try:
        recorder.expect(ReaderReady, CardPlaced, CardRead)
        with pytest.raises(ReaderError) as error:
            service.read_now(WAIT_S)  # answered, not left to run into its time limit
        assert error.value.code == ReaderReason.READER_UNAVAILABLE and "unexpectedly" in error.value.detail
        deadline = time.monotonic() + WAIT_S
        while fake.reads < 3 and time.monotonic() < deadline:  # reopened: the card is read again
            time.sleep(0.01)
        assert fake.reads >= 3 and service.running
    finally:
        service.stop()


class _Fatal(BaseException):
    """Something no handler should swallow (like SystemExit): it ends the service thread."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_test_read_fails_at_once_when_the_service_thread_has_died() -> None:
    def fatal_opener(url: str) -> CardReader:
        raise _Fatal()

    service = ReaderService("fake://", SETTINGS, Recorder(), opener=fatal_opener)
    service.start()
    deadline = time.monotonic() + WAIT_S
    while service.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not service.running
    started = time.monotonic()
    with pytest.raises(ReaderError) as error:
        service.read_now(5.0)
    assert error.value.code == ReaderReason.READER_UNAVAILABLE and time.monotonic() - started < 1.0
    service.stop()
