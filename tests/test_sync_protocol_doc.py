"""docs/sync-protocol.yaml stays in step with the code that implements it."""

from __future__ import annotations

from pathlib import Path

import pytest

from center.app import create_app
from wire.codes import RecordRejection, RecordVerdict, WireError
from wire.result_record import RecordReceipt, ResultRecord
from wire.review import ReviewDecision
from wire.schemas import (EnrolRequest, EnrolResponse, Heartbeat, HeartbeatResponse, KeyRotation, RosterChange,
                          RosterPage)
from wire.signing import (HEADER_CONTENT, HEADER_DEVICE, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
                          SCHEME)
from wire.staff import StaffCallAck, StaffCallAnswer, StaffCallRequest

DOC = (Path(__file__).resolve().parent.parent / "docs" / "sync-protocol.yaml").read_text(encoding="utf-8")


def _section(name: str) -> str:
    """The text of one schema under components/schemas (up to the next schema)."""
    start = DOC.index(f"\n    {name}:\n")
    following = [DOC.find(f"\n    {other}:", start + 1) for other in
                 ("EnrolRequest", "KeyRotation", "EnrolResponse", "ResultRecord", "RecordReceipt", "ResultBatchResponse",
                  "RosterChange", "RosterPage", "Heartbeat", "HeartbeatResponse", "ErrorResponse", "ReviewDecision",
                  "StaffCallRequest", "StaffCallAck", "StaffCallAnswer")]
    end = min([index for index in following if index > start] or [len(DOC)])
    return DOC[start:end]


def test_every_served_operation_is_documented(tmp_path: Path) -> None:
    served = create_app(str(tmp_path / "c.db")).openapi()["paths"]
    for path, operations in served.items():
        assert f"\n  {path}:\n" in DOC, path
        for method in operations:
            assert f"\n  {path}:\n    {method}:" in DOC or f"    {method}:" in DOC.split(f"\n  {path}:\n", 1)[1][:200]


@pytest.mark.parametrize("code", [*WireError, *RecordRejection, *RecordVerdict])
def test_every_reason_code_is_documented(code: str) -> None:
    assert str(code) in DOC


@pytest.mark.parametrize(("model", "schema"), [(ResultRecord, "ResultRecord"), (Heartbeat, "Heartbeat"),
                                               (EnrolRequest, "EnrolRequest"), (KeyRotation, "KeyRotation"),
                                               (RosterChange, "RosterChange"),
                                               (EnrolResponse, "EnrolResponse"), (RecordReceipt, "RecordReceipt"),
                                               (RosterPage, "RosterPage"), (HeartbeatResponse, "HeartbeatResponse"),
                                               (ReviewDecision, "ReviewDecision"), (StaffCallRequest, "StaffCallRequest"),
                                               (StaffCallAck, "StaffCallAck"), (StaffCallAnswer, "StaffCallAnswer")])
def test_every_field_is_documented(model: type, schema: str) -> None:
    text = _section(schema)
    for field in model.model_fields:
        assert f"\n        {field}:" in text, f"{schema}.{field} missing from docs/sync-protocol.yaml"


def test_the_signing_scheme_is_documented() -> None:
    for name in (SCHEME, HEADER_DEVICE, HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_CONTENT, HEADER_SIGNATURE):
        assert name in DOC
