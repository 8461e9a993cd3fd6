"""No line break inside a word: Qt breaks Chinese between any two characters unless told not to."""

from __future__ import annotations

from PySide6.QtGui import QTextLayout, QTextOption
from PySide6.QtWidgets import QApplication

from ui import theme
from ui.line_breaks import keep_words_whole, plain


def line_starts(text: str, width: float, qapp: QApplication) -> list[int]:
    """Where each line of ``text`` starts when laid out ``width`` px wide in the body font."""
    layout = QTextLayout(text, theme.font(theme.metrics(False).body_px))
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    starts = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        starts.append(line.textStart())
    layout.endLayout()
    return starts


def test_words_are_never_split_across_lines(qapp: QApplication) -> None:
    text = "需要用摄像头拍您的脸，和登记的照片比对。请到人工窗口办理。"
    joined = keep_words_whole(text)
    assert plain(joined) == text
    # from the width of the longest protected run (人工窗口办理, 6 characters): narrower, a break is forced
    for width in range(theme.metrics(False).body_px * 7, 900, 7):
        for start in line_starts(joined, width, qapp)[1:]:
            visible = plain(joined[:start])
            for word in ("登记", "办理", "人工窗口", "摄像头", "照片"):
                for cut in range(1, len(word)):
                    assert not (visible.endswith(word[:cut]) and text[len(visible):].startswith(word[cut:])), \
                        (width, visible, word)


def test_without_joiners_qt_does_split_words(qapp: QApplication) -> None:
    """The check above can fail: plain text does get split inside a word at some width."""
    text = "需要用摄像头拍您的脸，和登记的照片比对。请到人工窗口办理。"
    split = False
    for width in range(150, 900, 7):
        for start in line_starts(text, width, qapp)[1:]:
            if any(text[:start].endswith(w[:1]) and text[start:].startswith(w[1:]) for w in ("登记", "办理", "照片")):
                split = True
    assert split
