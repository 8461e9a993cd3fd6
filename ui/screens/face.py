"""Face positioning (camera image, guide oval, live hint) and the liveness actions (illustration + camera).

Both screens keep the camera image at the same place, so moving from positioning to the actions
does not make the person look somewhere else while they are still acting.
"""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QWidget

from kiosk.flow import FlowView, HelperRequested, State
from kiosk.ports import Preview
from ui.camera_view import CameraView
from ui.illustration import ActionIllustration
from ui.screens.base import Screen
from ui.screens.status import show_helper_button


class PositioningScreen(Screen):
    """"Put your face in the oval", with the hint of the camera's quality gates in words."""

    camera_on_top = True

    def build(self) -> None:
        self.band.set_state(self.t("screen.positioning", "title"), "neutral")
        self.title = self.label("heading", self.t("screen.positioning", "title"))
        self.hint = self.label("large", self.t("screen.positioning", "body"))
        self.attempt = self.label("body", "")
        self.text_column.addStretch(1)
        self.camera = CameraView(self)
        self.visual = self.camera
        # Offered by voice when a second face is seen (issue 19): the family member taps it.
        self.helper = self.button(self.t("button", "helper"), HelperRequested(), kind="neutral")
        self.helper.setVisible(False)

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        show_helper_button(self, self.helper, view, offered=view.helper_offered)
        if view.hint:
            self.hint.setText(self.catalogue.hint_text(view.hint))
            self.hint.set_tone("grace")
            self.camera.set_ok(False)
        elif view.last_prompt is not None and view.last_prompt.prompt == "face_ok":
            self.hint.setText(self.t("screen.positioning", "ok"))
            self.hint.set_tone("success")
            self.camera.set_ok(True)
        else:
            self.hint.setText(self.t("screen.positioning", "body"))
            self.hint.set_tone(None)
            self.camera.set_ok(False)
        self.attempt.setText(self.t("screen.positioning", "attempt", attempt=max(1, view.attempt), attempts_max=view.attempts_max))

    def set_preview(self, preview: Preview) -> None:
        self.camera.set_preview(preview)

    def clear(self) -> None:
        super().clear()
        self.camera.clear()
        show_helper_button(self, self.helper, FlowView(State.IDLE), offered=False)
        self.hint.setText(self.t("screen.positioning", "body"))
        self.attempt.setText("")


class ActionsScreen(Screen):
    """One action at a time: a big animated face doing it, the words, the voice; done actions ticked."""

    camera_on_top = True

    def build(self) -> None:
        self.band.set_state(self.t("screen.actions", "title"), "neutral")
        self.instruction = self.label("heading", "")
        self.hint = self.label("body", "")
        self.done = self.label("body", "")
        self.attempt = self.label("body", "")
        self.helper_note = self.label("body", self.t("screen.actions", "helper_note"), tone="grace")
        self.helper_note.setVisible(False)
        self.text_column.addStretch(1)
        visual = QWidget(self)
        self._visual_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom, visual)
        self._visual_layout.setContentsMargins(0, 0, 0, 0)
        self.illustration = ActionIllustration(visual)
        self.camera = CameraView(visual)
        self._visual_layout.addWidget(self.illustration, 3)
        self._visual_layout.addWidget(self.camera, 2)
        self.visual = visual

    def set_orientation(self, portrait: bool) -> None:
        super().set_orientation(portrait)
        self._visual_layout.setDirection(QBoxLayout.Direction.LeftToRight if portrait else QBoxLayout.Direction.TopToBottom)

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        action = view.action
        self.illustration.set_action(action)
        if action:
            self.instruction.setText(self.catalogue.raw("prompt", f"action_{action}"))
        elif view.actions_done:
            self.instruction.setText(self.catalogue.raw("prompt", "action_done"))
        self.hint.setText(self.catalogue.hint_text(view.hint) if view.hint else "")
        self.hint.set_tone("grace" if view.hint else None)
        self.hint.setVisible(bool(view.hint))
        self.camera.set_ok(not view.hint)
        ticks = [self.t("screen.actions", "done") + "：" + self.catalogue.raw("prompt", f"action_{a}").rstrip("。")
                 for a in view.actions_done]
        self.done.setText("\n".join("✓ " + tick for tick in ticks))
        self.done.set_tone("success")
        self.attempt.setText(self.t("screen.actions", "attempt", attempt=max(1, view.attempt), attempts_max=view.attempts_max))
        self.helper_note.setVisible(view.assisted)

    def set_preview(self, preview: Preview) -> None:
        self.camera.set_preview(preview)

    def clear(self) -> None:
        super().clear()
        self.camera.clear()
        self.helper_note.setVisible(False)
        self.illustration.set_action(None)
        for widget in (self.instruction, self.hint, self.done, self.attempt):
            widget.setText("")
