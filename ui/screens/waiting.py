"""Short waits with nothing to do: reading the card, looking the person up, checking the face."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ui.illustration import Spinner
from ui.screens.base import Screen


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

