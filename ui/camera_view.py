"""The live camera image with the guide oval (and, for technicians, landmarks and ratios).

Shows :class:`kiosk.ports.Preview` frames mirrored, as a mirror is what people expect when they see
themselves. The oval is yellow while a quality hint is pending and green once the face is in place;
the words for the hint are on the screen next to it (colour is never the only cue).
Privacy: the widget keeps only the latest frame, and :meth:`clear` drops it.
Thread rule: GUI thread only, except :meth:`PreviewMailbox.put`, through which frames arrive from device threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from kiosk.ports import Preview
from ui import theme

# The oval's size as fractions of the shown image: matches a face of about 35-45 % of the frame
# width, inside the quality gates (min 0.18, max 0.7 of the width).
OVAL_WIDTH = 0.42
OVAL_HEIGHT = 0.72


class PreviewMailbox(QObject):
    """Hands camera previews from device threads to the GUI thread, newest only: ``put`` (any thread)
    leaves the preview for ``deliver`` (GUI thread); frames arriving faster than painting replace
    the waiting one, so a slow paint never builds a backlog. ``drop`` forgets the waiting one."""

    _arrived = Signal()

    def __init__(self, deliver: Callable[[Preview], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._lock = threading.Lock()
        self._waiting: Preview | None = None
        self._arrived.connect(self._hand_over, Qt.ConnectionType.QueuedConnection)

    @property
    def waiting(self) -> Preview | None:
        """The preview not yet delivered, if any."""
        with self._lock:
            return self._waiting

    def put(self, preview: Preview) -> None:
        """Thread-safe: ``deliver(preview)`` will run on the GUI thread unless a newer one replaces it."""
        with self._lock:
            pending = self._waiting is not None
            self._waiting = preview
        if not pending:
            self._arrived.emit()

    def drop(self) -> None:
        """Forgets the waiting preview (a session ended: its frames must not be drawn)."""
        with self._lock:
            self._waiting = None

    def _hand_over(self) -> None:
        with self._lock:
            preview, self._waiting = self._waiting, None
        if preview is not None:
            self._deliver(preview)


class CameraView(QWidget):
    """Paints the newest preview frame scaled to fit, mirrored, with the guide oval on top."""

    def __init__(self, parent: QWidget | None = None, *, technician: bool = False) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._preview: Preview | None = None
        self._ok = False
        self._technician = technician
        self.setMinimumSize(360, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def has_frame(self) -> bool:
        """True while a frame of a person is held (the privacy test checks it is False after a session)."""
        return self._image is not None

    def set_preview(self, preview: Preview) -> None:
        """Shows ``preview`` (BGR uint8 image). Frames of another shape are ignored, not fatal."""
        image = preview.image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            return
        frame = np.ascontiguousarray(image)
        height, width = frame.shape[:2]
        # .copy(): the QImage must own its pixels, the array may be reused by the camera thread.
        self._image = QImage(frame.data, width, height, 3 * width, QImage.Format.Format_BGR888).copy()
        self._preview = preview if self._technician else None
        self.update()

    def set_ok(self, ok: bool) -> None:
        """Green oval when the face is in place, yellow otherwise."""
        self._ok = ok
        self.update()

    def clear(self) -> None:
        """Drops the frame (and the landmarks) of the person."""
        self._image = None
        self._preview = None
        self._ok = False
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(theme.CAMERA_BACK))
        target = QRectF(self.rect())
        if self._image is not None:
            size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2, size.width(), size.height())
            painter.save()
            # Mirror: flip around the target's vertical centre line.
            painter.translate(target.center().x() * 2, 0)
            painter.scale(-1, 1)
            painter.drawImage(target, self._image)
            if self._preview is not None:
                self._draw_landmarks(painter, target)
            painter.restore()
        self._draw_oval(painter, target)
        painter.end()

    def _draw_oval(self, painter: QPainter, target: QRectF) -> None:
        w, h = target.width() * OVAL_WIDTH, target.height() * OVAL_HEIGHT
        oval = QRectF(target.center().x() - w / 2, target.center().y() - h / 2, w, h)
        # Dim what is outside the oval so the eye goes to it.
        shade = QPainterPath()
        shade.addRect(target)
        inner = QPainterPath()
        inner.addEllipse(oval)
        painter.fillPath(shade.subtracted(inner), QColor(0, 0, 0, 110))
        painter.setPen(QPen(QColor(theme.OVAL_OK if self._ok else theme.OVAL_WAIT), max(8.0, w * 0.03)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(oval)

    def _draw_landmarks(self, painter: QPainter, target: QRectF) -> None:
        preview = self._preview
        assert preview is not None and self._image is not None
        sx, sy = target.width() / self._image.width(), target.height() / self._image.height()
        painter.setPen(QPen(QColor("#00E5FF"), 3))
        if preview.face_box is not None:
            x, y, w, h = preview.face_box
            painter.drawRect(QRectF(target.left() + x * sx, target.top() + y * sy, w * sx, h * sy))
        points = preview.landmarks
        if isinstance(points, np.ndarray) and points.ndim == 2 and points.shape[1] >= 2 and len(points):
            xy = points[:, :2].astype(float)
            if float(np.nanmax(np.abs(xy))) <= 1.5:  # normalised 0-1 coordinates
                xy = xy * [self._image.width(), self._image.height()]
            painter.setBrush(QBrush(QColor("#00E5FF")))
            painter.setPen(Qt.PenStyle.NoPen)
            for px, py in xy:
                painter.drawEllipse(QPointF(target.left() + px * sx, target.top() + py * sy), 2.0, 2.0)
