"""Where the person stands (certified until / due / grace / overdue / suspended) and the consent question."""

from __future__ import annotations

from kiosk.flow import ConsentGiven, ConsentRefused, FlowView, HelperRequested, StartRequested, State
from kiosk.policy import CycleState
from ui.screens.base import Screen
from ui.widgets import BigButton


class StatusScreen(Screen):
    """Greets the person by their masked name and says their certification status in words and colour."""

    def build(self) -> None:
        self.title = self.label("heading", self.t("screen.status", "title_no_name"))
        self.fact = self.label("large", "")
        self.note = self.label("body", "")
        self.back_pay = self.label("body", "")
        self.review = self.label("body", "")
        self.question = self.label("body", self.t("screen.status", "question"))
        self.helper_note = self.label("body", self.t("screen.status", "helper_on"), tone="grace")
        self.helper_note.setVisible(False)
        self.text_column.addStretch(1)
        # Issue 19: one large button for a son or daughter who does the tapping.
        self.helper = self.button(self.t("button", "helper"), HelperRequested(), kind="outline")
        self.start = self.button(self.t("button", "start"), StartRequested(), kind="success")
        self.add_language_switch()

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        show_helper_button(self, self.helper, view, offered=True)
        self.helper_note.setVisible(view.assisted)
        person = view.person
        name = person.display_name if person else ""
        self.title.setText(self.t("screen.status", "title", name=name) if name else self.t("screen.status", "title_no_name"))
        status = person.status if person else None
        self.back_pay.setText("")
        self.back_pay.setVisible(False)
        if status is None:
            tone, word = "neutral", "state_never"
            self.fact.setText(self.t("screen.status", "never_certified"))
            self.note.setText("")
        elif status.payment_suspended:
            tone, word = "failure", "state_suspended"
            self.fact.setText(self.t("screen.status", "suspended", suspended_from=status.suspended_from))
            self.note.setText(self.t("screen.status", "suspended_note"))
            if status.back_pay_months > 0:
                self.back_pay.setText(self.t("screen.status", "back_pay", back_pay_months=status.back_pay_months))
                self.back_pay.setVisible(True)
        elif status.state is CycleState.VALID:
            tone, word = "success", "state_valid"
            self.fact.setText(self.t("screen.status", "valid", due_date=status.due_date))
            self.note.setText(self.t("screen.status", "valid_note"))
        elif status.state is CycleState.GRACE:
            tone, word = "grace", "state_grace"
            self.fact.setText(self.t("screen.status", "grace", due_date=status.due_date))
            self.note.setText(self.t("screen.status", "grace_note", grace_until=status.grace_until))
        else:
            tone, word = "failure", "state_overdue"
            self.fact.setText(self.t("screen.status", "overdue"))
            self.note.setText(self.t("screen.status", "overdue_note", suspended_from=status.suspended_from))
        self.note.setVisible(bool(self.note.text()))
        review = person.review if person else None
        self.review.setText(self.t("screen.status", f"review_{review}") if review else "")
        self.review.setVisible(review is not None)
        self.band.set_state(self.t("screen.status", word), tone)
        self.fact.set_tone(tone)

    def clear(self) -> None:
        super().clear()
        self.title.setText(self.t("screen.status", "title_no_name"))
        for widget in (self.fact, self.note, self.back_pay, self.review):
            widget.setText("")
        self.helper_note.setVisible(False)
        show_helper_button(self, self.helper, FlowView(State.IDLE), offered=True)  # for the next person
        self.band.set_state("", "neutral")


def show_helper_button(screen: Screen, button: BigButton, view: FlowView, *, offered: bool) -> None:
    """Shows "家人帮忙操作" where it is offered and the session is not helped yet."""
    visible = offered and not view.assisted
    if button.isHidden() == visible:
        button.setVisible(visible)
        screen.relayout_buttons()


class ConsentScreen(Screen):
    """Separate, explicit consent for the face check (PIPL art. 29); refusing routes to the counter.

    What happens to the photo is said as the region configured it (``sync.send_face_images``):
    :meth:`set_face_images_sent` is called by the main window.
    """

    def build(self) -> None:
        self.band.set_state(self.t("screen.consent", "title"), "neutral")
        self.title = self.label("heading", self.t("screen.consent", "title"))
        self.body = self.label("body", self.t("screen.consent", "body"))
        self.storage = self.label("body", self.t("screen.consent", "kept_local"))
        self.counter = self.label("body", self.t("screen.consent", "counter"))
        self.text_column.addStretch(1)
        self.disagree = self.button(self.t("button", "disagree"), ConsentRefused(), kind="outline")
        self.helper = self.button(self.t("button", "helper"), HelperRequested(), kind="outline")
        self.helper.setVisible(False)
        self.agree = self.button(self.t("button", "agree"), ConsentGiven(), kind="success")

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        show_helper_button(self, self.helper, view, offered=view.helper_offered)

    def clear(self) -> None:
        super().clear()
        show_helper_button(self, self.helper, FlowView(State.IDLE), offered=False)

    def set_face_images_sent(self, sent: bool) -> None:
        """Says whether the photo stays on the terminal or is sent to the centre."""
        self.storage.setText(self.t("screen.consent", "sent_to_center" if sent else "kept_local"))
