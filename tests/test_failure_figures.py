"""Today's failure figures by reason and hour (issue 17, item 6): from the store, and on the
technician page as words and a chart (screenshot to ``KIOSK_SHOTS`` when set)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

from PySide6.QtWidgets import QApplication
from sqlite_utils import Database

from conftest import wait_until
from kiosk.clock import CHINA_STANDARD_TIME, FakeClock
from kiosk.config import load_config
from kiosk.store import CertificationRecord, DeviceKey, Store
from ui.catalogue import Catalogue
from ui.technician.pages_admin import TodayPage
from ui.technician.services import TechnicianServices

DAY = date(2026, 5, 20)


def attempt(hour: int, outcome: str, reason: str | None = None, minute: int = 0, day: date = DAY, **extra) -> CertificationRecord:
    return CertificationRecord(session_id="s", occurred_at=datetime(day.year, day.month, day.day, hour, minute,
                                                                    tzinfo=CHINA_STANDARD_TIME),
                               device_id="d", region_code="110101", id_number="11010519491231002X", outcome=outcome,
                               reason_code=reason, **extra)


def fill(store: Store) -> None:
    for record in [
        attempt(9, "certified"), attempt(9, "liveness_failed", "too_dark"), attempt(9, "liveness_failed", "no_face"),
        attempt(15, "liveness_failed", "too_dark"), attempt(15, "liveness_failed", "too_dark", minute=30),
        attempt(15, "mismatch", "mismatch"), attempt(16, "manual_review_requested", "manual_review_requested"),
        attempt(16, "staff_verified", staff_number="S-1", staff_reason="cannot_do_actions"),
        attempt(23, "liveness_failed", "spoof_detected", minute=59),
        attempt(9, "liveness_failed", "too_dark", day=DAY - timedelta(days=1)),  # yesterday: not today
    ]:
        store.record_attempt(record)


def test_failures_are_counted_by_reason_and_local_hour() -> None:
    with Store(Database(memory=True), clock=FakeClock(), key=DeviceKey.generate()) as store:
        fill(store)
        figures = store.failure_figures(DAY)
    assert figures.by_reason == {"too_dark": 3, "no_face": 1, "mismatch": 1, "spoof_detected": 1}
    assert figures.by_hour == {9: {"too_dark": 1, "no_face": 1}, 15: {"too_dark": 2, "mismatch": 1},
                               23: {"spoof_detected": 1}}  # the hall's hour, not UTC
    assert figures.total == 6  # certifications, staff certifications and review requests are no failures


def test_the_technician_page_shows_the_figures(qapp: QApplication, data_dir: Path) -> None:
    config = load_config()
    clock = FakeClock()
    with Store.from_config(config, clock) as store:
        fill(store)
        for model in ("sface", "sface", "dlib"):  # the session's audit line per face check (issue 15)
            store.audit("s", "match_model", model, {"matched": True})
    services = TechnicianServices(config=config, site_config_path=data_dir / "site.toml",
                                  store_factory=lambda: Store.from_config(config, clock))
    page = TodayPage(Catalogue.load(), services, lambda: DAY)
    page.resize(1500, 1000)
    page.show()
    page.entered()
    wait_until(qapp, lambda: "6" in page.summary.text())
    assert "工作人员当面认证 1" in page.summary.text() and "认证成功 1" in page.summary.text()
    assert "人脸比对模型 dlib 1、sface 2" in page.summary.text()  # which model decided
    words, count = page.chart.legend()[0]
    assert count == 3 and words != "too_dark"  # in words, not the code
    assert page.hours.text().startswith("9 点") and "15 点" in page.hours.text()
    QApplication.processEvents()  # the labels' new heights reach the layout
    folder = os.environ.get("KIOSK_SHOTS")
    if folder:
        page.grab().save(str(Path(folder) / "technician_today_failures.png"))
    page.close()
