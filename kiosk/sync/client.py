"""The HTTP side of sync: signed requests to the centre, answers classified into reason codes.

Classification (each a :class:`~kiosk.errors.SyncError` with a stable ``code``):

* no connection, DNS failure, connection dropped, timeout -> ``center_unreachable`` (retry later);
  a TLS certificate that does not verify -> ``center_certificate_invalid`` (a technician must act);
* 5xx, or a 2xx whose body is not the JSON the protocol promises -> ``center_error`` (retry later);
* 401/403 -> ``auth_failed`` (retrying will not help: the terminal must be enrolled again, or
  enabled at the centre); a stale-timestamp
  refusal is first retried once with the skew measured from the answer's ``Date`` header, and only
  then reported as ``clock_skew``;
* 413 ``request_too_large`` / 422 ``request_invalid`` / ``key_rotation_invalid`` -> :class:`RequestRefused`
  (``center_refused_request``): the request itself is wrong, so the caller decides (split a batch,
  set a record aside); any other 4xx (a wrong URL, a proxy in the way) -> ``center_error``.

Clock skew: every answer's ``Date`` header is compared with the local clock at the middle of the
exchange; later request timestamps are corrected by it so a terminal with a wrong clock keeps
syncing, and the skew is reported (status, doctor, heartbeat).

Thread rules: a :class:`CentreClient` belongs to one thread (it owns an ``httpx.Client``).
"""

from __future__ import annotations

import json
import logging
import ssl
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ValidationError

from kiosk.clock import Clock
from kiosk.errors import SyncError
from kiosk.sync.credentials import Credentials
from kiosk.reasons import SyncReason
from wire.api import PATH_ENROL, PATH_HEARTBEAT, PATH_KEYS, PATH_PING, PATH_RESULTS, PATH_ROSTER
from wire.codes import WireError
from wire.result_record import RecordReceipt, ResultBatchResponse, ResultRecord
from wire.schemas import EnrolRequest, Heartbeat, KeyRotation
from wire.signing import public_key_text, rotation_statement, sign_bytes, sign_request

log = logging.getLogger(__name__)

USER_AGENT = "kiosk-sync/1"


class RequestRefused(SyncError):
    """The centre refused a request as malformed or too large (4xx other than auth).

    ``status``: the HTTP status; ``wire_code``: the centre's reason code; ``message``: its text
    (the centre's messages never echo personal data).
    """

    code = SyncReason.CENTER_REFUSED_REQUEST

    def __init__(self, status: int, wire_code: str, message: str) -> None:
        super().__init__(f"centre refused the request ({status} {wire_code}): {message}")
        self.status = status
        self.wire_code = wire_code
        self.detail = message


class CentreClient:
    """Signed JSON requests to one centre with one device's credentials."""

    def __init__(self, credentials: Credentials, clock: Clock, timeout_s: float,
                 transport: httpx.BaseTransport | None = None, ca_file: str = "") -> None:
        self._credentials = credentials
        self._clock = clock
        # Redirects are not followed: a signature covers the path, and a redirected result batch
        # could end up somewhere that is not the centre.
        self._http = httpx.Client(base_url=credentials.center_url, timeout=httpx.Timeout(timeout_s),
                                  transport=transport, headers={"User-Agent": USER_AGENT},
                                  follow_redirects=False, verify=tls_verify(ca_file))
        self.clock_skew_s: float | None = None

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    # -- the protocol's operations ------------------------------------------------------------

    def ping(self) -> float | None:
        """The cheap unauthenticated probe; returns the measured clock skew (s) or None."""
        self._exchange("GET", PATH_PING, None, signed=False)
        return self.clock_skew_s

    def enrol(self, software_version: str) -> dict[str, Any]:
        """First contact: registers this terminal's public key with its one-time enrolment code (the
        request is signed with that key); returns ``{device_id, key_id, server_time}``. A refused
        code is ``auth_failed``."""
        return self._exchange("POST", PATH_ENROL, EnrolRequest(
            enrolment_code=self._credentials.enrolment_code, public_key=self._credentials.public_key(),
            software_version=software_version))

    def rotate_key(self, new_key: Ed25519PrivateKey) -> dict[str, Any]:
        """Replaces this terminal's key at the centre by ``new_key`` (the request is signed with the
        current key, the new key signs the rotation statement); returns ``{device_id, key_id, server_time}``."""
        public = public_key_text(new_key)
        statement = rotation_statement(self._credentials.device_id, self._credentials.key_id, public)
        return self._exchange("POST", PATH_KEYS, KeyRotation(public_key=public, possession=sign_bytes(new_key, statement)))

    def roster_page(self, cursor: int, limit: int) -> dict[str, Any]:
        """One page of roster changes after ``cursor``: ``{changes, next_cursor, has_more}``."""
        answer = self._exchange("GET", f"{PATH_ROSTER}?cursor={int(cursor)}&limit={int(limit)}", None)
        if not isinstance(answer.get("changes"), list) or not isinstance(answer.get("next_cursor"), int):
            raise SyncError("the centre's roster page lacks changes/next_cursor", code=SyncReason.CENTER_ERROR)
        return answer

    def submit(self, records: list[ResultRecord]) -> list[RecordReceipt]:
        """Submits signed records; returns one receipt per record, in order (checked: a receipt
        that is not the protocol's, or does not match its record, is ``center_error``)."""
        answer = self._exchange("POST", PATH_RESULTS, {"records": [record.wire_dict() for record in records]})
        try:
            receipts = ResultBatchResponse.model_validate(answer).receipts
        except ValidationError:
            receipts = []
        if len(receipts) != len(records) or not all(
                receipt.record_id in (record.record_id, "") for receipt, record in zip(receipts, records, strict=True)):
            raise SyncError("the centre's receipts do not match the records sent", code=SyncReason.CENTER_ERROR)
        return receipts

    def heartbeat(self, health: Heartbeat) -> dict[str, Any]:
        """Reports the terminal's health (no personal data)."""
        return self._exchange("POST", PATH_HEARTBEAT, health)

    # -- plumbing -----------------------------------------------------------------------------

    def _exchange(self, method: str, path: str, payload: BaseModel | dict[str, Any] | None, *, signed: bool = True,
                  retried_stale: bool = False) -> dict[str, Any]:
        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                                                      allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if signed:
            now = self._clock.now().timestamp() + (self.clock_skew_s or 0.0)
            signature = sign_request(self._credentials.signing_key(), self._credentials.device_id, method, path, body,
                                     int(round(now)))
            headers.update(signature.as_dict())
        sent_at = self._clock.now().timestamp()
        try:
            response = self._http.request(method, path, content=body, headers=headers)
        except httpx.TimeoutException:
            raise SyncError("the centre did not answer in time", code=SyncReason.CENTER_UNREACHABLE) from None
        except httpx.TransportError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
                raise SyncError("the centre's TLS certificate is not trusted (wrong host, expired, or "
                                "sync.ca_file missing)", code=SyncReason.CENTER_CERTIFICATE_INVALID) from None
            raise SyncError(f"the centre cannot be reached ({type(exc).__name__})",
                            code=SyncReason.CENTER_UNREACHABLE) from None
        self._measure_skew(response, sent_at)
        if response.status_code >= 500:
            raise SyncError(f"the centre answered {response.status_code}", code=SyncReason.CENTER_ERROR)
        answer = self._json(response)
        if response.is_success:
            return answer
        wire_code, message = _error_of(answer)
        if response.status_code in (401, 403):
            if wire_code == WireError.REQUEST_STALE:
                if not retried_stale and self.clock_skew_s is not None:
                    return self._exchange(method, path, payload, signed=signed, retried_stale=True)
                raise SyncError(f"the centre refused the request time: {message}", code=SyncReason.CLOCK_SKEW)
            raise SyncError(f"the centre refused this terminal's credentials ({wire_code})",
                            code=SyncReason.AUTH_FAILED)
        if wire_code not in (WireError.REQUEST_INVALID, WireError.REQUEST_TOO_LARGE, WireError.KEY_ROTATION_INVALID):
            # A 404, 405 or a 4xx without the protocol's error body is not about the records: most
            # likely a wrong URL or a proxy in the way. Setting records aside for it would be wrong.
            raise SyncError(f"the centre answered {response.status_code} ({wire_code}); is the URL right?",
                            code=SyncReason.CENTER_ERROR)
        raise RequestRefused(response.status_code, wire_code, message)

    def _measure_skew(self, response: httpx.Response, sent_at: float) -> None:
        date_header = response.headers.get("date")
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        midpoint = (sent_at + self._clock.now().timestamp()) / 2
        # The Date header has whole seconds: a skew under 2 s is indistinguishable from none.
        skew = server + 0.5 - midpoint
        self.clock_skew_s = 0.0 if abs(skew) < 2.0 else round(skew, 1)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.is_success:
                raise SyncError("the centre's answer is not a JSON object", code=SyncReason.CENTER_ERROR)
            return {}
        return answer


def tls_verify(ca_file: str) -> ssl.SSLContext | bool:
    """What httpx should verify the centre's certificate with: ``sync.ca_file`` or the system CAs.

    Raises SyncError (``sync_ca_file_invalid``) when the file cannot be loaded: silently falling
    back to no verification would hand the records to whoever answers.
    """
    if not ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SyncError(f"sync.ca_file {ca_file} cannot be loaded ({type(exc).__name__})",
                        code=SyncReason.CA_FILE_INVALID) from None


def _error_of(answer: dict[str, Any]) -> tuple[str, str]:
    error = answer.get("error")
    if isinstance(error, dict):
        return str(error.get("code", "unknown")), str(error.get("message", ""))[:300]
    return "unknown", ""
