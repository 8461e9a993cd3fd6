"""The Qt binding the kiosk runs on keeps Python's reference counts straight.

PySide6 6.12.0 under Python 3.11 drops a reference to ``None`` on every call of a method returning
void (``update()``, ``setText()``, ``processEvents()``...). A kiosk window makes thousands of such
calls a minute, so the process aborted with "deallocating None" within minutes. This test fails
on any binding with that defect, so a lock-file bump cannot bring it back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QLabel

CALLS = 300


def test_void_qt_calls_keep_none_alive() -> None:
    app = QApplication.instance() or QApplication([])
    label = QLabel("x")
    QCoreApplication.processEvents()  # settle anything pending before measuring
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        label.setText("y")
        label.update()
        QCoreApplication.sendPostedEvents()
    lost = before - sys.getrefcount(None)
    label.deleteLater()
    QCoreApplication.sendPostedEvents()
    # Other threads may hold or drop a few references meanwhile; a defective binding loses 3 per loop.
    assert lost < CALLS // 2, f"None lost {lost} references over {CALLS} rounds of void Qt calls"
    assert app is not None
