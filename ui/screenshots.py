"""Every screen at both orientations, rendered to PNG and checked against the elderly-friendly rules.

Used by tests/test_ui_screenshots.py and by hand (``python -m ui.screenshots OUT_DIR``) to look at
the screens. The checks: no text clipped or needing more room than its widget, body text ≥ 36 px,
headings ≥ 60 px, touch targets ≥ 90 px high, and no Latin letters on a person-facing screen.
Needs a QApplication (offscreen is fine).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from camera.errors import CameraReason
from kiosk.config import KioskConfig, load_config
from kiosk.flow import FlowView, PersonView, Speak, StaffCallShown, State
from kiosk.policy import cycle_status
from kiosk.ports import Preview
from kiosk.reasons import NextStep, Outcome
from ui.catalogue import Catalogue
from ui import theme
from ui.main_window import MainWindow
from ui.widgets import text_overflow

TODAY = date(2026, 5, 20)
SAMPLE_NAME = "王*华"


def _person(last: date | None) -> PersonView:
    status = None if last is None else cycle_status(last, TODAY)
    return PersonView(display_name=SAMPLE_NAME, never_certified=last is None, status=status)


def sample_views() -> dict[str, FlowView]:
    """A representative view per state, and the variants whose texts differ most."""
    base = FlowView(State.IDLE, session_id="s1", attempts_max=3)
    views = {
        "idle": FlowView(State.IDLE),
        "idle_take_card": FlowView(State.IDLE, take_card=True),
        "reading": replace(base, state=State.READING),
        "looking_up": replace(base, state=State.LOOKING_UP, person=_person(None)),
        "status_valid": replace(base, state=State.STATUS, person=_person(date(2025, 12, 1))),
        "status_grace": replace(base, state=State.STATUS, person=_person(date(2025, 5, 10))),
        "status_overdue": replace(base, state=State.STATUS, person=_person(date(2025, 4, 22))),
        "status_suspended": replace(base, state=State.STATUS, person=_person(date(2024, 9, 1))),
        "status_never": replace(base, state=State.STATUS, person=_person(None)),
        "consent": replace(base, state=State.CONSENT, person=_person(date(2025, 12, 1))),
        "status_helper": replace(base, state=State.STATUS, person=_person(date(2025, 5, 10)), assisted=True),
        "consent_helper_offered": replace(base, state=State.CONSENT, person=_person(date(2025, 12, 1)),
                                          helper_offered=True),
        "helper_aside": replace(base, state=State.HELPER_ASIDE, attempt=1, assisted=True),
        "helper_aside_waiting": replace(base, state=State.HELPER_ASIDE, attempt=2, assisted=True,
                                        hint=CameraReason.MULTIPLE_FACES),
        "positioning_helper_offered": replace(base, state=State.POSITIONING, attempt=1, helper_offered=True,
                                              hint=CameraReason.MULTIPLE_FACES),
        "actions_helper": replace(base, state=State.ACTIONS, attempt=1, action="blink", assisted=True),
        "positioning": replace(base, state=State.POSITIONING, attempt=1, hint=CameraReason.FACE_TOO_SMALL),
        "positioning_ok": replace(base, state=State.POSITIONING, attempt=2, last_prompt=Speak("face_ok")),
        "actions": replace(base, state=State.ACTIONS, attempt=1, action="blink"),
        "actions_second": replace(base, state=State.ACTIONS, attempt=3, action="turn_left", actions_done=("blink", "mouth_open"),
                                  hint=CameraReason.MULTIPLE_FACES),
        "matching": replace(base, state=State.MATCHING, attempt=1),
        "result_certified": replace(base, state=State.RESULT, outcome=Outcome.CERTIFIED, next_step=NextStep.NONE,
                                    valid_until=date(2027, 5, 20)),
        "result_retry": replace(base, state=State.RESULT, attempt=1, outcome=Outcome.MISMATCH, next_step=NextStep.RETRY,
                                can_retry=True),
        "result_manual_offered": replace(base, state=State.RESULT, attempt=3, outcome=CameraReason.ACTION_TIMEOUT,
                                         next_step=NextStep.MANUAL_REVIEW, manual_review_offered=True, staff_called=True,
                                         staff_call=StaffCallShown.NOTIFIED),
        "result_manual_requested": replace(base, state=State.RESULT, attempt=3, outcome=Outcome.MANUAL_REVIEW_REQUESTED,
                                           next_step=NextStep.NONE),
        "result_not_in_roster": replace(base, state=State.RESULT, outcome=Outcome.NOT_IN_ROSTER, next_step=NextStep.COUNTER),
        "result_no_reference": replace(base, state=State.RESULT, outcome=Outcome.NO_REFERENCE,
                                       next_step=NextStep.STAFF_ENROLMENT),
        "result_staff_verified": replace(base, state=State.RESULT, outcome=Outcome.STAFF_VERIFIED, next_step=NextStep.NONE,
                                         valid_until=date(2027, 5, 20)),
        "status_staff_calling": replace(base, state=State.STATUS, person=_person(None), staff_call=StaffCallShown.CALLING),
        "status_staff_local": replace(base, state=State.STATUS, person=_person(None), staff_call=StaffCallShown.LOCAL),
        "status_review_approved": replace(base, state=State.STATUS,
                                          person=replace(_person(TODAY), review="approved")),
        "status_review_rejected": replace(base, state=State.STATUS,
                                          person=replace(_person(date(2025, 4, 22)), review="rejected")),
        "idle_staff_notified": FlowView(State.IDLE, staff_call=StaffCallShown.NOTIFIED, staff_called=True),
        "result_staff_coming": replace(base, state=State.RESULT, attempt=3, outcome=CameraReason.ACTION_TIMEOUT,
                                       next_step=NextStep.MANUAL_REVIEW, manual_review_offered=True,
                                       staff_call=StaffCallShown.ACKNOWLEDGED, staff_called=True),
        "result_consent_refused": replace(base, state=State.RESULT, outcome=Outcome.CONSENT_REFUSED,
                                          next_step=NextStep.COUNTER),
        "maintenance": FlowView(State.MAINTENANCE, maintenance_code=CameraReason.CAMERA_UNAVAILABLE),
        "technician": FlowView(State.TECHNICIAN),
    }
    return views


def sample_preview(width: int = 640, height: int = 480) -> Preview:
    """A synthetic camera frame (a soft gradient with a pale oval): no real face in the repository."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = (60 + 80 * x / width).astype(np.uint8)
    image[..., 1] = (70 + 60 * y / height).astype(np.uint8)
    image[..., 2] = 90
    inside = ((x - width / 2) / (width * 0.18)) ** 2 + ((y - height / 2) / (height * 0.33)) ** 2 <= 1
    image[inside] = (150, 180, 215)
    return Preview(image=image, face_box=(int(width * 0.32), int(height * 0.17), int(width * 0.36), int(height * 0.66)),
                   eye_ratio=0.29, mouth_ratio=0.05)


@dataclass(frozen=True)
class Problem:
    """One rule broken by one widget on one screen."""

    screen: str
    widget: str
    rule: str


_LATIN = re.compile(r"[A-Za-z]")


def check_widget_tree(root: QWidget, screen: str, person_facing: bool = True) -> list[Problem]:
    """Every visible label and button under ``root`` checked against the size, fit and language rules."""
    problems: list[Problem] = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or not isinstance(widget, (QLabel, QAbstractButton)):
            continue
        name = f"{type(widget).__name__}:{widget.text()[:16]!r}"
        why = text_overflow(widget)
        if why:
            problems.append(Problem(screen, name, f"text does not fit: {why}"))
        if not widget.text():
            continue
        role = widget.property("role")
        size = widget.font().pixelSize()
        minimum = theme.MIN_HEADING_PX if role == "heading" else theme.MIN_BODY_PX
        if person_facing and size < minimum:
            problems.append(Problem(screen, name, f"font {size} px < {minimum} px"))
        if person_facing and isinstance(widget, QAbstractButton) and widget.height() < theme.MIN_TOUCH_PX:
            problems.append(Problem(screen, name, f"touch target {widget.height()} px < {theme.MIN_TOUCH_PX} px"))
        if person_facing and _LATIN.search(widget.text()):
            problems.append(Problem(screen, name, "Latin letters shown to a person"))
    return problems


def check_inside_window(window: QWidget, screen: str) -> list[Problem]:
    """Every visible button lies wholly inside the window (none pushed below the screen's edge)."""
    problems: list[Problem] = []
    for button in window.findChildren(QAbstractButton):
        if not button.isVisibleTo(window) or _inside_scroll_area(button):
            continue
        bottom = button.mapTo(window, button.rect().bottomRight())
        if bottom.y() >= window.height() or bottom.x() >= window.width():
            problems.append(Problem(screen, f"button:{button.text()[:16]!r}",
                                    f"ends at {bottom.x()},{bottom.y()}, outside the {window.width()}x{window.height()} window"))
    return problems


def _inside_scroll_area(widget: QWidget) -> bool:
    from PySide6.QtWidgets import QScrollArea

    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def _render_technician_pages(window: MainWindow, out_dir: Path, orientation: str,
                             expected: tuple[int, int]) -> list[Problem]:
    """Every technician page at the window's real size; the window must not grow."""
    panel = window.technician_panel
    problems: list[Problem] = []
    for index, page in enumerate(panel.pages):
        panel.show_page(index)
        _settle_background_jobs() if index == 0 else QApplication.processEvents()
        name = f"{orientation}_technician_{page.title_key}"
        if (window.width(), window.height()) != expected:
            problems.append(Problem(name, "window", f"grew to {window.width()}x{window.height()}"))
        window.grab().save(str(out_dir / f"{name}.png"))
        problems += check_widget_tree(page, name, person_facing=False)
    panel.show_page(0)
    return problems


def _settle_background_jobs() -> None:
    """Lets the technician pages' worker threads answer (the device page runs its checks on entry)."""
    import time

    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


def render_all(out_dir: Path, config: KioskConfig | None = None) -> list[Problem]:
    """Renders every sample view at both orientations to ``out_dir/<orientation>_<name>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = config or load_config()
    catalogue = Catalogue.load()
    problems: list[Problem] = []
    for portrait in (False, True):
        window = _window(config, catalogue, portrait)
        window.screens[State.RESULT].printer_configured = True  # show the receipt button too
        window.show()
        orientation = "portrait" if portrait else "landscape"
        for name, view in sample_views().items():
            window.show_view(view)
            if view.state in (State.HELPER_ASIDE, State.POSITIONING, State.ACTIONS):
                window.on_preview(sample_preview())
            QApplication.processEvents()
            if view.state is State.TECHNICIAN:
                _settle_background_jobs()
            screen = window.screens[view.state]
            expected = (1080, 1920) if portrait else (1920, 1080)
            if (window.width(), window.height()) != expected:
                problems.append(Problem(f"{orientation}_{name}", "window",
                                        f"needs {window.width()}x{window.height()}, the screen is {expected[0]}x{expected[1]}"))
            window.grab().save(str(out_dir / f"{orientation}_{name}.png"))
            problems += check_widget_tree(screen, f"{orientation}_{name}", screen.person_facing)
            problems += check_inside_window(window, f"{orientation}_{name}")
            if view.state is State.TECHNICIAN and window.technician_panel is not None:
                problems += _render_technician_pages(window, out_dir, orientation, expected)
        window.show_view(FlowView(State.IDLE))
        window.open_pin_pad()
        QApplication.processEvents()
        window.grab().save(str(out_dir / f"{orientation}_pin_pad.png"))
        problems += check_widget_tree(window._pin_pad, f"{orientation}_pin_pad", person_facing=False)
        window.close()
        window.deleteLater()
    return problems


def _window(config: KioskConfig, catalogue: Catalogue, portrait: bool) -> MainWindow:
    """A window with a technician panel whose services are inert (no device, no database)."""
    from kiosk.doctor import Check, CheckResult, Finding, Status
    from ui.app import build_main_window
    from ui.technician.services import TechnicianServices

    def checks(_config: KioskConfig) -> list[Finding]:
        # The real doctor's checks, every one failing with a long detail and hint: the worst case
        # for the device page's height (it once grew the window to 1920x1395).
        from kiosk.doctor import all_checks

        return [Finding(check, CheckResult(Status.FAILED if index % 3 else Status.WARNING,
                                           f"{check.name}: no answer from the device or file it needs",
                                           "check the cable, the power and the path in the site configuration, "
                                           "then run the checks again"))
                for index, check in enumerate(all_checks())]

    services = TechnicianServices(config=config, site_config_path=Path("/nonexistent/site.toml"), checks=checks)
    return build_main_window(config, lambda _event: None, catalogue=catalogue, technician_services=services, portrait=portrait)


if __name__ == "__main__":
    app = QApplication.instance() or QApplication(sys.argv[:1])
    found = render_all(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
    for problem in found:
        print(problem)
    sys.exit(1 if found else 0)
