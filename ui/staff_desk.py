"""The staff desk: a staff member's overlay at the terminal (issue 17, item 2), opened by one gesture
(press and hold the top-right corner for :data:`HOLD_S` seconds, on any screen but the technician's).

1. *Who*: the staff member touches their own name (the hall's active ``verifier`` accounts), then
   types their own PIN (:class:`kiosk.staff_accounts.StaffSignIn`: locks after wrong entries, audited).
   Signing in posts :class:`~kiosk.flow.StaffSignedIn`: every open staff call is acknowledged.
2. *Face-to-face check* (面对面认证), when a person's card was read (status, consent or result
   screen): the staff member checks the person against the ID card (the masked name is shown), picks
   a reason, asks for consent to an evidence photo (with consent the photo is taken from the camera;
   refused: no photo), and confirms: :class:`~kiosk.flow.StaffVerified` goes to the flow.

Privacy: the photo is held only until it is posted or the desk closes; the desk closes when the
person's session ends. Thread rule: GUI thread only; camera frames arrive through a
:class:`~ui.camera_view.PreviewMailbox`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from kiosk.flow import Event, FlowView, StaffSignedIn, StaffVerified, State
from kiosk.ports import Preview
from kiosk.staff_accounts import SignInResult, StaffSignIn
from kiosk.store.staff import StaffAccount
from kiosk.technician import PIN_MAX_DIGITS
from ui import theme
from ui.camera_view import CameraView, PreviewMailbox
from ui.catalogue import Catalogue
from ui.widgets import BigButton, TextLabel
from wire.codes import StaffVerifiedReason

log = logging.getLogger(__name__)

HOLD_S = 2.0
"""How long the top-right corner is held to open the desk (seconds): longer than any tap."""

CORNER_PX = 160
CHECK_STATES = frozenset({State.STATUS, State.CONSENT, State.RESULT})
"""Screens on which a person's card has been read and staff may certify them face to face."""

PHOTO_JPEG_QUALITY = 85


class StaffDesk(QWidget):
    """The overlay. ``post`` receives flow events; ``closed`` when done, cancelled or idle for
    ``idle_timeout_s``. ``start_preview`` / ``stop_preview`` reach the camera (None: no photo)."""

    closed = Signal()

    def __init__(self, catalogue: Catalogue, sign_in: StaffSignIn, accounts: list[StaffAccount], view: FlowView,
                 post: Callable[[Event], None], parent: QWidget | None = None, *,
                 start_preview: Callable[[Callable[[Preview], None]], None] | None = None,
                 stop_preview: Callable[[], None] | None = None, idle_timeout_s: float = 120.0) -> None:
        super().__init__(parent)
        self._catalogue = catalogue
        self._sign_in = sign_in
        self._post = post
        self._view = view
        self._start_preview, self._stop_preview = start_preview, stop_preview
        self._previewing = False
        self._mailbox = PreviewMailbox(self._draw, self)
        self._last_frame: np.ndarray | None = None
        self.staff: StaffAccount | None = None
        self.chosen: StaffAccount | None = None
        self.reason: str | None = None
        self.consent: bool | None = None
        self.photo_jpeg: bytes | None = None
        self._digits = ""
        self.camera: CameraView | None = None  # on the check page
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(int(idle_timeout_s * 1000))
        self._idle.timeout.connect(self.close_desk)
        self._idle.start()
        self.setObjectName("staff_desk")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"QWidget#staff_desk {{ background: {theme.PAPER_SOFT}; }}")
        self.m = m = theme.metrics(False)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(m.margin_px, m.margin_px // 2, m.margin_px, m.margin_px // 2)
        self._layout.setSpacing(m.spacing_px)
        self.title = TextLabel("heading", m, self, align=Qt.AlignmentFlag.AlignCenter)
        self.message = TextLabel("body", m, self, align=Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.title)
        self._layout.addWidget(self.message)
        self._body = QWidget(self)
        self._layout.addWidget(self._body, 1)
        bottom = QHBoxLayout()
        self.cancel = BigButton(self.t("cancel"), m, self, kind="quiet")
        self.cancel.setObjectName("staff_cancel")
        self.cancel.clicked.connect(self.close_desk)
        bottom.addWidget(self.cancel)
        self._layout.addLayout(bottom)
        self._show_accounts(accounts)

    def set_view(self, view: FlowView) -> None:
        """The flow's latest view (the screen under the desk may move on, e.g. status to consent)."""
        self._view = view

    def t(self, key: str, **params: object) -> str:
        """A text of the catalogue's ``[staff]`` section."""
        return self._catalogue.text("staff", key, **params)

    # --- step 1: who ---

    def _new_body(self) -> QGridLayout:
        old = self._body
        self._layout.removeWidget(old)
        old.hide()  # at once: deleteLater waits for the event loop, and the old page would show meanwhile
        old.deleteLater()
        self._body = QWidget(self)
        self._layout.insertWidget(2, self._body, 1)
        # Shown by the caller once filled (_reveal): children made inside a visible widget would stay hidden.
        self._body.hide()
        grid = QGridLayout(self._body)
        grid.setSpacing(self.m.spacing_px)
        return grid

    def _show_accounts(self, accounts: list[StaffAccount]) -> None:
        self.title.setText(self.t("who_title"))
        self.message.setText("" if accounts else self.t("no_accounts"))
        grid = self._new_body()
        for index, account in enumerate(accounts[:12]):
            button = BigButton(f"{account.name}  {account.staff_number}", self.m, self._body, kind="neutral")
            button.setObjectName(f"staff_account_{account.staff_number}")
            button.clicked.connect(lambda _=False, a=account: self.choose(a))
            grid.addWidget(button, index // 3, index % 3)
        self._reveal()

    def _reveal(self) -> None:
        self._body.show()

    def choose(self, account: StaffAccount) -> None:
        """A name was touched: the PIN pad for that staff member."""
        self._idle.start()
        self.chosen, self._digits = account, ""
        self.title.setText(self.t("pin_title", name=account.name))
        self.message.setText("—")
        grid = self._new_body()
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]
        for index, key in enumerate(keys):
            text = self.t(f"pin_{key}") if key in ("clear", "ok") else key
            button = BigButton(text, self.m, self._body, kind="success" if key == "ok" else "neutral")
            button.setObjectName(f"staff_pin_{key}")
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(button, index // 3, index % 3)
        self._reveal()

    def press(self, key: str) -> None:
        """One key of the PIN pad: a digit, ``clear`` or ``ok``."""
        self._idle.start()
        if key == "ok":
            self._submit()
            return
        self._digits = "" if key == "clear" else (self._digits + key)[:PIN_MAX_DIGITS]
        self.message.setText("●" * len(self._digits) if self._digits else "—")

    def _submit(self) -> None:
        assert self.chosen is not None
        pin, self._digits = self._digits, ""
        answer = self._sign_in.with_pin(self.chosen.staff_number, pin)  # ~0.2 s of scrypt, as the technician pad
        if answer.result is SignInResult.ACCEPTED and answer.account is not None:
            self.staff = answer.account
            self._post(StaffSignedIn(answer.account.staff_number))
            self.show_check() if self._view.state in CHECK_STATES and self._view.person else self._show_signed_in()
            return
        if answer.result is SignInResult.LOCKED:
            self.message.setText(self.t("pin_locked", minutes=max(1, math.ceil(answer.locked_s / 60))))
        else:
            self.message.setText(self.t("pin_wrong", left=answer.tries_left))

    def _show_signed_in(self) -> None:
        assert self.staff is not None
        self.title.setText(self.t("signed_in_title", name=self.staff.name))
        self.message.setText(self.t("signed_in_no_person"))
        self._new_body()
        self._reveal()
        self.cancel.setText(self.t("done"))

    # --- step 2: the face-to-face check ---

    def show_check(self) -> None:
        """The check of the person in front of the staff member against their ID card."""
        assert self.staff is not None
        person = self._view.person
        self.title.setText(self.t("check_title"))
        self.message.setText(self.t("check_body", name=person.display_name if person else ""))
        grid = self._new_body()
        self.reason_buttons: dict[str, BigButton] = {}
        for index, reason in enumerate(StaffVerifiedReason):
            button = BigButton(self.t(f"reason_{reason}"), self.m, self._body, kind="outline")
            button.setObjectName(f"staff_reason_{reason}")
            button.clicked.connect(lambda _=False, r=str(reason): self.pick_reason(r))
            grid.addWidget(button, index // 3, index % 3)
            self.reason_buttons[str(reason)] = button
        row = len(self.reason_buttons) // 3 + 1
        self.consent_yes = BigButton(self.t("consent_yes"), self.m, self._body, kind="outline")
        self.consent_yes.setObjectName("staff_consent_yes")
        self.consent_yes.clicked.connect(lambda: self.set_consent(True))
        self.consent_no = BigButton(self.t("consent_no"), self.m, self._body, kind="outline")
        self.consent_no.setObjectName("staff_consent_no")
        self.consent_no.clicked.connect(lambda: self.set_consent(False))
        grid.addWidget(self.consent_yes, row, 0)
        grid.addWidget(self.consent_no, row, 1)
        self.camera = CameraView(self._body)
        self.camera.setMinimumSize(320, 240)
        grid.addWidget(self.camera, row, 2, 2, 1)
        self.take_photo = BigButton(self.t("take_photo"), self.m, self._body, kind="neutral")
        self.take_photo.setObjectName("staff_take_photo")
        self.take_photo.clicked.connect(self.capture)
        self.confirm = BigButton(self.t("confirm"), self.m, self._body, kind="success")
        self.confirm.setObjectName("staff_confirm")
        self.confirm.clicked.connect(self.confirm_check)
        grid.addWidget(self.take_photo, row + 1, 0)
        grid.addWidget(self.confirm, row + 1, 1)
        self._refresh_check()
        self._reveal()

    def pick_reason(self, reason: str) -> None:
        """A reason from the list (:class:`wire.codes.StaffVerifiedReason`)."""
        self._idle.start()
        self.reason = reason
        self._refresh_check()

    def set_consent(self, consent: bool) -> None:
        """The person's answer to the evidence photo; with consent the camera starts."""
        self._idle.start()
        self.consent = consent
        if consent and self._start_preview is not None and not self._previewing:
            self._previewing = True
            self._start_preview(self._mailbox.put)
        if not consent:
            self._stop_camera()
            self.photo_jpeg = None
        self._refresh_check()

    def capture(self) -> None:
        """Keeps the latest camera frame as the evidence photo (JPEG)."""
        self._idle.start()
        if self._last_frame is None:
            self.message.setText(self.t("no_camera"))
            return
        import cv2  # noqa: PLC0415 - only when a photo is taken

        ok, encoded = cv2.imencode(".jpg", self._last_frame, [cv2.IMWRITE_JPEG_QUALITY, PHOTO_JPEG_QUALITY])
        self.photo_jpeg = encoded.tobytes() if ok else None
        self._stop_camera()
        self._refresh_check()

    def ready(self) -> bool:
        """A reason is picked and consent answered (with consent: the photo taken)."""
        return self.reason is not None and (self.consent is False or (self.consent is True and self.photo_jpeg is not None))

    def confirm_check(self) -> None:
        """Posts the face-to-face certification and closes the desk."""
        if not self.ready() or self.staff is None or self.reason is None:
            return
        self._post(StaffVerified(self.staff.staff_number, self.reason, self.photo_jpeg if self.consent else None))
        self.close_desk()

    def _refresh_check(self) -> None:
        for reason, button in self.reason_buttons.items():
            button.set_kind("success" if reason == self.reason else "outline")
        self.consent_yes.set_kind("success" if self.consent is True else "outline")
        self.consent_no.set_kind("success" if self.consent is False else "outline")
        can_photo = self._start_preview is not None
        self.take_photo.setVisible(self.consent is True and can_photo)
        self.camera.setVisible(self.consent is True and can_photo)
        self.take_photo.setText(self.t("retake_photo") if self.photo_jpeg else self.t("take_photo"))
        self.confirm.setEnabled(self.ready())
        if self.consent is True and not can_photo:
            self.message.setText(self.t("no_camera"))

    # --- camera and closing ---

    def _draw(self, preview: Preview) -> None:
        self._last_frame = preview.image
        if self.camera is not None:
            self.camera.set_preview(preview)

    def _stop_camera(self) -> None:
        if self._previewing and self._stop_preview is not None:
            self._stop_preview()
        self._previewing = False
        self._mailbox.drop()

    def close_desk(self) -> None:
        """Stops the camera, forgets the photo and the PIN, and says closed."""
        self._idle.stop()
        self._stop_camera()
        self._last_frame = None
        self.photo_jpeg = None
        self._digits = ""
        self.closed.emit()
