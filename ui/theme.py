"""Colours, fonts and sizes for elderly readers (MIIT 适老化 rules, domain.md, issue 6).

Sizes are CSS pixels at the terminal's native resolution (1920x1080 landscape or 1080x1920
portrait, about 21 inches): body text ≥ 36 px, headings ≥ 60 px, touch targets ≥ 90 px. Every text
colour pair below keeps a contrast ratio ≥ 7:1 (WCAG AAA), checked by tests/test_ui_screenshots.py.
Colour is never the only cue: every state colour comes with a word and a voice prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QFontDatabase

FALLBACK_FAMILIES = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK", "WenQuanYi Zen Hei", "sans-serif"]

INK = "#141414"  # body text on white
PAPER = "#FFFFFF"
PAPER_SOFT = "#F1F4F8"  # panels; INK on it is still ≥ 15:1
BLUE = "#0B3D91"  # primary buttons, neutral states
GREEN = "#0A5A2A"  # success / valid
AMBER = "#6A3D00"  # grace: soon due (dark brown-amber, white text on it)
RED = "#9A1010"  # failure / suspended
GREY = "#3C3C3C"  # secondary buttons
ON_COLOUR = "#FFFFFF"  # text on every coloured band or button
CAMERA_BACK = "#000000"
OVAL_OK = "#2EE66B"  # drawn on the camera image, not text
OVAL_WAIT = "#FFD400"

TEXT_PAIRS: list[tuple[str, str, str]] = [
    ("body", INK, PAPER), ("panel", INK, PAPER_SOFT), ("primary", ON_COLOUR, BLUE), ("success", ON_COLOUR, GREEN),
    ("grace", ON_COLOUR, AMBER), ("failure", ON_COLOUR, RED), ("secondary", ON_COLOUR, GREY),
    ("camera_hint", "#FFFFFF", CAMERA_BACK), ("blue_text", BLUE, PAPER), ("green_text", GREEN, PAPER),
    ("red_text", RED, PAPER), ("amber_text", AMBER, PAPER),
]
"""(name, text colour, background) pairs used anywhere a text is drawn."""

TONE_COLOURS = {"neutral": BLUE, "success": GREEN, "grace": AMBER, "failure": RED, "quiet": GREY}


@dataclass(frozen=True)
class Metrics:
    """Pixel sizes for one orientation."""

    heading_px: int
    body_px: int
    large_px: int  # the one key fact of a screen (a date, a result)
    button_px: int
    button_height_px: int
    footer_button_height_px: int
    margin_px: int
    spacing_px: int
    banner_height_px: int

    @property
    def min_touch_px(self) -> int:
        return min(self.button_height_px, self.footer_button_height_px)


LANDSCAPE = Metrics(heading_px=72, body_px=44, large_px=64, button_px=48, button_height_px=130,
                    footer_button_height_px=110, margin_px=48, spacing_px=28, banner_height_px=96)
PORTRAIT = Metrics(heading_px=68, body_px=44, large_px=60, button_px=46, button_height_px=130,
                   footer_button_height_px=110, margin_px=40, spacing_px=28, banner_height_px=96)

MIN_BODY_PX = 36
MIN_HEADING_PX = 60
MIN_TOUCH_PX = 90
MIN_CONTRAST = 7.0


def metrics(portrait: bool) -> Metrics:
    """The sizes for the terminal's orientation."""
    return PORTRAIT if portrait else LANDSCAPE


def font(pixel_size: int, bold: bool = False) -> QFont:
    """A Noto Sans CJK font at ``pixel_size`` px (pixel sizes keep the layout independent of DPI)."""
    qfont = QFont()
    qfont.setFamilies(FALLBACK_FAMILIES)
    qfont.setPixelSize(pixel_size)
    qfont.setBold(bold)
    return qfont


def cjk_font_available() -> bool:
    """True when a Noto Sans CJK family is installed (Debian fonts-noto-cjk)."""
    return any(family.startswith("Noto Sans CJK") for family in QFontDatabase.families())


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a ``#RRGGBB`` colour (0 black to 1 white)."""
    qcolour = QColor(colour)

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(qcolour.red()) + 0.7152 * channel(qcolour.green()) + 0.0722 * channel(qcolour.blue())


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio between two colours (1 to 21)."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)
