"""The helper mode's own screen (issue 19): the family member steps out of the camera's view.

Shown between the consent and the positioning when a family member operates the terminal: the live
camera image lets both see who is still in the picture, and the flow moves on by itself once exactly
one face (the card holder's) is in view. Nothing about the helper is shown or kept.
"""

from __future__ import annotations

from camera.errors import CameraReason
from kiosk.flow import FlowView
from kiosk.ports import Preview
from ui.camera_view import CameraView
from ui.screens.base import Screen
from ui.screens.face import show_attempt


class HelperAsideScreen(Screen):
    """"请家人离开镜头": the camera image and, while two faces are seen, a firmer second line."""

    camera_on_top = True

    def build(self) -> None:
        self.band.set_state(self.t("screen.helper_aside", "title"), "grace")
        self.title = self.label("heading", self.t("screen.helper_aside", "title"))
        self.body = self.label("large", self.t("screen.helper_aside", "body"))
        self.note = self.label("body", self.t("screen.helper_aside", "note"))
        self.attempt = self.label("body", "")
        self.text_column.addStretch(1)
        self.camera = CameraView(self)
        self.visual = self.camera

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        crowded = view.hint == CameraReason.MULTIPLE_FACES
        self.body.setText(self.t("screen.helper_aside", "waiting" if crowded else "body"))
        self.body.set_tone("grace" if crowded else None)
        self.camera.set_ok(False)
        show_attempt(self, self.attempt, "screen.helper_aside", view)  # as on the positioning and action screens

    def set_preview(self, preview: Preview) -> None:
        self.camera.set_preview(preview)

    def clear(self) -> None:
        super().clear()
        self.camera.clear()
        self.body.setText(self.t("screen.helper_aside", "body"))
        self.attempt.setText("")
