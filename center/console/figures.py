"""What the hall console shows, computed from the database: terminals, today's certifications, and
why people failed by hour.

Failure categories are what staff can act on in the hall (light, camera height, a word to people
with glasses), not a judgement of the person: each record's reason code (or, without one, its
outcome) is put in one category by :data:`CATEGORY_OF`; a code in none is not a face-check failure
(a card not read, a person not in the roster) and is not counted. "Today" and hours are China
Standard Time.

Thread rules: functions take a session owned by the calling thread; they only read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from camera.errors import CameraReason
from camera.matching.errors import MatchReason
from center.console_users import mask_id_number
from center.db import Certification, Device, ReviewDecisionRow
from center.review import occurred_at
from wire.review import CERTIFYING_OUTCOMES, Decision, RecordOutcome
from wire.roster_csv import CHINA_STANDARD_TIME

# (key, Chinese label, bar colour), in the chart's stacking order.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("no_face", "未检测到人脸", "#5b8ff9"),
    ("too_dark", "光线太暗/逆光", "#f6bd16"),
    ("glasses", "眼镜遮挡", "#9270ca"),
    ("turned_away", "侧脸/未正对", "#5ad8a6"),
    ("too_slow", "动作超时", "#ff9d4d"),
    ("mismatch", "比对不一致", "#e8684a"),
    ("attack", "疑似攻击", "#6c3483"),
)
CATEGORY_LABEL = {key: label for key, label, _colour in CATEGORIES}

CATEGORY_OF: dict[str, str] = {
    CameraReason.NO_FACE: "no_face", CameraReason.FACE_LOST: "no_face", CameraReason.FACE_TOO_SMALL: "no_face",
    CameraReason.FACE_TOO_CLOSE: "no_face", CameraReason.MULTIPLE_FACES: "no_face", CameraReason.BLURRED: "no_face",
    MatchReason.NO_USABLE_FACE: "no_face",
    CameraReason.TOO_DARK: "too_dark", CameraReason.BACKLIT: "too_dark", CameraReason.TOO_BRIGHT: "too_dark",
    CameraReason.EYES_NOT_VISIBLE: "glasses",
    CameraReason.TURNED_AWAY: "turned_away", CameraReason.OFF_CENTRE: "turned_away",
    CameraReason.ACTION_TIMEOUT: "too_slow", CameraReason.POSITIONING_TIMEOUT: "too_slow",
    MatchReason.MISMATCH: "mismatch",
    CameraReason.SPOOF_DETECTED: "attack", CameraReason.FACE_CHANGED: "attack",
}

# A terminal that has not been heard from for this long is shown offline (it syncs every minute or so).
ONLINE_WITHIN = timedelta(minutes=5)
# Records are looked for among those received this long ago or later (today's, with late syncs).
_RECENT = timedelta(hours=36)


def china_today(now: datetime) -> date:
    """Today's date in China Standard Time."""
    return now.astimezone(CHINA_STANDARD_TIME).date()


def category(record: Certification) -> str | None:
    """The failure category of a record, or None when it is no face-check failure."""
    if record.outcome in CERTIFYING_OUTCOMES:
        return None
    return CATEGORY_OF.get(record.reason_code or "") or CATEGORY_OF.get(record.outcome)


@dataclass
class TerminalView:
    """One terminal as the console shows it (no personal data)."""

    device_id: str
    name: str
    hall: str | None
    online: bool
    disabled: bool
    last_seen: datetime | None
    backlog: int | None
    rejected: int | None
    checks: int = 0  # device checks in the last heartbeat
    problems: list[str] = field(default_factory=list)  # those not "ok", as "check: state"


@dataclass
class CertificationView:
    """One certification of today (the ID number masked)."""

    at: datetime
    device_id: str
    how: str  # 自助认证 / 工作人员认证 / 审核通过
    id_number: str
    staff_number: str | None = None


@dataclass
class HallFigures:
    """Everything the hall page shows below the calls."""

    terminals: list[TerminalView]
    certifications: list[CertificationView]
    failures_by_hour: dict[int, Counter[str]]
    failures_total: Counter[str]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def devices_of(session: Session, hall: str | None) -> list[Device]:
    """Terminals of one hall (None: all), by id."""
    query = select(Device).order_by(Device.device_id)
    if hall is not None:
        query = query.where(Device.hall == hall)
    return list(session.scalars(query))


def halls(session: Session) -> list[str]:
    """Every hall that has a terminal."""
    return sorted({row for row in session.scalars(select(Device.hall)) if row})


def terminal_views(devices: list[Device], now: datetime) -> list[TerminalView]:
    """The terminals as shown."""
    views = []
    for device in devices:
        health = device.last_health or {}
        last_seen = _utc(device.last_seen_at)
        views.append(TerminalView(
            device_id=device.device_id, name=device.name, hall=device.hall, disabled=device.disabled,
            online=last_seen is not None and now - last_seen <= ONLINE_WITHIN and not device.disabled,
            last_seen=last_seen, backlog=health.get("pending"), rejected=health.get("rejected"),
            checks=len(health.get("checks") or {}),
            problems=sorted(f"{check}: {state}" for check, state in (health.get("checks") or {}).items() if state != "ok")))
    return views


def hall_figures(session: Session, hall: str | None, now: datetime) -> HallFigures:
    """Today's figures of one hall (None: every hall)."""
    devices = devices_of(session, hall)
    ids = [device.device_id for device in devices]
    today = china_today(now)
    rows = [row for row in session.scalars(select(Certification).where(Certification.device_id.in_(ids),
                                                                       Certification.received_at >= now - _RECENT))
            if china_today(occurred_at(row)) == today]
    certifications = [CertificationView(at=occurred_at(row), device_id=row.device_id,
                                        how="工作人员认证" if row.outcome == RecordOutcome.STAFF_VERIFIED else "自助认证",
                                        id_number=mask_id_number(row.id_number),
                                        staff_number=row.record.get("staff_number"))
                      for row in rows if row.outcome in CERTIFYING_OUTCOMES]
    approvals = session.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.decision == Decision.APPROVED,
                                                                 ReviewDecisionRow.decided_at >= now - _RECENT))
    for approval in approvals:
        request = session.get(Certification, approval.record_id)
        decided_at = _utc(approval.decided_at)
        if request is not None and request.device_id in ids and decided_at and china_today(decided_at) == today:
            certifications.append(CertificationView(at=decided_at, device_id=request.device_id, how="审核通过",
                                                    id_number=mask_id_number(request.id_number),
                                                    staff_number=approval.reviewer))
    certifications.sort(key=lambda view: view.at, reverse=True)
    by_hour: dict[int, Counter[str]] = {}
    total: Counter[str] = Counter()
    for row in rows:
        found = category(row)
        if found is not None:
            hour = occurred_at(row).astimezone(CHINA_STANDARD_TIME).hour
            by_hour.setdefault(hour, Counter())[found] += 1
            total[found] += 1
    return HallFigures(terminals=terminal_views(devices, now), certifications=certifications,
                       failures_by_hour=by_hour, failures_total=total)
