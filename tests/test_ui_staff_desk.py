"""The staff desk at the terminal (issue 17, item 2), offscreen: the hold gesture opens it, a staff
member signs in with their own PIN (acknowledging the calls), checks the person and certifies them
face to face, with a photo only with consent. Screenshots of its pages go to ``KIOSK_SHOTS`` (a
folder) when that is set, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from conftest import wait_until
from kiosk.clock import FakeClock
from kiosk.config import load_config
from kiosk.flow import FlowView, PersonView, StaffSignedIn, StaffVerified, State
from kiosk.staff_accounts import add_staff_account
from kiosk.store import Store
from ui.app import build_main_window
from ui.screenshots import check_widget_tree, sample_preview
from ui.staff_desk import StaffDesk
from ui.technician.services import TechnicianServices
from wire.codes import StaffVerifiedReason

PIN = "4826"
STATUS = FlowView(State.STATUS, session_id="s1", person=PersonView("王*华", True, None))


class Camera:
    def __init__(self) -> None:
        self.on = False

    def start(self, sink) -> None:
        self.on = True
        sink(sample_preview())

    def stop(self) -> None:
        self.on = False


@pytest.fixture
def setup(qapp: QApplication, data_dir: Path):
    config = load_config()
    clock = FakeClock()
    with Store.from_config(config, clock) as store:
        add_staff_account(store, "S-001", "王芳", PIN, {"verifier"})
        add_staff_account(store, "T-001", "李明", "5937", {"technician"})
    camera = Camera()
    services = TechnicianServices(config=config, site_config_path=data_dir / "site.toml",
                                  store_factory=lambda: Store.from_config(config, clock),
                                  start_preview=camera.start, stop_preview=camera.stop)
    posted: list = []
    window = build_main_window(config, posted.append, clock=clock, technician_services=services)
    qapp.installEventFilter(window)
    window.show()
    yield window, posted, camera
    qapp.removeEventFilter(window)
    window.close()


def shot(window, name: str) -> None:
    folder = os.environ.get("KIOSK_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(folder) / f"staff_desk_{name}.png"))


def sign_in(window, qapp) -> StaffDesk:
    window.open_staff_desk()
    desk = window._staff_desk
    assert isinstance(desk, StaffDesk) and desk.isVisible()
    names = [b.objectName() for b in desk.findChildren(type(desk.cancel)) if b.objectName().startswith("staff_account_")]
    assert names == ["staff_account_S-001"], "only active verifiers are offered"
    shot(window, "who")
    assert not check_widget_tree(desk, "staff_desk_who", person_facing=False)
    desk.choose(window.staff_sign_in.accounts()[0])
    for key in [*PIN, "ok"]:
        desk.press(key)
    return desk


def test_holding_the_top_right_corner_opens_the_desk(setup, qapp) -> None:
    window, _posted, _camera = setup
    window.show_view(STATUS)
    handle = window.windowHandle()
    corner = QPoint(window.width() - 20, 20)
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, pos=corner)
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=corner)  # a tap is not the gesture
    QApplication.processEvents()
    assert window._staff_desk is None and not window._hold.isActive()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, pos=corner)
    assert window._hold.isActive()
    window._hold.timeout.emit()  # the 2 s hold, without waiting for it
    assert window._staff_desk is not None
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=corner)


def test_a_wrong_pin_is_refused_and_the_right_one_acknowledges_calls(setup, qapp) -> None:
    window, posted, _camera = setup
    window.show_view(FlowView(State.IDLE))
    window.open_staff_desk()
    desk = window._staff_desk
    desk.choose(window.staff_sign_in.accounts()[0])
    for key in ["9", "9", "9", "1", "ok"]:
        desk.press(key)
    assert "还可以输入" in desk.message.text() and not posted
    shot(window, "pin_wrong")
    for key in [*PIN, "ok"]:
        desk.press(key)
    assert posted == [StaffSignedIn("S-001")]
    assert "呼叫已确认" in desk.message.text()  # no person here: only the calls
    shot(window, "signed_in")
    desk.cancel.click()
    assert window._staff_desk is None


def test_face_to_face_without_consent_posts_no_photo(setup, qapp) -> None:
    window, posted, camera = setup
    window.show_view(STATUS)
    desk = sign_in(window, qapp)
    assert posted == [StaffSignedIn("S-001")] and "王*华" in desk.message.text()
    assert not desk.confirm.isEnabled()
    desk.pick_reason("cannot_do_actions")
    assert not desk.confirm.isEnabled()  # consent not asked yet
    desk.set_consent(False)
    shot(window, "check_no_consent")
    assert not check_widget_tree(desk, "staff_desk_check", person_facing=False)
    assert desk.confirm.isEnabled() and not camera.on
    desk.confirm.click()
    assert posted[-1] == StaffVerified("S-001", "cannot_do_actions")
    assert posted[-1].photo_jpeg is None and window._staff_desk is None


def test_face_to_face_with_consent_takes_a_photo(setup, qapp) -> None:
    window, posted, camera = setup
    window.show_view(STATUS)
    desk = sign_in(window, qapp)
    desk.pick_reason("no_reference")
    desk.set_consent(True)
    assert camera.on
    wait_until(qapp, lambda: desk._last_frame is not None)
    shot(window, "check_camera")
    assert not desk.confirm.isEnabled()  # the photo first
    desk.capture()
    assert not camera.on and desk.photo_jpeg.startswith(b"\xff\xd8")
    desk.confirm.click()
    assert isinstance(posted[-1], StaffVerified) and posted[-1].photo_jpeg.startswith(b"\xff\xd8")


def test_the_desk_closes_and_forgets_when_the_person_leaves(setup, qapp) -> None:
    window, _posted, camera = setup
    window.show_view(STATUS)
    desk = sign_in(window, qapp)
    desk.set_consent(True)
    window.show_view(FlowView(State.IDLE))
    assert window._staff_desk is None and not camera.on and desk.photo_jpeg is None


@pytest.mark.parametrize("reason", list(StaffVerifiedReason))
def test_every_staff_reason_has_words(reason) -> None:
    from ui.catalogue import Catalogue

    assert Catalogue.load().has("staff", f"reason_{reason}")
