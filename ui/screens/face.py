"""Face positioning (camera image, guide oval, live hint) and the liveness actions (illustration + camera).

Both screens keep the camera image at the same place and size (it is each screen's visual; the
actions' illustration sits in the text column), so moving from positioning to the actions does not
make the person look somewhere else while they are still acting (it once shrank from 706 to 317 px).
The attempt counter shows only from the second attempt: before a first failure it is noise.
"""

from __future__ import annotations

from kiosk.flow import FlowView, HelperRequested, State
from kiosk.ports import Preview
from ui.camera_view import CameraView
from ui.illustration import ActionIllustration
from ui.screens.base import Screen
from ui.screens.status import show_helper_button
from ui.widgets import TextLabel


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
        self.helper = self.button(self.t("button", "helper"), HelperRequested(), kind="outline")
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
        show_attempt(self, self.attempt, "screen.positioning", view)

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
        self.illustration = ActionIllustration(self)
        self.text_column.addWidget(self.illustration, 1)
        self.camera = CameraView(self)
        self.visual = self.camera

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
        show_attempt(self, self.attempt, "screen.actions", view)
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


def show_attempt(screen: Screen, label: TextLabel, section: str, view: FlowView) -> None:
    """Shows "第 2 次，共 3 次" in ``label`` from the second attempt on, and hides it on the first:
    before a first failure the counter is noise to the pensioner. GUI thread."""
    first = view.attempt <= 1
    label.setText("" if first else screen.t(section, "attempt", attempt=view.attempt, attempts_max=view.attempts_max))
    label.setVisible(not first)
