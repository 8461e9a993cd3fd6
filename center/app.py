"""The centre's web service (FastAPI): enrolment, roster deltas, results, heartbeats, a probe.

Every route except ``GET /v1/ping`` and ``POST /v1/enrol`` is authenticated by the terminal's key
(:mod:`center.auth`); enrolment is authenticated by a one-time code and signed with the key it
registers (:mod:`center.enrolment`). Every non-2xx answer has
the body ``{"error": {"code": ..., "message": ...}}`` with a stable code (``WireError``); validation
errors name the fields and never echo the submitted values (they may be personal data). FastAPI
serves its own OpenAPI document at ``/openapi.json``; the reviewed, normative one is
``docs/sync-protocol.yaml``.

Thread rules: :func:`create_app` builds one engine; each request uses its own session in a worker
thread (route functions are plain ``def``; authentication and body reading are async, with their
database work in the thread pool).
"""

# No `from __future__ import annotations`: FastAPI must resolve the local Annotated aliases at runtime.

import logging
import time
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from center import staff_calls
from center.auth import ApiError, Authenticator, Caller, read_body, request_path
from center.center_key import key_path_for, load_or_create
from center.console import routes as console
from center.db import Device, make_engine, session_factory, utcnow
from center.enrolment import enrol as enrol_key
from center.enrolment import rotate
from center.provincial_roster import delta_page
from center.results import receive_batch
from wire.api import (BODY_TIMEOUT_S, DEFAULT_ROSTER_PAGE, MAX_BODY_BYTES, MAX_RECORDS_PER_BATCH, MAX_ROSTER_CURSOR,
                      MAX_ROSTER_PAGE, MAX_SMALL_BODY_BYTES, PATH_ENROL, PATH_HEARTBEAT, PATH_KEYS, PATH_PING,
                      PATH_RESULTS, PATH_ROSTER, SKEW_WINDOW_S)
from wire.codes import WireError
from wire.result_record import ResultBatch, ResultBatchResponse, ResultRecord
from wire.schemas import (EnrolRequest, EnrolResponse, ErrorResponse, Heartbeat, HeartbeatResponse, KeyRotation,
                          RosterPage, explain_errors)
from wire.signing import body_matches, public_key_text
# Route templates are spelt from PATH_STAFF_CALLS: wire.staff's path helpers take a real call id.
from wire.staff import PATH_STAFF_CALLS, StaffCallAck, StaffCallAnswer, StaffCallRequest

log = logging.getLogger(__name__)
_ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 408, 413, 422)}
# Bodies are read raw (the signed headers carry their digest), so their schemas are declared by hand
# for the served OpenAPI document.
_BATCH_SCHEMA = {"type": "object", "required": ["records"], "additionalProperties": False,
                 "properties": {"records": {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS_PER_BATCH,
                                            "items": ResultRecord.model_json_schema()}}}


def _body_doc(schema: dict) -> dict:  # type: ignore[type-arg]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(db: str, *, window_s: int = SKEW_WINDOW_S, max_body_bytes: int = MAX_BODY_BYTES,
               body_timeout_s: float = BODY_TIMEOUT_S, now: Callable[[], float] = time.time,
               key_file: Path | None = None) -> FastAPI:
    """The centre application on database ``db`` (path or URL; tables are created when missing).

    ``key_file``: the centre's signing key (default beside the database, :mod:`center.center_key`;
    made on first use).
    """
    engine = make_engine(db)
    sessions = session_factory(engine)
    center_key = load_or_create(key_file or key_path_for(db))
    center_public_key = public_key_text(center_key)
    app = FastAPI(title="Kiosk provincial centre (reference)", version="1",
                  description="Sync protocol of the pension certification kiosk; see docs/sync-protocol.yaml.")
    app.state.engine = engine
    app.state.center_key = center_key
    authenticator = Authenticator(sessions, window_s=window_s, max_body_bytes=max_body_bytes,
                                  body_timeout_s=body_timeout_s, now=now)

    def session() -> Iterator[Session]:
        with sessions() as opened:
            yield opened

    async def caller(request: Request) -> Caller:
        return await authenticator.authenticate(request)

    Authed = Annotated[Caller, Depends(caller)]
    DbSession = Annotated[Session, Depends(session)]

    def seen(db_session: Session, found: Caller) -> Device:
        device = db_session.get(Device, found.device_id)
        if device is None:  # removed between the check and now
            raise ApiError(401, WireError.SIGNATURE_INVALID, "request signature does not verify")
        device.last_seen_at = utcnow()
        return device

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        log.info("refused a request: %s", exc.code)
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, WireError.REQUEST_INVALID, _explain(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = WireError.NOT_FOUND if exc.status_code == 404 else WireError.REQUEST_INVALID
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__, exc_info=exc)
        return _error(500, WireError.SERVER_ERROR, "internal error at the centre; retry later")

    @app.get(PATH_PING, summary="Connectivity probe (unauthenticated, cheap)")
    def ping() -> dict[str, str]:
        return {"status": "ok", "server_time": utcnow().isoformat(), "center_public_key": center_public_key}

    @app.post(PATH_ENROL, response_model=EnrolResponse, responses=_ERRORS,
              openapi_extra=_body_doc(EnrolRequest.model_json_schema()),
              summary="First contact: register the terminal's public key with its one-time enrolment code")
    async def enrol(request: Request) -> EnrolResponse:
        headers = authenticator.fresh_headers(request)
        raw = await read_body(request, MAX_SMALL_BODY_BYTES, body_timeout_s)
        if not body_matches(headers, raw):
            raise ApiError(401, WireError.ENROLMENT_REFUSED, "the body is not the one the signed headers describe")
        parsed = _parse(EnrolRequest, raw)

        def register() -> EnrolResponse:
            with sessions() as db_session:
                key = enrol_key(db_session, headers, parsed, request.method, request_path(request))
                authenticator.spend_nonce(db_session, headers)  # commits the key and the nonce together
                return EnrolResponse(device_id=key.device_id, key_id=key.key_id, server_time=utcnow(),
                                     center_public_key=center_public_key)

        return await run_in_threadpool(register)

    @app.post(PATH_KEYS, response_model=EnrolResponse, responses=_ERRORS,
              openapi_extra=_body_doc(KeyRotation.model_json_schema()),
              summary="Replace the terminal's key (signed with the current key; the new key proves itself)")
    def rotate_key(found: Authed, db_session: DbSession) -> EnrolResponse:
        rotation = _parse(KeyRotation, found.body)
        seen(db_session, found)
        key = rotate(db_session, found.device_id, found.key_id, rotation)
        db_session.commit()
        return EnrolResponse(device_id=key.device_id, key_id=key.key_id, server_time=utcnow(),
                             center_public_key=center_public_key)

    @app.get(PATH_ROSTER, response_model=RosterPage, responses=_ERRORS, summary="Roster changes after a cursor")
    def roster(found: Authed, db_session: DbSession,
               cursor: Annotated[int, Query(ge=0, le=MAX_ROSTER_CURSOR)] = 0,
               limit: Annotated[int, Query(ge=1, le=MAX_ROSTER_PAGE)] = DEFAULT_ROSTER_PAGE) -> RosterPage:
        seen(db_session, found)
        page = delta_page(db_session, cursor, limit)
        db_session.commit()
        return page

    @app.post(PATH_RESULTS, response_model=ResultBatchResponse, responses=_ERRORS, openapi_extra=_body_doc(_BATCH_SCHEMA),
              summary="Submit a batch of signed certification results (idempotent by record_id)")
    def results(found: Authed, db_session: DbSession) -> ResultBatchResponse:
        batch = _parse(ResultBatch, found.body)
        device = seen(db_session, found)
        receipts = receive_batch(db_session, device, batch.records)
        db_session.commit()
        return ResultBatchResponse(receipts=receipts)

    @app.post(PATH_HEARTBEAT, response_model=HeartbeatResponse, responses=_ERRORS,
              openapi_extra=_body_doc(Heartbeat.model_json_schema()),
              summary="The terminal's health (no personal data)")
    def heartbeat(found: Authed, db_session: DbSession) -> HeartbeatResponse:
        health = _parse(Heartbeat, found.body)
        device = seen(db_session, found)
        device.last_health = health.model_dump(mode="json")
        db_session.commit()
        return HeartbeatResponse(server_time=utcnow(), center_public_key=center_public_key)

    @app.post(PATH_STAFF_CALLS, response_model=StaffCallAnswer, responses=_ERRORS,
              openapi_extra=_body_doc(StaffCallRequest.model_json_schema()),
              summary="Call a member of staff to the terminal (idempotent by call_id)")
    def raise_staff_call(found: Authed, db_session: DbSession) -> StaffCallAnswer:
        request = _parse(StaffCallRequest, found.body)
        call = staff_calls.raise_call(db_session, seen(db_session, found), request)
        db_session.commit()
        return staff_calls.answer(call)

    @app.get(PATH_STAFF_CALLS + "/{call_id}", response_model=StaffCallAnswer, responses=_ERRORS,
             summary="Where the terminal's staff call stands (polled)")
    def staff_call(found: Authed, db_session: DbSession, call_id: str) -> StaffCallAnswer:
        call = staff_calls.call_of(db_session, seen(db_session, found), call_id)
        db_session.commit()
        return staff_calls.answer(call)

    @app.post(PATH_STAFF_CALLS + "/{call_id}/ack", response_model=StaffCallAnswer, responses=_ERRORS,
              openapi_extra=_body_doc(StaffCallAck.model_json_schema()),
              summary="A member of staff at the terminal answered the call")
    def acknowledge_staff_call(found: Authed, db_session: DbSession, call_id: str) -> StaffCallAnswer:
        ack = _parse(StaffCallAck, found.body)
        call = staff_calls.call_of(db_session, seen(db_session, found), call_id)
        staff_calls.acknowledge(call, staff_number=ack.staff_number, at=ack.acknowledged_at,
                                via=staff_calls.VIA_TERMINAL)
        db_session.commit()
        return staff_calls.answer(call)

    console.install(app, sessions, center_key)
    return app


def _parse(model: type, raw: bytes):  # type: ignore[no-untyped-def]
    """Validates a JSON body against ``model``; raises 422 ``request_invalid`` naming the fields."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ApiError(422, WireError.REQUEST_INVALID, _explain(exc.errors(include_input=False))) from None


def _explain(errors: list) -> str:  # type: ignore[type-arg]
    return explain_errors(errors, prefix="invalid request: ", whole="body", max_chars=1000)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": str(code), "message": message}})
