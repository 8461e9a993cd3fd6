"""The few building blocks every screen is made of: big text, big buttons, the state band, the footer.

Each widget carries a ``role`` property (``heading``, ``body``, ``large``, ``button``) so the
screenshot tests can apply the size rule of its role, and sizes come from :mod:`ui.theme`.
Thread rule: GUI thread only, like every widget.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ui import theme
from ui.line_breaks import keep_words_whole, plain
from ui.theme import Metrics


class Scaled:
    """A widget whose sizes follow the orientation: a screen calls :meth:`apply_metrics` on each of
    its Scaled children when it is laid out for landscape or portrait."""

    def apply_metrics(self, m: Metrics) -> None:
        """Sets fonts and minimum sizes from ``m``."""
        raise NotImplementedError


class TextLabel(QLabel, Scaled):
    """A word-wrapped label in one of the roles; ``tone`` colours it (text colour on white)."""

    def __init__(self, role: str, m: Metrics, parent: QWidget | None = None, *, tone: str | None = None,
                 align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter) -> None:
        super().__init__(parent)
        self.setProperty("role", role)
        self.setWordWrap(True)
        self.setAlignment(align)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.apply_metrics(m)
        self.set_tone(tone)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        """Shows ``text`` with no line break inside a word (:mod:`ui.line_breaks`)."""
        super().setText(keep_words_whole(text))

    def text(self) -> str:
        """The text as given (without the invisible word joiners)."""
        return plain(super().text())

    def apply_metrics(self, m: Metrics) -> None:
        """Sets the font size of this label's role for the orientation's metrics."""
        role = self.property("role")
        size = {"heading": m.heading_px, "large": m.large_px}.get(role, m.body_px)
        self.setFont(theme.font(size, bold=role in ("heading", "large")))

    def set_tone(self, tone: str | None) -> None:
        """Colours the text (``success``, ``failure``, ``grace``, ``neutral``) or resets it to ink."""
        colour = theme.TONE_COLOURS.get(tone or "", theme.INK) if tone else theme.INK
        self.setStyleSheet(f"color: {colour}; background: transparent;")


class BigButton(QPushButton, Scaled):
    """A touch target at least 90 px high with a ≥ 46 px label; ``kind`` picks its colour."""

    def __init__(self, text: str, m: Metrics, parent: QWidget | None = None, *, kind: str = "neutral",
                 footer: bool = False) -> None:
        super().__init__(text, parent)
        self.setProperty("role", "button")
        self._footer = footer
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.set_kind(kind)
        self.apply_metrics(m)

    def apply_metrics(self, m: Metrics) -> None:
        """Sets the font and the minimum touch size for the orientation."""
        self.setFont(theme.font(m.button_px if not self._footer else m.body_px, bold=True))
        height = m.footer_button_height_px if self._footer else m.button_height_px
        self.setMinimumHeight(height)
        self.setMinimumWidth(max(height * 2, QFontMetrics(self.font()).horizontalAdvance(self.text()) + 80))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_kind(self, kind: str) -> None:
        """``neutral`` (blue), ``success``, ``failure``, ``quiet`` (grey) or ``outline`` (blue on white)."""
        self.setProperty("kind", kind)
        if kind == "outline":
            style = (f"QPushButton {{ color: {theme.BLUE}; background: {theme.PAPER}; border: 6px solid {theme.BLUE};"
                     f" border-radius: 24px; padding: 8px 24px; }}"
                     f" QPushButton:pressed {{ background: {theme.PAPER_SOFT}; }}")
        else:
            colour = theme.TONE_COLOURS.get(kind, theme.BLUE)
            style = (f"QPushButton {{ color: {theme.ON_COLOUR}; background: {colour}; border: none;"
                     f" border-radius: 24px; padding: 8px 24px; }}"
                     f" QPushButton:pressed {{ background: {theme.INK}; }}"
                     f" QPushButton:disabled {{ background: {theme.GREY}; }}")
        self.setStyleSheet(style)


class StateBand(QLabel, Scaled):
    """The coloured band at the top of a screen: the state in words on its colour (never colour alone)."""

    def __init__(self, m: Metrics, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "body")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.apply_metrics(m)
        self.set_state("", "neutral")

    def apply_metrics(self, m: Metrics) -> None:
        self.setFont(theme.font(m.body_px, bold=True))
        self.setFixedHeight(m.banner_height_px)

    def set_state(self, words: str, tone: str) -> None:
        """Shows ``words`` on the colour of ``tone``."""
        self.setText(words)
        colour = theme.TONE_COLOURS.get(tone, theme.BLUE)
        self.setStyleSheet(f"color: {theme.ON_COLOUR}; background: {colour}; padding: 0 24px;")


class Footer(QWidget, Scaled):
    """"再听一遍" and "请工作人员帮助", on every person-facing screen."""

    repeat_clicked = Signal()
    help_clicked = Signal()

    def __init__(self, repeat_text: str, help_text: str, help_called_text: str, m: Metrics,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._help_text, self._help_called_text = help_text, help_called_text
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(m.spacing_px)
        self.repeat = BigButton(repeat_text, m, self, kind="outline", footer=True)
        self.help = BigButton(help_text, m, self, kind="outline", footer=True)
        layout.addWidget(self.repeat)
        layout.addWidget(self.help)
        self.repeat.clicked.connect(self.repeat_clicked)
        self.help.clicked.connect(self.help_clicked)

    def apply_metrics(self, m: Metrics) -> None:
        self.layout().setSpacing(m.spacing_px)
        self.repeat.apply_metrics(m)
        self.help.apply_metrics(m)

    def set_staff_called(self, called: bool) -> None:
        """After a call the button says so (the person sees their touch did something)."""
        self.help.setText(self._help_called_text if called else self._help_text)

    def set_staff_call_text(self, text: str | None) -> None:
        """The button names where the staff call stands (calling, told, go to the window, coming);
        None: the plain help button."""
        self.help.setText(text or self._help_text)


def text_overflow(widget: QWidget) -> str | None:
    """Why the text of ``widget`` (a QLabel or QPushButton) does not fit its rectangle, or None.

    Wrapped labels are laid out at their width and must not need more height; other labels and
    buttons must fit every line on one line. Used by the screenshot tests.
    """
    if isinstance(widget, QPushButton):
        text, rect, wrap = widget.text(), widget.contentsRect().adjusted(24, 8, -24, -8), False
    elif isinstance(widget, QLabel):
        if widget.pixmap() is not None and not widget.pixmap().isNull():
            return None
        text, rect, wrap = widget.text(), widget.contentsRect(), widget.wordWrap()
    else:
        return None
    if not text or not widget.isVisible():
        return None
    metrics = QFontMetrics(widget.font())
    flags = int(Qt.TextFlag.TextWordWrap) if wrap else 0
    needed: QRect = metrics.boundingRect(QRect(0, 0, max(1, rect.width()), 100_000), flags, text)
    if needed.width() > rect.width() + 1:
        return f"needs {needed.width()} px wide, has {rect.width()}"
    if needed.height() > rect.height() + 1:
        return f"needs {needed.height()} px high, has {rect.height()}"
    return None
