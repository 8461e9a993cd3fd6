"""The PIN pad shown over the screen after the hidden gesture; checks with :class:`kiosk.technician.PinGuard`."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QVBoxLayout, QWidget

from kiosk.technician import PIN_MAX_DIGITS, PinCheck, PinGuard
from ui.catalogue import Catalogue
from ui import theme
from ui.widgets import BigButton, TextLabel


class PinPad(QWidget):
    """A full-window overlay with a 3x4 digit pad. ``accepted`` on the right PIN; ``closed`` on
    cancel or after ``idle_timeout_s`` without a key."""

    accepted = Signal()
    closed = Signal()
    answered = Signal(str)  # the PinCheck value of each entry, for the audit log

    def __init__(self, catalogue: Catalogue, guard: PinGuard, parent: QWidget | None = None, *,
                 idle_timeout_s: float = 60.0) -> None:
        super().__init__(parent)
        # A pad left open closes by itself, so the idle screen is never hidden for long.
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(int(idle_timeout_s * 1000))
        self._idle.timeout.connect(self.closed)
        self._idle.start()
        self._catalogue = catalogue
        self._guard = guard
        self._digits = ""
        self.setObjectName("pin_pad")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"QWidget#pin_pad {{ background: {theme.PAPER_SOFT}; }}")
        m = theme.metrics(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(m.margin_px * 2, m.margin_px, m.margin_px * 2, m.margin_px)
        self.title = TextLabel("heading", m, self, align=Qt.AlignmentFlag.AlignCenter)
        self.title.setText(catalogue.text("technician", "pin_title"))
        self.display = TextLabel("large", m, self, align=Qt.AlignmentFlag.AlignCenter)
        self.message = TextLabel("body", m, self, tone="failure", align=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.title)
        layout.addWidget(self.display)
        layout.addWidget(self.message)
        grid = QGridLayout()
        grid.setSpacing(m.spacing_px)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]
        for index, key in enumerate(keys):
            text = catalogue.text("technician", f"pin_{key}") if key in ("clear", "ok") else key
            button = BigButton(text, m, self, kind="success" if key == "ok" else "neutral")
            button.setObjectName(f"pin_key_{key}")
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(button, index // 3, index % 3)
        layout.addLayout(grid)
        cancel = BigButton(catalogue.text("technician", "pin_cancel"), m, self, kind="quiet")
        cancel.setObjectName("pin_key_cancel")
        cancel.clicked.connect(self.closed)
        layout.addWidget(cancel)
        if not guard.enabled:
            self.message.setText(catalogue.text("technician", "pin_not_set"))
        self._refresh()

    def press(self, key: str) -> None:
        """One key: a digit, ``clear`` or ``ok``."""
        self._idle.start()
        if key == "clear":
            self._digits = ""
        elif key == "ok":
            self._submit()
            return
        elif key.isdigit() and len(self._digits) < PIN_MAX_DIGITS:
            self._digits += key
        self._refresh()

    def _submit(self) -> None:
        pin, self._digits = self._digits, ""
        answer = self._guard.try_pin(pin)
        self.answered.emit(str(answer.result))
        if answer.result is PinCheck.ACCEPTED:
            self.message.setText("")
            self.accepted.emit()
            return
        if answer.result is PinCheck.WRONG:
            self.message.setText(self._catalogue.text("technician", "pin_wrong", left=answer.tries_left))
        elif answer.result is PinCheck.LOCKED:
            self.message.setText(self._catalogue.text("technician", "pin_locked", minutes=max(1, math.ceil(answer.locked_s / 60))))
        else:
            self.message.setText(self._catalogue.text("technician", "pin_not_set"))
        self._refresh()

    def _refresh(self) -> None:
        self.display.setText("●" * len(self._digits) if self._digits else "—")
