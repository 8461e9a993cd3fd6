"""`kiosk-center loadtest`: simulated terminals with real signatures against `serve --workers 2`, on
SQLite and PostgreSQL; afterwards nothing lost, nothing doubled. No timing is asserted (figures only)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from center.cli import cli
from center.db import Certification, make_engine, session_factory
from center.loadtest import Tally, provision, verify
from center.provincial_roster import generate_synthetic


@pytest.mark.slow
def test_twenty_terminals_with_resends_and_duplicates_lose_and_double_nothing(centre_db: str) -> None:
    with session_factory(make_engine(centre_db))() as session:
        generate_synthetic(session, 300, seed=3)
    result = CliRunner().invoke(cli, ["loadtest", "--db", centre_db, "--workers", "2", "--terminals", "20",
                                      "--rounds", "3", "--resend-rate", "0.5", "--duplicates", "2",
                                      "--roster-pages", "2", "--page-size", "50", "--ramp-s", "1", "--think-s", "0.2", "--duration-s", "60",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["lost"], report["doubled"], report["unsent"]) == (0, 0, 0)
    assert (report["rejected"], report["unexpected"], report["altered"], report["audit_findings"]) == (0, 0, 0, 0)
    assert report["records_created"] == report["records_stored"] == 20 * 3 * 5, report["failures"]
    assert report["duplicate_answers"] > 0  # the resend and repeat paths were exercised
    assert report["roster_pages"] > 0 and report["latency"]["heartbeat"]["count"] == 60
    assert report["centre_rss_mb"] and all(value > 0 for value in report["centre_rss_mb"].values())


def test_the_check_counts_a_lost_and_a_doubled_record(centre_db: str) -> None:
    """verify() can fail: an acknowledged record missing from the database is lost, a record the
    centre called new twice is doubled."""
    sessions = session_factory(make_engine(centre_db))
    terminal = provision(sessions, 1, "check")[0]
    from datetime import datetime, timezone

    with sessions() as session:
        session.add(Certification(record_id="kept", device_id=terminal.device_id, key_id="k", id_number=None,
                                  occurred_at=datetime.now(timezone.utc), outcome="certified", reason_code="",
                                  content_digest="d", record={}))
        session.commit()
    tally = Tally(created={"kept": "d", "gone": "e", "waiting": "f"}, acknowledged={"kept", "gone"})
    tally.accepted.update({"kept": 2})
    checks = verify(sessions, "check", tally)
    assert (checks["lost"], checks["doubled"], checks["unsent"], checks["records_stored"]) == (1, 1, 1, 1)
