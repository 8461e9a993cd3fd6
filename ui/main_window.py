"""The kiosk window: one stacked screen per flow state, driven by views from the session controller.

* ``on_view`` / ``on_preview`` may be called from any thread (the controller's, the camera's):
  they are marshalled to the GUI thread by queued signals; previews are coalesced so a slow paint
  never builds a backlog (only the newest frame is drawn).
* Touches go back as flow events through ``post`` (the controller's thread-safe ``post``).
* The screen shown is always the flow's state: the UI never switches screens on its own (no
  pop-ups, no timers of its own), so nothing changes under a person's finger; timeouts and their
  spoken reminders are the flow's.
* Privacy: when a session ends (the state returns to idle, or a new session id starts) every screen
  is cleared, the camera frames dropped and the voice silenced *before* the next screen shows.
* The hidden technician gesture (5 taps in the top-left corner within 3 s) opens the PIN pad.
* Holding the top-right corner for 2 s opens the staff desk (:mod:`ui.staff_desk`): a staff member
  signs in with their own PIN (acknowledging the terminal's staff calls) and may certify the person
  face to face.

Thread rule: construct and use on the GUI thread, except ``on_view``/``on_preview``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QAbstractButton, QStackedWidget, QVBoxLayout, QWidget

from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig
from kiosk.flow import Event, FlowView, IdleTouched, RepeatRequested, Speak, State, TechnicianEntered, TechnicianLeft, UserActive
from kiosk.ports import Preview, ScreenVoice
from kiosk.staff_accounts import StaffSignIn, staff_sign_in
from kiosk.technician import CornerTaps, PinGuard, technician_pin_guard
from ui.catalogue import Catalogue
from ui.dialects import other_language
from ui import theme
from ui.camera_view import PreviewMailbox
from ui.receipt import escpos_bytes, print_receipt, receipt_lines
from ui.screens import Screen, build_screens
from ui.screens.result import ResultScreen
from ui.screens.status import ConsentScreen
from ui.staff_desk import CORNER_PX as STAFF_CORNER_PX, HOLD_S, StaffDesk

if TYPE_CHECKING:
    from ui.technician.panel import TechnicianPanel

log = logging.getLogger(__name__)

LANDSCAPE_SIZE = (1920, 1080)
PORTRAIT_SIZE = (1080, 1920)
USER_ACTIVE_EVERY_S = 2.0  # at most one UserActive per this many seconds (touch storms from tremor)


class MainWindow(QWidget):
    """The full-screen window. ``post`` receives flow events; ``voice`` plays and silences prompts."""

    view_arrived = Signal(object)
    shown_state = Signal(str)  # emitted after a screen is shown (tests, technician log)

    def __init__(self, config: KioskConfig, catalogue: Catalogue, post: Callable[[Event], None], *,
                 voice: ScreenVoice | None = None, clock: Clock | None = None,
                 technician_panel: TechnicianPanel | None = None,
                 portrait: bool | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.catalogue = catalogue
        self._post = post
        self.voice = voice
        self._clock = clock or SystemClock()
        self.portrait = config.ui.orientation == "portrait" if portrait is None else portrait
        self.setWindowTitle("kiosk")
        self.setObjectName("kiosk_main")
        self.setStyleSheet(f"QWidget#kiosk_main {{ background: {theme.PAPER}; }}")
        self.setFont(theme.font(theme.metrics(self.portrait).body_px))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget(self)
        layout.addWidget(self.stack)
        self.technician_panel = technician_panel
        self.screens: dict[State, Screen] = build_screens(catalogue, self.portrait, technician_panel)
        for screen in self.screens.values():
            self.stack.addWidget(screen)
            screen.event_requested.connect(self._screen_event)
            screen.language_requested.connect(self._switch_language)
        consent = self.screens[State.CONSENT]
        assert isinstance(consent, ConsentScreen)
        consent.set_face_images_sent(config.sync.send_face_images)
        result = self.screens[State.RESULT]
        assert isinstance(result, ResultScreen)
        result.printer_configured = bool(config.ui.receipt_printer_url)
        result.manual_review_days = config.rules.manual_review_working_days
        result.print_requested.connect(self._print_receipt)
        self.view: FlowView = FlowView(State.IDLE)
        self._previews = PreviewMailbox(self._draw_preview, self)
        self._last_active = -1e9
        self._taps = CornerTaps(self._clock)
        # Built by the core: the lockout state file and the lockout alarm in the audit log.
        self.pin_guard: PinGuard = technician_pin_guard(config, self._clock)
        self._pin_pad: QWidget | None = None
        self.staff_sign_in: StaffSignIn = staff_sign_in(config, self._clock)
        self._staff_desk: StaffDesk | None = None
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.setInterval(int(HOLD_S * 1000))
        self._hold.timeout.connect(self.open_staff_desk)
        self.view_arrived.connect(self.show_view, Qt.ConnectionType.QueuedConnection)
        self.set_orientation(self.portrait)
        self.language = config.ui.voice_language
        self._set_language(self.language)
        self.show_view(self.view)

    # --- from the controller (any thread) ---

    def on_view(self, view: FlowView) -> None:
        """Thread-safe: shows ``view`` on the GUI thread."""
        self.view_arrived.emit(view)

    def on_preview(self, preview: Preview) -> None:
        """Thread-safe: draws ``preview`` on the GUI thread; frames arriving faster than painting are dropped."""
        self._previews.put(preview)

    # --- on the GUI thread ---

    @Slot(object)
    def show_view(self, view: FlowView) -> None:
        """Renders ``view``: wipes the last person first when their session ended."""
        previous = self.view
        session_ended = (view.state in (State.IDLE, State.MAINTENANCE, State.TECHNICIAN) and previous.state != view.state) \
            or (view.session_id != previous.session_id and previous.session_id is not None)
        if session_ended:
            # The voice is silenced only where nothing new is said: on entering a new session or the
            # maintenance screen, the new screen's prompt (already queued) has cut the old one off.
            self.wipe(silence=view.state in (State.IDLE, State.TECHNICIAN))
        if view.state is State.IDLE and not view.take_card and (previous.state is not State.IDLE or previous.take_card):
            self._set_language(self.config.ui.voice_language)  # the visit is over: the terminal's own voice
        self.view = view
        if self._pin_pad is not None and view.state not in (State.IDLE, State.MAINTENANCE):
            self._pin_pad_closed()  # a person put a card down: their screen must not stay covered
        if self._staff_desk is not None and (session_ended or view.state is State.TECHNICIAN):
            self._staff_desk.close_desk()  # the person left: nothing of theirs stays on the desk
        elif self._staff_desk is not None:
            self._staff_desk.set_view(view)
        panel = self.technician_panel
        if panel is not None:
            if view.state is State.TECHNICIAN and previous.state is not State.TECHNICIAN:
                panel.activate()
            elif view.state is not State.TECHNICIAN and previous.state is State.TECHNICIAN:
                panel.deactivate()
        screen = self.screens[view.state]
        screen.show_view(view)
        if self.stack.currentWidget() is not screen:
            self.stack.setCurrentWidget(screen)
        self.shown_state.emit(str(view.state))

    def wipe(self, silence: bool = True) -> None:
        """Forgets everything of the last person: every screen's texts and frames, the preview, and
        (when ``silence``) whatever the voice is saying."""
        self._previews.drop()
        for screen in self.screens.values():
            screen.clear()
        if silence and self.voice is not None:
            self.voice.stop()

    def _draw_preview(self, preview: Preview) -> None:
        self.screens[self.view.state].set_preview(preview)

    def _set_language(self, language: str) -> None:
        self.language = language
        if self.voice is not None:
            self.voice.set_language(language)
        for screen in self.screens.values():
            screen.offer_language(other_language(language))

    def _switch_language(self) -> None:
        """The person pressed 听粤语 / 听普通话: the other voice, and this screen's words again in it."""
        if self.voice is None:
            return
        self._set_language(other_language(self.language))
        if self.view.state is State.IDLE:
            self.voice.speak(Speak("remove_card" if self.view.take_card else "idle_welcome"))
        elif self.view.last_prompt is not None:
            self.voice.speak(self.view.last_prompt)

    def _screen_event(self, event: Event) -> None:
        if self.view.state is State.IDLE and isinstance(event, RepeatRequested) and self.voice is not None:
            # The flow has no prompt in idle: the screen's own words (the card left behind, or the invitation).
            self.voice.speak(Speak("remove_card" if self.view.take_card else "idle_welcome"))
            return
        self._post(event)

    def set_orientation(self, portrait: bool) -> None:
        """Lays every screen out for the orientation and sets the window's native size."""
        self.portrait = portrait
        for screen in self.screens.values():
            screen.set_orientation(portrait)
        width, height = PORTRAIT_SIZE if portrait else LANDSCAPE_SIZE
        self.fit_to_screen(width, height)

    def fit_to_screen(self, width: int, height: int) -> None:
        """Fixes the window to ``width`` x ``height`` px (the screen's size): no page may grow it
        past the screen, which would push the person's buttons below its edge (seen once: the
        device page grew the window to 1920x1395 for good). Long pages scroll inside themselves."""
        self.setFixedSize(width, height)

    # --- touches: activity, the hidden gesture ---

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        # Count a press once, where it enters this window (its QWindow): the same press travels on
        # to the widget under the finger and up through its parents, which would count it again.
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent) \
                and watched is self.windowHandle():
            self._touched(event.globalPosition().toPoint())
            self._hold_started(event.globalPosition().toPoint())
        elif event.type() == QEvent.Type.MouseButtonRelease and watched is self.windowHandle():
            self._hold.stop()
        return False

    def _hold_started(self, global_pos) -> None:  # noqa: ANN001 - QPoint
        """A press in the top-right corner starts the staff desk's hold (released early: nothing)."""
        pos = self.mapFromGlobal(global_pos)
        in_corner = pos.x() >= self.width() - STAFF_CORNER_PX and pos.y() < STAFF_CORNER_PX
        if in_corner and self.view.state is not State.TECHNICIAN and self._staff_desk is None and self._pin_pad is None:
            self._hold.start()
        else:
            self._hold.stop()

    def open_staff_desk(self) -> None:
        """Shows the staff desk over the current screen (see :mod:`ui.staff_desk`)."""
        if self._staff_desk is not None or self.view.state is State.TECHNICIAN:
            return
        services = self.technician_panel.services if self.technician_panel is not None else None
        desk = StaffDesk(self.catalogue, self.staff_sign_in, self.staff_sign_in.accounts(), self.view, self._post, self,
                         start_preview=services.start_preview if services else None,
                         stop_preview=services.stop_preview if services else None)
        desk.closed.connect(self._staff_desk_closed)
        desk.setGeometry(self.rect())
        desk.show()
        desk.raise_()
        self._staff_desk = desk

    def _staff_desk_closed(self) -> None:
        if self._staff_desk is not None:
            self._staff_desk.deleteLater()
            self._staff_desk = None

    def _on_button(self, pos) -> bool:  # noqa: ANN001 - QPoint in window coordinates
        """True when ``pos`` lies on a button (or a widget inside one)."""
        widget = self.childAt(pos)
        while widget is not None and widget is not self:
            if isinstance(widget, QAbstractButton):
                return True
            widget = widget.parentWidget()
        return False

    def _touched(self, global_pos) -> None:  # noqa: ANN001 - QPoint
        pos = self.mapFromGlobal(global_pos)
        if self.view.state in (State.IDLE, State.MAINTENANCE) and self._taps.touch(pos.x(), pos.y()):
            self.open_pin_pad()
            return
        now = self._clock.monotonic()
        if self.view.state is State.IDLE and self._pin_pad is None and not self._taps.counting \
                and not self._on_button(pos):
            # The flow decides whether to speak the invitation: it also speaks it when someone walks
            # up, and one place keeps the two from following each other. A press on a button is
            # left to the button ("再听一遍" speaks the invitation itself; help calls staff).
            self._post(IdleTouched())
        if self.view.state is not State.IDLE and now - self._last_active >= USER_ACTIVE_EVERY_S:
            self._last_active = now
            if self.view.state is not State.TECHNICIAN:
                self._post(UserActive())

    def open_pin_pad(self) -> None:
        """Shows the technician PIN pad over the current screen."""
        from ui.technician.pin_pad import PinPad

        if self._pin_pad is not None:
            return
        pad = PinPad(self.catalogue, self.pin_guard, self, idle_timeout_s=self.config.technician.idle_timeout_s)
        pad.accepted.connect(self._technician_accepted)
        pad.closed.connect(self._pin_pad_closed)
        if self.technician_panel is not None:
            audit = self.technician_panel.services.audit
            pad.answered.connect(lambda result: audit(f"pin_{result}"))
        pad.setGeometry(self.rect())
        pad.show()
        pad.raise_()
        self._pin_pad = pad

    def _pin_pad_closed(self) -> None:
        if self._pin_pad is not None:
            self._pin_pad.deleteLater()
            self._pin_pad = None

    def _technician_accepted(self) -> None:
        self._pin_pad_closed()
        self._post(TechnicianEntered())

    def leave_technician(self) -> None:
        """Asks the flow to leave the technician mode (the panel's button and its idle timer)."""
        self._post(TechnicianLeft())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._pin_pad is not None:
            self._pin_pad.setGeometry(self.rect())
        if self._staff_desk is not None:
            self._staff_desk.setGeometry(self.rect())

    # --- the receipt ---

    def _print_receipt(self) -> None:
        result = self.screens[State.RESULT]
        assert isinstance(result, ResultScreen)
        view = result.last_view()
        url = self.config.ui.receipt_printer_url
        if view is None or not url:
            return
        lines = receipt_lines(self.catalogue, view, self.config.terminal.hall_name, self._clock.now(),
                              self.config.rules.manual_review_working_days)
        if lines:
            job = escpos_bytes(self.catalogue.text("receipt", "title"), lines, self.catalogue.text("receipt", "footer"))
            print_receipt(url, job)
