"""Technician pages about the devices: status (doctor checks, live), camera preview, reader test read,
and staff-assisted reference enrolment.

Pages are for hall staff: sizes are smaller than the pensioner's screens but targets stay ≥ 90 px.
Every action is audited (code only). Blocking work runs through ``run_in_background``.
Privacy: a test read shows a masked number only and is forgotten when the page is left; an
enrolment frame is held only until it is saved or the page is left.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontMetrics, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from kiosk.doctor import Status
from kiosk.ports import Preview
from ui.catalogue import Catalogue
from reader.card import IdCard, mask_number
from reader.idnumber import InvalidIdNumber, parse_card_number
from ui import theme
from ui.camera_view import CameraView
from ui.technician.services import TechnicianServices, run_in_background
from ui.widgets import BigButton

TECH_BODY_PX = 32
TECH_SMALL_PX = 24
DEVICE_REFRESH_MS = 30_000


def tech_label(text: str = "", size: int = TECH_BODY_PX, bold: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setFont(theme.font(size, bold))
    label.setStyleSheet(f"color: {theme.INK};")
    return label


class TechButton(BigButton):
    """A staff-page button: smaller text than the pensioner's, same ≥ 90 px touch height."""

    def apply_metrics(self, m: theme.Metrics) -> None:  # the staff pages keep their own sizes
        self.setFont(theme.font(TECH_BODY_PX, bold=True))
        self.setMinimumHeight(theme.MIN_TOUCH_PX)
        self.setMinimumWidth(QFontMetrics(self.font()).horizontalAdvance(self.text()) + 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


def tech_button(text: str, kind: str = "neutral") -> TechButton:
    return TechButton(text, theme.metrics(False), kind=kind)


class Page(QWidget):
    """A technician page: ``entered``/``left`` are called when it is shown / hidden; ``clear`` forgets data."""

    title_key = ""

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.services = services
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(16)
        self.status = tech_label("")
        # Where device threads send preview frames: the panel's thread-safe, coalescing sink.
        self.preview_target: Callable[[Preview], None] = lambda _preview: None

    def t(self, key: str, **params: object) -> str:
        return self.catalogue.text("technician", key, **params)

    def entered(self) -> None:
        """The page is shown."""

    def left(self) -> None:
        """The page is hidden (or the mode left): stop devices, forget data."""
        self.clear()

    def clear(self) -> None:
        """Forgets whatever the page showed of a person."""

    def set_preview(self, preview: Preview) -> None:
        """A camera frame (GUI thread); pages showing the camera override this, the others ignore it."""


class DevicesPage(Page):
    """The doctor checks, run on entry and every 30 s while shown."""

    title_key = "page_devices"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.refresh = tech_button(self.t("refresh"))
        self.refresh.clicked.connect(self.run)
        self.rows = QGridLayout()
        self.layout_.addWidget(self.refresh)
        self.layout_.addWidget(self.status)
        self.layout_.addLayout(self.rows)
        self.layout_.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setInterval(DEVICE_REFRESH_MS)
        self._timer.timeout.connect(self.run)
        self._busy = False

    def entered(self) -> None:
        self.run()
        self._timer.start()

    def left(self) -> None:
        self._timer.stop()

    def run(self) -> None:
        if self._busy:
            return
        self._busy = True
        self.status.setText(self.t("checks_running"))
        config = self.services.config
        run_in_background(lambda: list(self.services.checks(config)), self._show, self._failed)

    def _show(self, findings: list) -> None:
        self._busy = False
        self.status.setText("")
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        words = {Status.OK: self.t("check_ok"), Status.WARNING: self.t("check_warning"), Status.FAILED: self.t("check_failed")}
        tones = {Status.OK: theme.GREEN, Status.WARNING: theme.AMBER, Status.FAILED: theme.RED}
        for row, finding in enumerate(findings):
            state = tech_label(words[finding.result.status], TECH_SMALL_PX, bold=True)
            state.setWordWrap(False)  # "注意" / "故障" must never break between its two characters
            state.setStyleSheet(f"color: {theme.ON_COLOUR}; background: {tones[finding.result.status]}; padding: 4px 12px;")
            detail = finding.result.detail + (f" — {finding.result.hint}" if finding.result.hint and finding.result.status is not Status.OK else "")
            self.rows.addWidget(state, row, 0)
            self.rows.addWidget(tech_label(finding.check.name, TECH_SMALL_PX, bold=True), row, 1)
            self.rows.addWidget(tech_label(detail, TECH_SMALL_PX), row, 2)
        self.services.audit("checks_run", failed=sum(f.result.status is Status.FAILED for f in findings))

    def _failed(self, code: str) -> None:
        self._busy = False
        self.status.setText(code)


class PreviewPage(Page):
    """A page that shows the live camera: leaving it stops the preview before forgetting what it showed."""

    def left(self) -> None:
        if self.services.stop_preview is not None:
            self.services.stop_preview()
        self.clear()


class CameraPage(PreviewPage):
    """The live camera with landmarks and the eye / mouth ratios the liveness check sees."""

    title_key = "page_camera"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.camera = CameraView(technician=True)
        self.ratios = tech_label(self.t("camera_waiting"))
        self.layout_.addWidget(self.camera, 1)
        self.layout_.addWidget(self.ratios)
        self.latest: np.ndarray | None = None

    def entered(self) -> None:
        if self.services.start_preview is None:
            self.ratios.setText(self.t("reader_unavailable_here"))
            return
        self.services.start_preview(self.preview_target)
        self.services.audit("camera_preview")

    def set_preview(self, preview: Preview) -> None:
        self.camera.set_preview(preview)
        self.latest = preview.image
        eye = "-" if preview.eye_ratio is None else f"{preview.eye_ratio:.3f}"
        mouth = "-" if preview.mouth_ratio is None else f"{preview.mouth_ratio:.3f}"
        self.ratios.setText(self.t("camera_hint", eye=eye, mouth=mouth))

    def clear(self) -> None:
        self.camera.clear()
        self.latest = None
        self.ratios.setText(self.t("camera_waiting"))


class ReaderPage(Page):
    """Reads one card and shows that it worked (card type and a masked number), nothing more."""

    title_key = "page_reader"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.read = tech_button(self.t("reader_read"))
        self.read.clicked.connect(self.run)
        self.layout_.addWidget(self.read)
        self.layout_.addWidget(self.status)
        self.layout_.addStretch(1)

    def run(self) -> None:
        if self.services.read_card is None:
            self.status.setText(self.t("reader_unavailable_here"))
            return
        self.read.setEnabled(False)
        self.status.setText(self.t("reader_reading"))
        run_in_background(self.services.read_card, self._done, self._failed)

    def _done(self, card: IdCard) -> None:
        self.read.setEnabled(True)
        card_type = str(card.card_type)
        # ``1101**********0015``: enough for staff to see the right card was read, no more.
        masked = mask_number(card.id_number, keep_head=4, keep_tail=4)
        self.status.setText(self.t("reader_ok", masked=f"{card_type} {masked}"))
        self.services.audit("reader_test", ok=True)

    def _failed(self, code: str) -> None:
        self.read.setEnabled(True)
        self.status.setText(self.t("reader_failed", code=code))
        # ``code`` is audit()'s own first parameter: the reason goes in the detail as ``reason``.
        self.services.audit("reader_test", ok=False, reason=code)

    def clear(self) -> None:
        self.status.setText("")


class EnrolPage(PreviewPage):
    """Staff-assisted enrolment: type the pensioner's ID number, take a photo, store its template.

    The template is stored encrypted with ``source="staff_enrolment"``; the photo itself is never
    stored and is dropped after saving or when the page is left.
    """

    title_key = "page_enrol"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.live = CameraView()
        self.latest: np.ndarray | None = None
        self.id_number = QLineEdit()
        self.id_number.setFont(theme.font(TECH_BODY_PX))
        self.id_number.setMaxLength(18)
        self.id_number.setMinimumHeight(theme.MIN_TOUCH_PX)
        self.id_number.setPlaceholderText(self.t("enrol_id_number"))
        self.still = QLabel()
        self.still.setMinimumSize(320, 240)
        self.still.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        self.capture = tech_button(self.t("enrol_capture"))
        self.save = tech_button(self.t("enrol_save"), kind="success")
        row.addWidget(self.capture)
        row.addWidget(self.save)
        self.layout_.addWidget(tech_label(self.t("enrol_id_number")))
        self.layout_.addWidget(self.id_number)
        pictures = QHBoxLayout()
        pictures.addWidget(self.live, 1)
        pictures.addWidget(self.still, 1)
        self.layout_.addLayout(pictures, 1)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.status)
        self.capture.clicked.connect(self.take_photo)
        self.save.clicked.connect(self.enrol)
        self.frame: np.ndarray | None = None

    def entered(self) -> None:
        if self.services.start_preview is not None:
            self.services.start_preview(self.preview_target)

    def set_preview(self, preview: Preview) -> None:
        """A live frame (GUI thread): shown, and kept as the one a "take photo" would capture."""
        self.live.set_preview(preview)
        self.latest = preview.image

    def take_photo(self) -> None:
        frame = self.latest
        if frame is None:
            self.status.setText(self.t("enrol_no_frame"))
            return
        self.frame = frame.copy()
        height, width = self.frame.shape[:2]
        image = QImage(self.frame.data, width, height, 3 * width, QImage.Format.Format_BGR888).copy()
        self.still.setPixmap(QPixmap.fromImage(image).scaled(480, 360, Qt.AspectRatioMode.KeepAspectRatio))
        self.status.setText("")

    def enrol(self) -> None:
        # The one rule of reader.idnumber (#13): what is stored is the parsed number, so full-width
        # digits typed through an input method find the person the roster holds in ASCII.
        try:
            id_number = parse_card_number(self.id_number.text()).value
        except InvalidIdNumber:
            self.status.setText(self.t("enrol_bad_id"))
            return
        if self.frame is None:
            self.status.setText(self.t("enrol_no_frame"))
            return
        if self.services.encode_face is None or self.services.store_factory is None:
            self.status.setText(self.t("reader_unavailable_here"))
            return
        frame, encode, factory = self.frame, self.services.encode_face, self.services.store_factory

        def job() -> str:
            template = encode(frame)
            with factory() as store:
                return str(store.add_reference(id_number, template, source="staff_enrolment"))

        self.save.setEnabled(False)
        run_in_background(job, self._saved, self._failed)

    def _saved(self, ref_id: str) -> None:
        self.save.setEnabled(True)
        self.services.audit("reference_enrolled", ref_id=ref_id)
        self.clear()
        self.status.setText(self.t("enrol_saved"))

    def _failed(self, code: str) -> None:
        self.save.setEnabled(True)
        self.services.audit("reference_enrol_failed", reason=code)
        self.status.setText(self.t("enrol_failed", code=code))

    def clear(self) -> None:
        self.frame = None
        self.latest = None
        self.live.clear()
        self.still.clear()
        self.id_number.clear()
        self.status.setText("")

