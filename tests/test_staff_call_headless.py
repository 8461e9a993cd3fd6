"""The done-when of issue 17 on the terminal's side: a headless terminal run that ends in three
failures raises a staff call that reaches a centre over real HTTP on loopback at once (the screen
says staff were told only then), stores the three failed attempts and the review request for the
next sync. Real simulator, real clip, real FaceMesh, real dlib; a minimal fake centre for the
staff-call endpoints (the real ones are hall-center's, wired in at merge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from centre_harness import enrolled_credentials
from kiosk.clock import SystemClock
from kiosk.config import load_config
from kiosk.store import Store
from kiosk.sync.credentials import new_credentials, save_credentials
from test_certify_headless import GENUINE, PROMPTS, certify, import_roster, terminal  # noqa: F401 - fixture
from test_staff_calls import MiniCentre, mini_centre  # noqa: F401 - fixture


def test_three_failures_call_staff_over_http_and_request_review(
        terminal: dict, mini_centre: MiniCentre, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    save_credentials(data_dir, enrolled_credentials(mini_centre.url, "KIOSK-1"))
    import_roster(terminal, "other.png")  # another person's reference: every attempt is a mismatch
    status, result = certify(terminal, GENUINE, [*PROMPTS, "--all-attempts", "--request-review"], capsys)
    assert status == 3
    assert result["outcome"] == "manual_review_requested" and result["attempt"] == 3
    assert result["staff_call"] == "notified", "the centre answered: the screen may say staff were told"
    assert "staff_called" in result["prompts"] and "staff_call_local" not in result["prompts"]
    (call,) = mini_centre.calls.values()
    assert call["reason"] == "attempts_exhausted" and call["status"] == "open"
    config = load_config()
    with Store.from_config(config, SystemClock()) as store:
        outcomes = [store.get_record(record_id).outcome for record_id in result["records"]]
        assert outcomes == ["mismatch", "mismatch", "mismatch", "manual_review_requested"]
        assert store.outbox_counts()["pending"] == 4  # the review request goes with the next sync
        (stored,) = store.staff_calls()
        assert stored.state == "open" and stored.delivered_at is not None


def test_offline_the_three_failures_say_what_to_do_instead(
        terminal: dict, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    import_roster(terminal, "other.png")  # not enrolled with any centre
    status, result = certify(terminal, GENUINE, [*PROMPTS, "--all-attempts"], capsys)
    assert status == 3 and result["outcome"] == "mismatch" and result["attempt"] == 3
    assert result["staff_call"] == "local"
    assert "staff_call_local" in result["prompts"] and "staff_called" not in result["prompts"]
    with Store.from_config(load_config(), SystemClock()) as store:
        (stored,) = store.staff_calls()
        assert stored.state == "pending" and stored.last_error == "sync_not_enrolled"
