"""The operator's demo panel for ``kiosk demo``: place and remove sample cards on the simulated reader.

For the person running a demonstration, not for the pensioner: plain English, small, and in its own
window so it never covers or becomes part of the kiosk screen.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QVBoxLayout, QWidget

log = logging.getLogger(__name__)


class DemoPanel(QWidget):
    """Lists the sample cards and drives ``reader.simulator.simulator_for(reader_url)``.

    ``cards`` defaults to ``reader.samples.sample_card_paths()``; extra card files (for instance a
    card of a person enrolled for the demo) can be passed in.
    """

    def __init__(self, reader_url: str, cards: list[Path] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from reader.samples import sample_card_paths  # the reader package provides the samples

        self.setWindowTitle("kiosk demo - operator panel")
        self._reader_url = reader_url
        self._cards = list(cards) if cards is not None else sample_card_paths()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Demo operator panel (not part of the kiosk screen)"))
        layout.addWidget(QLabel(f"Simulated reader: {reader_url}"))
        self.choice = QComboBox(self)
        for path in self._cards:
            self.choice.addItem(path.stem, str(path))
        layout.addWidget(self.choice)
        self.place = QPushButton("Place card", self)
        self.remove = QPushButton("Remove card", self)
        self.status = QLabel("", self)
        layout.addWidget(self.place)
        layout.addWidget(self.remove)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.place.clicked.connect(self.place_card)
        self.remove.clicked.connect(self.remove_card)
        self.resize(420, 260)

    def _simulator(self):  # noqa: ANN202 - reader.simulator.Simulator
        from reader.simulator import simulator_for

        return simulator_for(self._reader_url)

    def place_card(self) -> None:
        """Places the selected sample card on the simulated reader."""
        path = self.choice.currentData()
        if not path:
            self.status.setText("no sample card available")
            return
        try:
            self._simulator().place_card(Path(path))
        except Exception as exc:  # noqa: BLE001 - an operator panel reports, never crashes the kiosk
            log.warning("demo: placing a card failed: %s", type(exc).__name__)
            self.status.setText(f"could not place the card: {type(exc).__name__}")
            return
        self.status.setText(f"card placed: {Path(path).stem}")

    def remove_card(self) -> None:
        """Takes the card off the simulated reader."""
        try:
            self._simulator().remove_card()
        except Exception as exc:  # noqa: BLE001
            self.status.setText(f"could not remove the card: {type(exc).__name__}")
            return
        self.status.setText("card removed")
