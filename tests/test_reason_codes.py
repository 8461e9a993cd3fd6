"""One registry of reasons: codes are enum members where they are raised, returned or compared.

A reason code is defined once, by an enum (``Outcome``, ``NextStep``, ``SyncReason``, the wire
enums, the device packages' reasons) or by the ``code`` of an error class in ``kiosk.errors``. The
guard below walks the sources of ``kiosk/``, ``ui/`` and ``center/`` and fails when a string literal
spelling a registered code is compared (``==``, ``!=``, ``in``, ``case``) or handed over as a
``code=``/``error=``/``reason=`` argument: a typo there would be a silent new code, and a renamed
code would leave the literal behind. The sync tests check what the registry is for: each code the
sync side reports is a :class:`SyncReason` member, and a technician gets a hint for each one a round
can stop with.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError, SyncError, from_device_error, reason_code
from kiosk.reasons import NextStep, Outcome, all_reason_codes
from kiosk.sync.client import CentreClient
from kiosk.sync.credentials import credentials_path, load_credentials, new_credentials
from kiosk.reasons import SyncReason
from kiosk.sync.status import SyncReport, SyncStatus
from kiosk.sync.worker import SyncWorker
from wire.codes import RecordRejection, RecordVerdict, WireError

ROOT = Path(__file__).resolve().parent.parent
GUARDED = ("kiosk", "ui", "center")
KEYWORDS = {"code", "error", "reason"}
Handler = Callable[[httpx.Request], httpx.Response]
NOW = datetime(2026, 5, 1, tzinfo=timezone.utc)


def registered_codes() -> set[str]:
    """Every reason code of the project, from the live registries."""
    codes = set().union(*all_reason_codes().values())
    for enum in (NextStep, SyncReason, WireError, RecordVerdict, RecordRejection):
        codes |= {str(member) for member in enum}
    return codes


def _code_literals(node: ast.AST | None, codes: set[str]) -> list[ast.Constant]:
    """``node`` when it is a string constant spelling a code, or such elements of a literal tuple/list/set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in codes:
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [found for element in node.elts for found in _code_literals(element, codes)]
    return []


def literal_codes(source: str, codes: set[str], filename: str = "<source>") -> list[tuple[int, str, str]]:
    """``(line, code, how)`` for each registered code spelled as a literal where a member belongs."""
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Compare):
            if any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                for side in (node.left, *node.comparators):
                    found += [(literal.lineno, literal.value, "compared") for literal in _code_literals(side, codes)]
        elif isinstance(node, ast.MatchValue):
            found += [(literal.lineno, literal.value, "case") for literal in _code_literals(node.value, codes)]
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in KEYWORDS:
                    found += [(literal.lineno, literal.value, f"{keyword.arg}=")
                              for literal in _code_literals(keyword.value, codes)]
    return sorted(found)


def test_no_reason_code_is_spelled_as_a_literal_where_it_is_raised_or_compared() -> None:
    codes = registered_codes()
    offences = []
    for package in GUARDED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            for line, code, how in literal_codes(path.read_text(encoding="utf-8"), codes, str(relative)):
                offences.append(f"{relative}:{line}: {code!r} {how}; use the member of its registry")
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("planted", [
    'if report.error == "center_unreachable":\n    pass\n',
    'ok = outcome != "certified"\n',
    'reached = error not in ("not_enrolled", "sync_credentials_invalid")\n',
    'raise SyncError("no answer", code="center_error")\n',
    'report = SyncReport(error="sync_internal_error")\n',
    'post(Mismatched(reason="no_usable_face"))\n',
    'match code:\n    case "storage_full":\n        pass\n',
])
def test_the_guard_sees_a_planted_literal(planted: str) -> None:
    assert literal_codes(planted, registered_codes())


def test_the_guard_leaves_members_and_other_strings_alone() -> None:
    source = ('if report.error == SyncReason.CENTER_UNREACHABLE and state == "pending":\n'
              '    raise SyncError("certified", code=SyncReason.CENTER_ERROR)\n'
              'text = catalogue.text("receipt", "certified")\n')
    assert literal_codes(source, registered_codes()) == []


# -- the helper -------------------------------------------------------------------------------


class _DeviceFault(Exception):
    code = "reader_timeout"


def test_reason_code_reads_an_errors_code_or_falls_back() -> None:
    assert reason_code(SyncError("x", code=SyncReason.AUTH_FAILED)) == "auth_failed"
    assert reason_code(_DeviceFault()) == "reader_timeout"
    assert reason_code(OSError("/home/someone/photo.jpg")) == "OSError"  # never the message
    assert reason_code(OSError(), "roster_photo_unreadable") == "roster_photo_unreadable"
    assert reason_code(KioskError()) == "internal_error"


def test_a_device_error_keeps_the_devices_code_else_device_error() -> None:
    assert from_device_error(_DeviceFault()).code == "reader_timeout"
    assert from_device_error(RuntimeError("boom")).code == "device_error"


def test_the_wire_contract_holds_the_one_helper() -> None:
    import wire.codes

    assert reason_code is wire.codes.reason_code


# -- codes as members keep their plain-string form --------------------------------------------


def test_members_serialise_and_bind_as_plain_text() -> None:
    report = SyncReport(error=SyncReason.CENTER_UNREACHABLE, details={"pending": 1})
    assert json.dumps(report.as_dict()) == json.dumps({**report.as_dict(), "error": "center_unreachable"})
    status = json.loads(json.dumps(SyncStatus(last_error_code=SyncReason.AUTH_FAILED).as_dict()))
    assert type(status["last_error_code"]) is str and status["last_error_code"] == "auth_failed"
    assert f"{RecordRejection.KEY_UNKNOWN}: message" == "record_key_unknown: message"
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (code TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (Outcome.CERTIFIED,))
        assert db.execute("SELECT code, typeof(code) FROM t").fetchone() == ("certified", "text")
        assert db.execute("SELECT count(*) FROM t WHERE code = ?", (Outcome.CERTIFIED,)).fetchone() == (1,)


def test_a_record_and_its_audit_with_members_are_stored_and_sent_as_with_strings() -> None:
    from sqlite_utils import Database

    from kiosk.store import CertificationRecord, DeviceKey, Store
    from kiosk.sync.wire_mapping import wire_record
    from wire.signing import new_signing_key

    def attempt(outcome: str, reason: str | None) -> CertificationRecord:
        return CertificationRecord(record_id="6f1c2e3a-1111-4222-8333-944455556666", session_id="s-1",
                                   occurred_at=NOW, device_id="KIOSK-1", region_code="110101",
                                   id_number="11010519491231002X", outcome=outcome, reason_code=reason)

    key = new_signing_key()
    sent = [wire_record(attempt(outcome, reason), device_id="KIOSK-1", key_id="0123456789abcdef", hall_name="hall",
                        send_face_images=False, key=key).wire_dict()
            for outcome, reason in [(Outcome.MISMATCH, Outcome.MISMATCH), ("mismatch", "mismatch")]]
    assert json.dumps(sent[0], sort_keys=True) == json.dumps(sent[1], sort_keys=True)
    assert type(sent[0]["outcome"]) is str and type(sent[0]["reason_code"]) is str

    store = Store(Database(memory=True), clock=FakeClock(NOW), key=DeviceKey.generate())
    record_id = store.record_attempt(attempt(Outcome.CERTIFIED, None))
    store.audit("s-1", "result", Outcome.CERTIFIED, {"next_step": NextStep.NONE})
    store.mark_retry(record_id, RecordRejection.KEY_UNKNOWN, NOW)
    rows = [*store.db.execute("SELECT outcome, typeof(outcome) FROM certifications"),
            *store.db.execute("SELECT code, typeof(code) FROM audit_log"),
            *store.db.execute("SELECT last_error, typeof(last_error) FROM outbox")]
    assert rows == [("certified", "text"), ("certified", "text"), ("record_key_unknown", "text")]
    assert store.audit_entries("s-1")[0]["detail"] == {"next_step": "none"}


# -- the sync side reports members of SyncReason ----------------------------------------------


def _client(handler: Handler, ca_file: str = "") -> CentreClient:
    credentials = new_credentials("https://centre.example", "T-1", "ABCD-EFGH-JKMN-PQRS")
    return CentreClient(credentials, FakeClock(NOW), 5.0, httpx.MockTransport(handler), ca_file=ca_file)


def _answer(status: int, body: object = None, *, raw: bytes | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw)
        return httpx.Response(status, json=body)
    return handler


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


def _error(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": "refused"}}


@pytest.mark.parametrize(("handler", "expected"), [
    (_raise(httpx.ConnectError("refused")), SyncReason.CENTER_UNREACHABLE),
    (_raise(httpx.ReadTimeout("slow")), SyncReason.CENTER_UNREACHABLE),
    (_raise(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
     SyncReason.CENTER_CERTIFICATE_INVALID),
    (_answer(500, {}), SyncReason.CENTER_ERROR),
    (_answer(200, raw=b"<html>"), SyncReason.CENTER_ERROR),
    (_answer(200, {"changes": "no"}), SyncReason.CENTER_ERROR),
    (_answer(404, _error(WireError.NOT_FOUND)), SyncReason.CENTER_ERROR),
    (_answer(401, _error(WireError.SIGNATURE_INVALID)), SyncReason.AUTH_FAILED),
    (_answer(401, _error(WireError.REQUEST_STALE)), SyncReason.CLOCK_SKEW),
    (_answer(413, _error(WireError.REQUEST_TOO_LARGE)), SyncReason.CENTER_REFUSED_REQUEST),
    (_answer(422, _error(WireError.REQUEST_INVALID)), SyncReason.CENTER_REFUSED_REQUEST),
], ids=["refused", "timeout", "tls", "5xx", "not-json", "no-changes", "404", "401", "stale", "413", "422"])
def test_the_client_classifies_every_failure_into_a_sync_reason(handler: Handler, expected: SyncReason) -> None:
    client = _client(handler)
    try:
        with pytest.raises(SyncError) as info:
            client.roster_page(0, 10)
    finally:
        client.close()
    assert info.value.code == expected and isinstance(info.value.code, SyncReason)


def test_an_unusable_ca_file_is_a_sync_reason(tmp_path: Path) -> None:
    with pytest.raises(SyncError) as info:
        _client(_answer(200, {}), ca_file=str(tmp_path / "missing.pem"))
    assert info.value.code is SyncReason.CA_FILE_INVALID


CODE = "ABCD-EFGH-JKMN-PQRS"


@pytest.mark.parametrize(("url", "device_id", "code", "expected"), [
    ("ftp://centre.example", "T-1", CODE, SyncReason.URL_INVALID),
    ("http://centre.example", "T-1", CODE, SyncReason.URL_INVALID),
    ("https://centre.example?x=1", "T-1", CODE, SyncReason.URL_INVALID),
    ("https://centre.example", "T 1", CODE, SyncReason.DEVICE_ID_INVALID),
    ("https://centre.example", "T-1", "xyz", SyncReason.ENROLMENT_CODE_INVALID),
    ("https://centre.example", "T-1", "ABCD-EFGH-JKMN-PQRU", SyncReason.ENROLMENT_CODE_INVALID),
])
def test_bad_credentials_are_sync_reasons(url: str, device_id: str, code: str, expected: SyncReason) -> None:
    with pytest.raises(SyncError) as info:
        new_credentials(url, device_id, code)
    assert info.value.code is expected


def test_a_damaged_credentials_file_and_a_missing_one_are_sync_reasons(config: KioskConfig) -> None:
    worker = SyncWorker(config, FakeClock(NOW))
    assert worker.run_once().error is SyncReason.NOT_ENROLLED
    path = credentials_path(config.terminal.resolved_data_dir())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{", encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(SyncError) as info:
        load_credentials(config.terminal.resolved_data_dir())
    assert info.value.code is SyncReason.CREDENTIALS_INVALID
    assert worker.run_once().error is SyncReason.CREDENTIALS_INVALID


# Reasons of one set-aside record (grouped by the "records set aside" check, never a round's error),
# and the enrolment command's own refusals (printed by `kiosk enroll-device`, never stored).
NOT_A_ROUNDS_ERROR = {SyncReason.RECORD_REJECTED, SyncReason.RECORD_UNSENDABLE, SyncReason.URL_INVALID,
                      SyncReason.DEVICE_ID_INVALID, SyncReason.ENROLMENT_CODE_INVALID}


@pytest.mark.parametrize("reason", sorted(set(SyncReason) - NOT_A_ROUNDS_ERROR))
def test_every_error_a_sync_round_can_stop_with_has_a_doctor_hint(reason: SyncReason) -> None:
    from kiosk.doctor.checks_sync import _HINTS

    assert _HINTS.get(reason), f"kiosk doctor has no hint for {reason}: the technician would read 'see the log'"
