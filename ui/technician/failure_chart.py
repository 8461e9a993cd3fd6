"""Today's failed attempts by hour and reason as a stacked bar chart (issue 17, item 6), so that hall
staff see *when* people fail and *why* (too dark in the afternoon, the camera too high for people in
wheelchairs) and fix the hall rather than blame the person. The same figures the hall console shows.

Colour is never the only cue: the legend names each reason with its count, and the page lists the
hours in words beside the chart. Thread rule: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from kiosk.store.staff import FailureFigures
from ui import theme

SERIES_COLOURS = ("#0d3c91", "#b35900", "#0c5c2c", "#7a1f7a", "#9c1010", "#4d4d4d")
"""The top five reasons get a colour each; the rest share the last (grey) as "other"."""
TOP_REASONS = len(SERIES_COLOURS) - 1
HOURS = range(7, 20)
"""Hours always drawn (the hall's opening hours); hours outside with failures are added."""


def series(figures: FailureFigures) -> list[str]:
    """The reasons drawn as their own series (the most frequent first); the rest are "other" ("")."""
    return list(figures.by_reason)[:TOP_REASONS]


class FailureChart(QWidget):
    """Stacked bars, one per hour; ``words(code)`` names a reason for the legend."""

    def __init__(self, words: Callable[[str], str], other_words: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words = words
        self._other = other_words
        self._figures: FailureFigures | None = None
        self.setMinimumHeight(320)

    def set_figures(self, figures: FailureFigures | None) -> None:
        """Draws ``figures`` (None: nothing)."""
        self._figures = figures
        self.update()

    def legend(self) -> list[tuple[str, int]]:
        """(words, count) for each drawn series, in drawing order (also the tests' view of the chart)."""
        if self._figures is None:
            return []
        named = series(self._figures)
        # The code beside the words: two codes may share the person's words (a spoof and a mismatch
        # both say "not matched"), and staff must tell them apart.
        rows = [(f"{self._words(code)} ({code})", self._figures.by_reason[code]) for code in named]
        other = sum(n for code, n in self._figures.by_reason.items() if code not in named)
        return rows + ([(self._other, other)] if other else [])

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        figures = self._figures
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(theme.PAPER))
        if figures is None or not figures.by_reason:
            painter.end()
            return
        hours = sorted(set(HOURS) | set(figures.by_hour))
        named = series(figures)
        legend_w = min(560, int(self.width() * 0.4))
        chart = QRectF(48, 40, self.width() - legend_w - 72, self.height() - 80)  # room for the totals above
        tallest = max(sum(counts.values()) for counts in figures.by_hour.values())
        step = chart.width() / len(hours)
        font = theme.font(20)
        painter.setFont(font)
        painter.setPen(QColor(theme.INK))
        for index, hour in enumerate(hours):
            x = chart.left() + index * step
            bottom = chart.bottom()
            counts = figures.by_hour.get(hour, {})
            stacks = [(code, counts.get(code, 0)) for code in named]
            stacks.append(("", sum(n for code, n in counts.items() if code not in named)))
            for position, (_code, count) in enumerate(stacks):
                if not count:
                    continue
                height = chart.height() * count / tallest
                painter.fillRect(QRectF(x + step * 0.15, bottom - height, step * 0.7, height),
                                 QColor(SERIES_COLOURS[min(position, len(SERIES_COLOURS) - 1)]))
                bottom -= height
            total = sum(counts.values())
            if total:
                painter.drawText(QRectF(x, bottom - 30, step, 28), Qt.AlignmentFlag.AlignCenter, str(total))
            painter.drawText(QRectF(x, chart.bottom() + 6, step, 30), Qt.AlignmentFlag.AlignCenter, str(hour))
        painter.drawLine(int(chart.left()), int(chart.bottom()), int(chart.right()), int(chart.bottom()))
        y = chart.top()
        for position, (words, count) in enumerate(self.legend()):
            colour = QColor(SERIES_COLOURS[min(position, len(SERIES_COLOURS) - 1)])
            left = self.width() - legend_w
            painter.fillRect(QRectF(left, y + 6, 24, 24), colour)
            painter.drawText(QRectF(left + 34, y, legend_w - 34, 36), Qt.AlignmentFlag.AlignVCenter,
                             f"{words} {count}")
            y += 40
        painter.end()
