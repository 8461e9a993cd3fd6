"""The hall console's pages (server-rendered Jinja2, Chinese labels, usable at 1366x768).

``/console/hall`` shows one hall: open staff calls with their waiting time and an acknowledge button,
the terminals (online, device problems, last heartbeat, backlog), the review queue (its size for hall
staff, the list for reviewers), today's certifications and why people failed by hour. Its live part
(``/console/hall/live``) is fetched again every second by a few lines of script, so a new call
appears within 2 s; without script the page refreshes itself every 10 s. ``/console/review`` is the
reviewers' queue, ``/console/review/{record_id}`` one request with its evidence and the decision form.

Who sees what (:class:`center.console_users.Role`): hall staff only their own hall, with ID numbers
masked and no names or images; reviewers and admins every hall, and the review pages with the
person's name, ID number and the evidence images that the terminal was allowed to send.

Every POST carries the session's CSRF token; forms are parsed from the raw body (no multipart
package needed). Thread rules: route functions are plain ``def`` run in worker threads, each with
its own database session.
"""

# No `from __future__ import annotations`: FastAPI must resolve the local Annotated aliases at runtime.

import secrets
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from center import review as review_queue
from center import staff_calls
from center.center_key import cookie_secret
from center.console import web_session
from center.console.chart import failure_chart_svg
from center.console.figures import CATEGORIES, CATEGORY_LABEL, category, china_today, hall_figures, halls
from center.console_users import Role, check_sign_in, mask_id_number
from center.db import Certification, Device, StaffCall, utcnow
from center.review import occurred_at
from wire.review import Decision
from wire.roster_csv import CHINA_STANDARD_TIME

PREFIX = "/console"
TEMPLATES = Path(__file__).with_name("templates")
POLL_MS = 1000

REASON_LABEL = {"help_pressed": "按了求助", "attempts_exhausted": "三次未通过", "no_reference": "无参考照片",
                "reader_problem": "读卡器故障", "camera_problem": "摄像头故障"}
SCREEN_LABEL = {"idle": "待机", "reading": "读卡", "looking_up": "查询", "status": "认证状态", "consent": "同意书",
                "positioning": "对准人脸", "actions": "做动作", "matching": "比对中", "result": "结果",
                "maintenance": "维护", "technician": "技术员"}
ROLE_LABEL = {Role.HALL_STAFF: "大厅工作人员", Role.REVIEWER: "审核员", Role.ADMIN: "管理员"}
DECISION_LABEL = {Decision.APPROVED: "通过", Decision.REJECTED: "不通过"}
# Outcomes as a reviewer reads them; a code not listed is shown as it is.
OUTCOME_LABEL = {"certified": "已认证", "staff_verified": "工作人员认证", "manual_review_requested": "申请人工审核",
                 "liveness_failed": "活体检测未通过", "mismatch": "比对不一致", "positioning_timeout": "对准超时",
                 "session_timeout": "操作超时", "consent_refused": "未同意", "no_reference": "无参考照片"}


def _reason_label(row: Certification) -> str:
    found = category(row)
    return CATEGORY_LABEL[found] if found else ""


class ConsoleRedirect(Exception):
    """Answer with a redirect (to the sign-in page, mostly)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class ConsoleRefusal(Exception):
    """Answer with a plain page saying why (403 a role, 400 a stale form)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["cst"] = lambda moment, fmt="%H:%M:%S": _cst(moment).strftime(fmt) if moment else "—"
    env.filters["waited"] = _waited
    env.globals.update(REASON_LABEL=REASON_LABEL, SCREEN_LABEL=SCREEN_LABEL, ROLE_LABEL=ROLE_LABEL,
                       DECISION_LABEL=DECISION_LABEL, OUTCOME_LABEL=OUTCOME_LABEL, reason_label=_reason_label,
                       CATEGORIES=CATEGORIES, PREFIX=PREFIX, POLL_MS=POLL_MS)
    return env


def _cst(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(CHINA_STANDARD_TIME)


def _waited(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}分{seconds % 60:02d}秒" if seconds >= 60 else f"{seconds}秒"


def install(app: FastAPI, sessions: sessionmaker[Session], center_key: Ed25519PrivateKey,
            now: Callable[[], datetime] = utcnow) -> None:
    """Adds the console's routes and error pages to ``app``."""
    env = _environment()
    secret = cookie_secret(center_key)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def db() -> Iterator[Session]:
        with sessions() as opened:
            yield opened

    async def form(request: Request) -> dict[str, str]:
        raw = (await request.body())[:64 * 1024].decode("utf-8", "replace")
        return {name: values[-1] for name, values in parse_qs(raw, keep_blank_values=True).items()}

    def signed_in(request: Request, db_session: Annotated[Session, Depends(db)]) -> web_session.SignedIn:
        found = web_session.current(db_session, web_session.unsign(secret, request.cookies.get(web_session.SESSION_COOKIE)),
                                    now())
        if found is None:
            raise ConsoleRedirect(f"{PREFIX}/login")
        return found

    Db = Annotated[Session, Depends(db)]
    Form = Annotated[dict, Depends(form)]
    Who = Annotated[web_session.SignedIn, Depends(signed_in)]

    def page(name: str, status: int = 200, **context: object) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                                "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                                                "frame-ancestors 'none'"})

    def checked(who: web_session.SignedIn, fields: dict[str, str]) -> None:
        if not web_session.csrf_ok(who.csrf_token, fields.get("csrf")):
            raise ConsoleRefusal(400, "表单已过期，请刷新页面后重试。")

    def reviewer_only(who: web_session.SignedIn) -> None:
        if who.user.role not in (Role.REVIEWER, Role.ADMIN):
            raise ConsoleRefusal(403, "只有审核员可以查看审核队列。")

    def hall_of(who: web_session.SignedIn, asked: str | None, db_session: Session) -> str | None:
        """The hall a page shows: hall staff always their own; others the one asked for (None: all)."""
        if who.user.role == Role.HALL_STAFF:
            return who.user.hall
        return asked if asked in halls(db_session) else None

    def cookie_flags(request: Request) -> dict[str, object]:
        return {"httponly": True, "samesite": "strict", "path": PREFIX, "secure": request.url.scheme == "https"}

    @router.get("")
    @router.get("/")
    def home(who: Who) -> RedirectResponse:
        target = "review" if who.user.role == Role.REVIEWER else "hall"
        return RedirectResponse(f"{PREFIX}/{target}", status_code=303)

    @router.get("/login")
    def login_page(request: Request) -> HTMLResponse:
        nonce = web_session.unsign(secret, request.cookies.get(web_session.LOGIN_COOKIE))
        fresh = nonce is None
        nonce = nonce or secrets.token_urlsafe(16)
        response = page("login.html", login_token=nonce, error=None)
        if fresh:
            response.set_cookie(web_session.LOGIN_COOKIE, web_session.sign(secret, nonce), max_age=3600,
                                **cookie_flags(request))
        return response

    @router.post("/login")
    def login(request: Request, fields: Form, db_session: Db) -> Response:
        nonce = web_session.unsign(secret, request.cookies.get(web_session.LOGIN_COOKIE))
        if nonce is None or not web_session.csrf_ok(nonce, fields.get("login_token")):
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        user = check_sign_in(db_session, fields.get("staff_number", "").strip(), fields.get("pin", ""), now=now())
        if user is None:
            db_session.commit()  # the failure count
            return page("login.html", status=401, login_token=nonce, error="工号或密码不正确，或账号已锁定（5分钟后再试）。")
        token = web_session.start(db_session, user, now())
        db_session.commit()
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        response.set_cookie(web_session.SESSION_COOKIE, web_session.sign(secret, token),
                            max_age=int(web_session.SESSION_LIFETIME.total_seconds()), **cookie_flags(request))
        response.delete_cookie(web_session.LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    def logout(request: Request, who: Who, fields: Form, db_session: Db) -> RedirectResponse:
        checked(who, fields)
        web_session.end(db_session, web_session.unsign(secret, request.cookies.get(web_session.SESSION_COOKIE)))
        db_session.commit()
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(web_session.SESSION_COOKIE, path=PREFIX)
        return response

    def hall_context(who: web_session.SignedIn, hall: str | None, db_session: Session) -> dict[str, object]:
        moment = now()
        figures = hall_figures(db_session, hall, moment)
        calls = staff_calls.open_calls(db_session, hall)
        names = {device.device_id: device.name for device in db_session.query(Device)}
        pending = review_queue.pending(db_session)
        hall_devices = {view.device_id for view in figures.terminals}
        if hall is not None:
            pending = [row for row in pending if row.device_id in hall_devices]
        return {"who": who, "hall": hall, "figures": figures, "names": names, "now": moment,
                "calls": [(call, (moment - staff_calls.as_utc(call.received_at)).total_seconds()) for call in calls],
                "pending": pending, "occurred_at": occurred_at, "mask": mask_id_number,
                "chart": Markup(failure_chart_svg(figures.failures_by_hour)), "today": china_today(moment)}

    @router.get("/hall")
    def hall_page(who: Who, db_session: Db, hall: str | None = None) -> HTMLResponse:
        shown = hall_of(who, hall, db_session)
        return page("hall.html", halls=halls(db_session), **hall_context(who, shown, db_session))

    @router.get("/hall/live")
    def hall_live(who: Who, db_session: Db, hall: str | None = None) -> HTMLResponse:
        return page("_live.html", **hall_context(who, hall_of(who, hall, db_session), db_session))

    @router.post("/calls/{call_id}/ack")
    def acknowledge(call_id: str, who: Who, fields: Form, db_session: Db) -> RedirectResponse:
        checked(who, fields)
        call = db_session.get(StaffCall, call_id)
        if call is None or (who.user.role == Role.HALL_STAFF and call.hall != who.user.hall):
            raise ConsoleRefusal(404, "没有这个呼叫。")
        staff_calls.acknowledge(call, staff_number=who.user.staff_number, at=now(), via=staff_calls.VIA_CONSOLE)
        db_session.commit()
        back = fields.get("hall") or ""
        return RedirectResponse(f"{PREFIX}/hall" + (f"?hall={quote(back)}" if back else ""), status_code=303)

    @router.get("/review")
    def review_page(who: Who, db_session: Db) -> HTMLResponse:
        reviewer_only(who)
        devices = {device.device_id: device for device in db_session.query(Device)}
        return page("review.html", who=who, pending=review_queue.pending(db_session),
                    decided=review_queue.decided(db_session, 20), devices=devices, occurred_at=occurred_at,
                    halls=halls(db_session), hall=None)

    @router.get("/review/{record_id}")
    def review_detail(record_id: str, who: Who, db_session: Db) -> HTMLResponse:
        reviewer_only(who)
        try:
            found = review_queue.case(db_session, record_id)
        except review_queue.ReviewError as exc:
            raise ConsoleRefusal(404, "没有这个审核申请。") from exc
        device = db_session.get(Device, found.request.device_id)
        return page("review_detail.html", who=who, case=found, device=device, occurred_at=occurred_at,
                    error=None, halls=halls(db_session), hall=None)

    @router.get("/review/{record_id}/image/{image_record_id}")
    def review_image(record_id: str, image_record_id: str, who: Who, db_session: Db) -> Response:
        reviewer_only(who)
        try:
            found = review_queue.case(db_session, record_id)
        except review_queue.ReviewError:
            raise ConsoleRefusal(404, "没有这张照片。") from None
        rows = [found.request, *found.attempts]
        image = next((row.face_image for row in rows if row.record_id == image_record_id and row.face_image), None)
        if image is None:
            raise ConsoleRefusal(404, "没有这张照片。")
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.post("/review/{record_id}/decide")
    def decide(record_id: str, who: Who, fields: Form, db_session: Db) -> Response:
        reviewer_only(who)
        checked(who, fields)
        try:
            review_queue.decide(db_session, center_key, record_id, fields.get("decision", ""),
                                fields.get("reason", ""), who.user.staff_number, now=now())
        except review_queue.ReviewError as exc:
            db_session.rollback()
            messages = {"review_invalid": "请选择通过或不通过，并填写理由（1-200字）。",
                        "review_already_decided": "这个申请已经有审核结果。",
                        "review_not_found": "没有这个审核申请。"}
            found = review_queue.case(db_session, record_id) if exc.code != "review_not_found" else None
            if found is None:
                raise ConsoleRefusal(404, messages[exc.code]) from None
            device = db_session.get(Device, found.request.device_id)
            return page("review_detail.html", status=400, who=who, case=found, device=device, occurred_at=occurred_at,
                        error=messages.get(exc.code, exc.message), halls=halls(db_session), hall=None)
        return RedirectResponse(f"{PREFIX}/review", status_code=303)

    app.include_router(router)

    @app.exception_handler(ConsoleRedirect)
    async def _redirect(_request: Request, exc: ConsoleRedirect) -> RedirectResponse:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(ConsoleRefusal)
    async def _refused(_request: Request, exc: ConsoleRefusal) -> HTMLResponse:
        return page("refused.html", status=exc.status, message=exc.message)
