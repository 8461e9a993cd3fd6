"""Screens of the terminal itself: out of service (maintenance), and the technician mode."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from kiosk.flow import FlowView, State
from kiosk.voice import Catalogue
from ui.screens.base import Screen


class MaintenanceScreen(Screen):
    """"This terminal is paused": points to the counter; the cause is for staff (technician page)."""

    def build(self) -> None:
        self.band.set_state(self.t("screen.maintenance", "title"), "failure")
        self.text_column.addStretch(1)
        self.title = self.label("heading", self.t("screen.maintenance", "title"), centred=True)
        self.body = self.label("body", self.t("screen.maintenance", "body"), centred=True)
        self.text_column.addStretch(1)

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)


class TechnicianScreen(Screen):
    """The technician state: hosts the technician panel when one is given, else a notice."""

    person_facing = False

    def __init__(self, state: State, catalogue: Catalogue, portrait: bool = False, panel: QWidget | None = None) -> None:
        self._panel = panel
        super().__init__(state, catalogue, portrait)

    def build(self) -> None:
        self.band.set_state(self.t("screen.technician", "title"), "quiet")
        if self._panel is not None:
            self._panel.setParent(self)
            self.text_column.addWidget(self._panel, 1)
        else:
            self.title = self.label("heading", self.t("screen.technician", "title"))
            self.body = self.label("body", self.t("screen.technician", "body"))
            self.text_column.addStretch(1)

    @property
    def panel(self) -> QWidget | None:
        return self._panel

    def set_orientation(self, portrait: bool) -> None:
        super().set_orientation(portrait)
        orient = getattr(self._panel, "set_orientation", None)
        if orient is not None:
            orient(portrait)
