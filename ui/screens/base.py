"""The frame every screen shares: state band, text column, an optional visual, action buttons, footer.

A screen renders a :class:`~kiosk.flow.FlowView` (``show_view``) and turns touches into flow events
(``event_requested``); it never decides anything itself. ``clear`` forgets everything of the
person it showed (names, dates, camera frames) and is called on every screen before the idle
screen appears. Landscape puts the text column and the visual side by side, portrait stacks them.
Thread rule: GUI thread only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QBoxLayout, QGridLayout, QVBoxLayout, QWidget

from kiosk.flow import Event, FlowView, HelpRequested, RepeatRequested, StaffCallShown, State
from kiosk.ports import Preview
from ui.catalogue import Catalogue
from ui import theme
from ui.widgets import BigButton, Footer, Scaled, StateBand, TextLabel

STAFF_CALL_BUTTON = {
    StaffCallShown.CALLING: "help_calling",
    StaffCallShown.NOTIFIED: "help_called",
    StaffCallShown.LOCAL: "help_local",
    StaffCallShown.ACKNOWLEDGED: "help_coming",
}
"""The help button's text for each state of the staff call ([button] in the catalogue)."""


class Screen(QWidget):
    """Base of the screens; subclasses fill ``text_column``, ``visual`` and ``buttons`` in ``build``."""

    event_requested = Signal(object)  # a kiosk.flow.Event to post to the controller
    language_requested = Signal()  # the person asked for the other voice (the window switches it)
    person_facing = True
    language_button: BigButton | None = None

    def __init__(self, state: State, catalogue: Catalogue, portrait: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.catalogue = catalogue
        self.portrait = portrait
        self.m = theme.metrics(portrait)
        self.setObjectName(f"screen_{state}")
        self.setAutoFillBackground(True)
        self.setStyleSheet(f"Screen, QWidget#{self.objectName()} {{ background: {theme.PAPER}; }}")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.band = StateBand(self.m, self)
        outer.addWidget(self.band)
        inner = QWidget(self)
        outer.addWidget(inner, 1)
        self._inner = QVBoxLayout(inner)
        self._content = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.text_column = QVBoxLayout()
        self._content.addLayout(self.text_column, 3)
        self._inner.addLayout(self._content, 1)
        # A grid, not a row: portrait puts two buttons per line so that their labels keep full size.
        self.buttons = QGridLayout()
        self._button_list: list[BigButton] = []
        self._inner.addLayout(self.buttons)
        self.visual: QWidget | None = None
        self.footer: Footer | None = None
        if self.person_facing:
            self.footer = Footer(self.t("button", "repeat"), self.t("button", "help"), self.t("button", "help_called"), self.m, self)
            self.footer.repeat_clicked.connect(lambda: self.event_requested.emit(RepeatRequested()))
            self.footer.help_clicked.connect(lambda: self.event_requested.emit(HelpRequested()))
            self._inner.addWidget(self.footer)
        self.build()
        if self.visual is not None:
            self._content.addWidget(self.visual, 2)
        self.set_orientation(portrait)

    # --- for subclasses ---

    def build(self) -> None:
        """Creates the screen's own widgets (called once from the constructor)."""

    def t(self, section: str, key: str, **params: object) -> str:
        """A catalogue text with its placeholders filled."""
        return self.catalogue.text(section, key, **params)

    def label(self, role: str, text: str = "", *, tone: str | None = None, centred: bool = False) -> TextLabel:
        """Adds a label to the text column."""
        align = Qt.AlignmentFlag.AlignCenter if centred else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        widget = TextLabel(role, self.m, self, tone=tone, align=align)
        widget.setText(text)
        self.text_column.addWidget(widget)
        return widget

    def button(self, text: str, event: Event | None = None, kind: str = "neutral") -> BigButton:
        """Adds an action button; touching it posts ``event`` (when given)."""
        widget = BigButton(text, self.m, self, kind=kind)
        if event is not None:
            widget.clicked.connect(lambda: self.event_requested.emit(event))
        self._button_list.append(widget)
        self.relayout_buttons()
        return widget

    def add_language_switch(self) -> None:
        """A large button that switches the voice between Mandarin and Cantonese (outlined: it is
        never the screen's main step)."""
        self.language_button = self.button(self.t("button", "listen_yue"), kind="outline")
        self.language_button.clicked.connect(self.language_requested)

    def offer_language(self, language: str) -> None:
        """Labels the switch with the language it switches to (``yue`` → 听粤语, ``cmn`` → 听普通话)."""
        if self.language_button is not None:
            self.language_button.setText(self.t("button", f"listen_{language}"))

    def relayout_buttons(self) -> None:
        """Places the visible action buttons: up to 4 a line in landscape, 2 in portrait."""
        for widget in self._button_list:
            self.buttons.removeWidget(widget)
        visible = [w for w in self._button_list if not w.isHidden()]
        columns = 2 if self.portrait else 4
        for index, widget in enumerate(visible):
            self.buttons.addWidget(widget, index // columns, index % columns)

    # --- the screen's life ---

    def show_view(self, view: FlowView) -> None:
        """Renders ``view`` (subclasses extend; call super first)."""
        if self.footer is not None:
            self.footer.set_staff_call_text(self.t("button", STAFF_CALL_BUTTON[view.staff_call])
                                            if view.staff_call is not None else None)

    def clear(self) -> None:
        """Forgets the person: subclasses reset every text that held their data (call super)."""
        if self.footer is not None:
            self.footer.set_staff_called(False)

    def set_preview(self, preview: Preview) -> None:
        """A camera frame (GUI thread); screens showing the camera image override this, the others
        have nothing to draw it on."""

    camera_on_top = False
    """Screens showing the live camera image put it at the top in portrait (next to the camera)."""

    def set_orientation(self, portrait: bool) -> None:
        """Lays the screen out for landscape (side by side) or portrait (stacked)."""
        self.portrait = portrait
        self.m = theme.metrics(portrait)
        self._inner.setContentsMargins(self.m.margin_px, self.m.margin_px // 2, self.m.margin_px, self.m.margin_px // 2)
        self._inner.setSpacing(self.m.spacing_px)
        self._content.setSpacing(self.m.spacing_px * 2)
        self.text_column.setSpacing(self.m.spacing_px)
        self.buttons.setSpacing(self.m.spacing_px)
        self.relayout_buttons()
        if self.visual is None or not portrait:
            direction = QBoxLayout.Direction.TopToBottom if self.visual is None else QBoxLayout.Direction.LeftToRight
        else:
            # A portrait terminal has its camera above the screen: the live image goes to the top, so
            # a person watching themselves keeps the head up instead of tilting it down (pitch).
            direction = QBoxLayout.Direction.BottomToTop if self.camera_on_top else QBoxLayout.Direction.TopToBottom
        self._content.setDirection(direction)
        for child in self.findChildren(QWidget):
            if isinstance(child, Scaled):
                child.apply_metrics(self.m)
        self.band.apply_metrics(self.m)
