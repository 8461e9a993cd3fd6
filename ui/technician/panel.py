"""The technician panel: page buttons on the left, the page on the right, "leave" always visible.

Shown in the flow's TECHNICIAN state (entered with the hidden gesture and the PIN). Left
automatically after ``technician.idle_timeout_s`` without a touch. Entering, leaving, the idle
timeout and every page action are audited. Leaving clears every page (no card read, no photo, no
template stays behind). Thread rule: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QBoxLayout, QFrame, QGridLayout, QScrollArea, QStackedWidget, QWidget

from kiosk.clock import Clock, today
from kiosk.config import KioskConfig
from kiosk.ports import Preview
from ui.catalogue import Catalogue
from ui.camera_view import PreviewMailbox
from ui.technician.pages_admin import LogsPage, SettingsPage, SyncPage, SystemPage, TodayPage
from ui.technician.pages_staff import StaffPage
from ui.technician.pages_device import CameraPage, DevicesPage, EnrolPage, Page, ReaderPage, tech_button
from ui.technician.services import TechnicianServices


class TechnicianPanel(QWidget):
    """All technician pages. ``leave`` is called to ask the flow to leave the mode."""

    def __init__(self, config: KioskConfig, catalogue: Catalogue, services: TechnicianServices, clock: Clock,
                 leave: Callable[[], None]) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.services = services
        self._leave = leave
        self.active = False
        self.pages: list[Page] = [
            DevicesPage(catalogue, services), CameraPage(catalogue, services), ReaderPage(catalogue, services),
            SettingsPage(catalogue, services), SyncPage(catalogue, services),
            TodayPage(catalogue, services, lambda: today(clock)), EnrolPage(catalogue, services),
            LogsPage(catalogue, services, clock.now), SystemPage(catalogue, services), StaffPage(catalogue, services),
        ]
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._nav = QGridLayout()
        self.stack = QStackedWidget(self)
        self.nav_buttons = []
        for index, page in enumerate(self.pages):
            button = tech_button(catalogue.text("technician", page.title_key), kind="outline")
            button.clicked.connect(lambda _=False, i=index: self.show_page(i))
            self.nav_buttons.append(button)
            self.stack.addWidget(_scrolling(page))
        self.leave_button = tech_button(catalogue.text("technician", "leave"), kind="failure")
        self.leave_button.clicked.connect(lambda: self.leave("left"))
        self.nav_buttons.append(self.leave_button)
        self._layout.addLayout(self._nav, 1)
        self._layout.addWidget(self.stack, 4)
        self.set_orientation(config.ui.orientation == "portrait")
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(int(config.technician.idle_timeout_s * 1000))
        self._idle.timeout.connect(lambda: self.leave("idle_timeout"))
        self._previews = PreviewMailbox(self._draw_preview, self)
        for page in self.pages:
            page.preview_target = self.on_preview

    def on_preview(self, preview: Preview) -> None:
        """Thread-safe sink for camera frames; frames faster than painting are dropped (newest wins)."""
        self._previews.put(preview)

    def _draw_preview(self, preview: Preview) -> None:
        if self.active:
            self.set_preview(preview)

    def set_orientation(self, portrait: bool) -> None:
        """Landscape: page buttons in two columns on the left; portrait: a grid of four columns above the page."""
        self._layout.setDirection(QBoxLayout.Direction.TopToBottom if portrait else QBoxLayout.Direction.LeftToRight)
        for button in self.nav_buttons:
            self._nav.removeWidget(button)
        columns = 4 if portrait else 2
        for index, button in enumerate(self.nav_buttons):
            self._nav.addWidget(button, index // columns, index % columns)

    @property
    def current(self) -> Page:
        return self.pages[self.stack.currentIndex()]

    def activate(self) -> None:
        """The flow entered the technician state: start the idle timer, show the first page."""
        if self.active:
            return
        self.active = True
        self.services.audit("entered")
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._idle.start()
        self.stack.setCurrentIndex(0)
        self.current.entered()

    def deactivate(self) -> None:
        """The flow left the technician state: stop devices, clear every page."""
        if not self.active:
            return
        self.active = False
        self._idle.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for page in self.pages:
            page.left()
        self._previews.drop()

    def show_page(self, index: int) -> None:
        if self.stack.currentIndex() == index:
            return
        self.current.left()
        self.stack.setCurrentIndex(index)
        self.current.entered()

    def leave(self, why: str) -> None:
        """Leaves the mode (button or inactivity); audited with ``why``."""
        self.services.audit(why)
        self.deactivate()
        self._leave()

    def set_preview(self, preview: Preview) -> None:
        """A camera frame for the page shown (camera or enrolment page)."""
        self.current.set_preview(preview)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if self.active and event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.TouchBegin):
            self._idle.start()  # restart the inactivity countdown
        return False


def _scrolling(page: Page) -> QScrollArea:
    """``page`` inside a vertical scroll area: a page longer than the screen (the device checks,
    the logs) scrolls inside itself instead of growing the window past the screen, which would push
    the person's buttons off it."""
    area = QScrollArea()
    area.setObjectName(f"scroll_{type(page).__name__}")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    return area
