"""The idle (attract) screen: what the terminal does and how to start, with a card gliding onto the reader."""

from __future__ import annotations

from ui.illustration import CardIllustration
from ui.screens.base import Screen


class IdleScreen(Screen):
    """Shown between sessions; holds no personal data at all."""

    def build(self) -> None:
        self.band.set_state(self.t("screen.idle", "card_hint"), "neutral")
        self.title = self.label("heading", self.t("screen.idle", "title"))
        self.body = self.label("body", self.t("screen.idle", "body"))
        self.steps = [self.label("body", self.t("screen.idle", f"step_{n}")) for n in (1, 2, 3)]
        self.text_column.addStretch(1)
        self.visual = CardIllustration(self)
