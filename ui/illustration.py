"""Large animated drawings that show what to do: blink, open the mouth, turn the head; a card; a wait.

Drawn with QPainter (no image files to ship or lose): a plain, high-contrast face whose eyes
close and open, whose mouth opens and closes, or which turns with a big arrow, looping every
``period_ms``. Animation runs only while the widget is visible (no CPU spent on hidden screens).
Thread rule: GUI thread only.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QElapsedTimer, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui import theme

SKIN = "#F2C9A0"
OUTLINE = theme.INK


def _round_pen(colour: str, width: float) -> QPen:
    pen = QPen(QColor(colour), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


class Animated(QWidget):
    """A widget redrawn ~30 times a second while visible; ``phase()`` runs 0→1 each period."""

    def __init__(self, period_ms: int = 2000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._period_ms = period_ms
        self._clock = QElapsedTimer()
        self._clock.start()
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self.update)
        self.setMinimumSize(320, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def phase(self) -> float:
        return (self._clock.elapsed() % self._period_ms) / self._period_ms

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._timer.stop()
        super().hideEvent(event)


class ActionIllustration(Animated):
    """A face doing ``action`` (blink, mouth_open, turn_left, turn_right); None draws a still face."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(2000, parent)
        self.action: str | None = None

    def set_action(self, action: str | None) -> None:
        self.action = action
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) * 0.9
        cx, cy = self.width() / 2, self.height() / 2
        p = self.phase()
        # A smooth 0→1→0 pulse in the middle of the period, still at both ends (eyes open, mouth shut).
        pulse = max(0.0, math.sin(math.pi * min(1.0, max(0.0, (p - 0.25) / 0.5))))
        turn = 0.0
        if self.action in ("turn_left", "turn_right"):
            # Mirror view: the person turns to their left, the drawn face turns to the viewer's left.
            turn = pulse * (-1 if self.action == "turn_left" else 1)
        eye_open = 1.0 - pulse if self.action == "blink" else 1.0
        mouth_open = pulse if self.action == "mouth_open" else 0.0
        self._face(painter, cx, cy, side * 0.36, turn, eye_open, mouth_open)
        if self.action in ("turn_left", "turn_right"):
            self._arrow(painter, cx, cy + side * 0.44, side * 0.36, -1 if self.action == "turn_left" else 1)
        painter.end()

    def _face(self, painter: QPainter, cx: float, cy: float, r: float, turn: float, eye_open: float, mouth_open: float) -> None:
        pen = QPen(QColor(OUTLINE), max(4.0, r * 0.04))
        painter.setPen(pen)
        painter.setBrush(QBrush(QColor(SKIN)))
        painter.drawEllipse(QRectF(cx - r * (1 - abs(turn) * 0.12), cy - r * 1.15, 2 * r * (1 - abs(turn) * 0.12), 2.3 * r))
        shift = turn * r * 0.35
        painter.setBrush(QBrush(QColor(OUTLINE)))
        for side in (-1, 1):
            ex, ey = cx + shift + side * r * 0.38, cy - r * 0.25
            height = max(r * 0.02, r * 0.22 * eye_open)
            if eye_open < 0.15:
                painter.drawLine(QPointF(ex - r * 0.15, ey), QPointF(ex + r * 0.15, ey))
            else:
                painter.drawEllipse(QRectF(ex - r * 0.13, ey - height / 2, r * 0.26, height))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        nose = QPainterPath(QPointF(cx + shift, cy - r * 0.05))
        nose.lineTo(cx + shift - r * 0.08, cy + r * 0.22)
        nose.lineTo(cx + shift + r * 0.04, cy + r * 0.24)
        painter.drawPath(nose)
        mouth_h = r * (0.06 + 0.5 * mouth_open)
        mx, my = cx + shift, cy + r * 0.58
        if mouth_open > 0.05:
            painter.setBrush(QBrush(QColor("#7A1F1F")))
            painter.drawEllipse(QRectF(mx - r * 0.26, my - mouth_h / 2, r * 0.52, mouth_h))
        else:
            painter.drawArc(QRectF(mx - r * 0.3, my - r * 0.15, r * 0.6, r * 0.3), 200 * 16, 140 * 16)

    def _arrow(self, painter: QPainter, cx: float, cy: float, length: float, direction: int) -> None:
        painter.setPen(_round_pen(theme.BLUE, length * 0.1))
        tip = QPointF(cx + direction * length, cy)
        painter.drawLine(QPointF(cx - direction * length * 0.2, cy), tip)
        painter.setBrush(QBrush(QColor(theme.BLUE)))
        head = length * 0.3
        painter.drawPolygon(QPolygonF([tip + QPointF(direction * head * 0.4, 0), tip + QPointF(-direction * head * 0.6, -head * 0.7),
                                       tip + QPointF(-direction * head * 0.6, head * 0.7)]))


class CardIllustration(Animated):
    """An ID card gliding down onto the reader: "put the card here"; with ``lifting`` it rises off
    the reader instead: "take your card"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(2400, parent)
        self.lifting = False

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        card_w = min(w * 0.7, h * 0.8)
        card_h = card_w * 0.63
        reader = QRectF((w - card_w * 1.2) / 2, h * 0.78, card_w * 1.2, h * 0.12)
        painter.setPen(QPen(QColor(theme.INK), 6))
        painter.setBrush(QBrush(QColor(theme.GREY)))
        painter.drawRoundedRect(reader, 18, 18)
        drop = min(1.0, self.phase() / 0.6)
        if self.lifting:
            drop = 1.0 - drop
        top = h * 0.05 + drop * (reader.top() - card_h * 0.35 - h * 0.05)
        card = QRectF((w - card_w) / 2, top, card_w, card_h)
        painter.setBrush(QBrush(QColor("#DCEBFA")))
        painter.setPen(QPen(QColor(theme.BLUE), 6))
        painter.drawRoundedRect(card, 22, 22)
        painter.setBrush(QBrush(QColor("#9DB7D5")))
        painter.drawRect(QRectF(card.left() + card_w * 0.08, card.top() + card_h * 0.2, card_w * 0.25, card_h * 0.5))
        painter.setPen(QPen(QColor(theme.BLUE), 8))
        for i in range(3):
            y = card.top() + card_h * (0.28 + i * 0.17)
            painter.drawLine(QPointF(card.left() + card_w * 0.42, y), QPointF(card.right() - card_w * 0.08, y))
        painter.end()


class Spinner(Animated):
    """A slow, calm rotating ring: "please wait" (no percentage, nothing to read)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(1600, parent)
        self.setMinimumSize(200, 200)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) * 0.6
        rect = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        painter.setPen(QPen(QColor(theme.PAPER_SOFT), side * 0.1))
        painter.drawEllipse(rect)
        painter.setPen(_round_pen(theme.BLUE, side * 0.1))
        painter.drawArc(rect, int(-self.phase() * 360 * 16), 100 * 16)
        painter.end()


class ResultIcon(QWidget):
    """A big shape that says the result without colour: a tick (success), a cross (failure), a clock
    (manual review). Colour repeats it; the words on the screen say it too."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind: str | None = None
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_kind(self, kind: str | None) -> None:
        self.kind = kind
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if self.kind is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height(), 520) * 0.8
        cx, cy = self.width() / 2, self.height() / 2
        colour = theme.TONE_COLOURS.get(self.kind, theme.BLUE)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(colour)))
        painter.drawEllipse(QPointF(cx, cy), side / 2, side / 2)
        pen = _round_pen(theme.ON_COLOUR, side * 0.09)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        r = side / 2
        if self.kind == "success":
            painter.drawPolyline(QPolygonF([QPointF(cx - r * 0.45, cy), QPointF(cx - r * 0.1, cy + r * 0.35),
                                            QPointF(cx + r * 0.5, cy - r * 0.35)]))
        elif self.kind == "failure":
            for sx in (-1, 1):
                painter.drawLine(QPointF(cx - r * 0.38 * sx, cy - r * 0.38), QPointF(cx + r * 0.38 * sx, cy + r * 0.38))
        else:
            painter.drawEllipse(QPointF(cx, cy), r * 0.55, r * 0.55)
            painter.drawLine(QPointF(cx, cy), QPointF(cx, cy - r * 0.38))
            painter.drawLine(QPointF(cx, cy), QPointF(cx + r * 0.28, cy))
        painter.end()
