"""The screens with little on them: idle (attract), the short waits, out of service, technician.

Idle shows what the terminal does and how to start, with a card gliding onto the reader; it holds no
personal data at all. The waits (reading the card, looking the person up, checking the face) have
nothing to do but wait: a calm spinner and one sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from kiosk.flow import FlowView, State
from ui.catalogue import Catalogue
from ui.illustration import CardIllustration, Spinner
from ui.screens.base import Screen

if TYPE_CHECKING:
    from ui.technician.panel import TechnicianPanel


class IdleScreen(Screen):
    """Shown between sessions; holds no personal data at all. While the last person's card is still
    on the reader (``view.take_card``) it asks for the card instead of inviting the next one."""

    def build(self) -> None:
        self.band.set_state(self.t("screen.idle", "card_hint"), "neutral")
        self.title = self.label("heading", self.t("screen.idle", "title"))
        self.body = self.label("body", self.t("screen.idle", "body"))
        self.steps = [self.label("body", self.t("screen.idle", f"step_{n}")) for n in (1, 2, 3)]
        self.text_column.addStretch(1)
        self.visual = CardIllustration(self)
        self.taking_card = False
        self.add_language_switch()

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        if view.take_card == self.taking_card:
            return
        self.taking_card = view.take_card
        if view.take_card:
            self.band.set_state(self.t("screen.idle", "take_card_title"), "grace")
            self.title.setText(self.t("screen.idle", "take_card_title"))
            self.body.setText(self.t("screen.idle", "take_card_body"))
        else:
            self.band.set_state(self.t("screen.idle", "card_hint"), "neutral")
            self.title.setText(self.t("screen.idle", "title"))
            self.body.setText(self.t("screen.idle", "body"))
        for step in self.steps:
            step.setVisible(not view.take_card)
        self.visual.lifting = view.take_card


class WaitScreen(Screen):
    """A calm "please wait" with a slow spinner; the texts come from ``[screen.<state>]``."""

    def build(self) -> None:
        section = f"screen.{self.state}"
        self.band.set_state(self.t(section, "title"), "neutral")
        self.text_column.addStretch(1)
        self.title = self.label("heading", self.t(section, "title"), centred=True)
        self.body = self.label("body", self.t(section, "body"), centred=True)
        self.spinner = Spinner(self)
        self.text_column.addWidget(self.spinner, 1, Qt.AlignmentFlag.AlignHCenter)
        self.text_column.addStretch(1)


class MaintenanceScreen(Screen):
    """"This terminal is paused": points to the counter; the cause is for staff (technician page)."""

    def build(self) -> None:
        self.band.set_state(self.t("screen.maintenance", "title"), "failure")
        self.text_column.addStretch(1)
        self.title = self.label("heading", self.t("screen.maintenance", "title"), centred=True)
        self.body = self.label("body", self.t("screen.maintenance", "body"), centred=True)
        self.text_column.addStretch(1)


class TechnicianScreen(Screen):
    """The technician state: hosts the technician panel when one is given, else a notice."""

    person_facing = False

    def __init__(self, state: State, catalogue: Catalogue, portrait: bool = False,
                 panel: TechnicianPanel | None = None) -> None:
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

    def set_orientation(self, portrait: bool) -> None:
        super().set_orientation(portrait)
        if self._panel is not None:
            self._panel.set_orientation(portrait)
