"""Every screen at both orientations rendered to PNG and checked: text fits, sizes, contrast, no English.

PNGs go to $KIOSK_SCREENSHOT_DIR when set (to look at them), else to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from kiosk.flow import State
from ui import theme
from ui.screens import SCREEN_CLASSES
from ui.screenshots import check_widget_tree, render_all, sample_views


def test_every_state_has_a_screen_and_a_sample() -> None:
    assert set(SCREEN_CLASSES) == set(State)
    assert {view.state for view in sample_views().values()} == set(State)


@pytest.mark.parametrize(("name", "foreground", "background"), [(n, f, b) for n, f, b in theme.TEXT_PAIRS])
def test_text_colours_keep_contrast_7_to_1(name: str, foreground: str, background: str) -> None:
    assert theme.contrast_ratio(foreground, background) >= theme.MIN_CONTRAST, name


def test_sizes_meet_the_elderly_rules() -> None:
    for m in (theme.LANDSCAPE, theme.PORTRAIT):
        assert m.body_px >= theme.MIN_BODY_PX and m.heading_px >= theme.MIN_HEADING_PX
        assert m.min_touch_px >= theme.MIN_TOUCH_PX


def test_the_cjk_font_is_installed(qapp: QApplication) -> None:
    assert theme.cjk_font_available(), "Debian fonts-noto-cjk is needed for the kiosk's text"


def test_all_screens_render_and_fit(qapp: QApplication, tmp_path: Path) -> None:
    out = Path(os.environ.get("KIOSK_SCREENSHOT_DIR") or tmp_path)
    problems = render_all(out)
    assert not problems, "\n".join(f"{p.screen}: {p.widget}: {p.rule}" for p in problems)
    pngs = sorted(out.glob("*.png"))
    # every view, the PIN pad and every technician page (at the window's real size), both orientations
    assert len(pngs) == 2 * (len(sample_views()) + 1 + TECHNICIAN_PAGES)
    assert (out / "landscape_technician_page_devices.png").is_file()
    assert all(path.stat().st_size > 5000 for path in pngs)


TECHNICIAN_PAGES = 10


def test_a_page_taller_than_the_screen_is_reported(qapp: QApplication) -> None:
    """The window-size rule works: a window that grew past the screen puts its buttons outside it."""
    from PySide6.QtWidgets import QPushButton, QWidget

    from ui.screenshots import check_inside_window

    window = QWidget()
    window.setFixedSize(400, 300)
    QPushButton("开始认证", window).setGeometry(10, 280, 200, 60)  # as if the page above had grown
    window.show()
    qapp.processEvents()
    assert [p.rule for p in check_inside_window(window, "planted")][0].startswith("ends at")
    window.close()


def test_the_checker_catches_clipped_small_and_english_text(qapp: QApplication) -> None:
    """The rules themselves work: a planted bad label is reported three times."""
    from PySide6.QtWidgets import QWidget

    root = QWidget()
    label = QLabel("这是一段很长很长的文字 English", root)
    label.setFont(theme.font(20))
    label.setGeometry(0, 0, 60, 20)
    root.show()
    rules = " ".join(problem.rule for problem in check_widget_tree(root, "planted"))
    assert "does not fit" in rules and "font 20 px" in rules and "Latin" in rules


def test_every_reason_and_next_step_fits_the_result_screen(qapp: QApplication) -> None:
    """Not just the samples: each reason text of the catalogue, with each kind of next step."""
    from dataclasses import replace

    from kiosk.config import load_config
    from kiosk.flow import FlowView
    from kiosk.reasons import NextStep
    from ui.catalogue import Catalogue
    from ui.main_window import MainWindow

    catalogue = Catalogue.load()
    problems = []
    for portrait in (False, True):
        window = MainWindow(load_config(), catalogue, post=lambda _e: None, portrait=portrait)
        window.show()
        base = FlowView(State.RESULT, session_id="s", attempt=1, attempts_max=3)
        steps = list(NextStep)
        for index, code in enumerate(catalogue.keys("reason")):
            step = steps[index % len(steps)]
            view = replace(base, outcome=code, next_step=step, can_retry=step is NextStep.RETRY,
                           manual_review_offered=step is NextStep.MANUAL_REVIEW)
            window.show_view(view)
            QApplication.processEvents()
            problems += check_widget_tree(window.screens[State.RESULT], f"{portrait}:{code}")
        window.close()
    assert not problems, "\n".join(f"{p.screen}: {p.widget}: {p.rule}" for p in problems)


def test_the_result_screen_says_the_configured_number_of_attempts(qapp: QApplication) -> None:
    from kiosk.config import load_config
    from kiosk.flow import FlowView
    from kiosk.reasons import NextStep
    from ui.catalogue import Catalogue
    from ui.main_window import MainWindow

    window = MainWindow(load_config(), Catalogue.load(), post=lambda _e: None)
    window.show_view(FlowView(State.RESULT, session_id="s", attempt=5, attempts_max=5, outcome="mismatch",
                              next_step=NextStep.MANUAL_REVIEW, manual_review_offered=True))
    text = window.screens[State.RESULT].attempts.text()
    assert text.startswith("5 次都没有成功") and "三" not in text


def test_consent_says_where_the_photo_goes_as_configured(qapp: QApplication, monkeypatch) -> None:
    from kiosk.config import load_config
    from ui.catalogue import Catalogue
    from ui.main_window import MainWindow

    catalogue = Catalogue.load()
    local = MainWindow(load_config(), catalogue, post=lambda _e: None)
    assert local.screens[State.CONSENT].storage.text() == catalogue.text("screen.consent", "kept_local")
    monkeypatch.setenv("KIOSK__SYNC__SEND_FACE_IMAGES", "true")
    sent = MainWindow(load_config(), catalogue, post=lambda _e: None)
    assert sent.screens[State.CONSENT].storage.text() == catalogue.text("screen.consent", "sent_to_center")


def _primary_buttons(screen) -> list[str]:
    from ui.widgets import BigButton

    return [b.text() for b in screen.findChildren(BigButton)
            if b.isVisibleTo(screen) and b.property("kind") not in ("outline", "quiet")]


def test_each_decision_screen_has_one_primary_button_and_refusal_is_not_a_failure(qapp: QApplication) -> None:
    from kiosk.config import load_config
    from ui.catalogue import Catalogue
    from ui.screenshots import _window

    window = _window(load_config(), Catalogue.load(), False)
    window.show()
    views = sample_views()
    for name in ("status_valid", "consent", "result_certified", "result_retry", "result_manual_offered",
                 "result_not_in_roster", "result_consent_refused"):
        window.show_view(views[name])
        qapp.processEvents()
        screen = window.screens[views[name].state]
        assert len(_primary_buttons(screen)) == 1, (name, _primary_buttons(screen))
    window.show_view(views["result_consent_refused"])
    qapp.processEvents()
    assert theme.RED not in window.screens[State.RESULT].band.styleSheet()
    window.close()
