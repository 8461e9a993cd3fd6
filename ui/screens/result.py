"""The result: success with the next due date; failure with the reason, the next step and the way on."""

from __future__ import annotations

from PySide6.QtCore import Signal

from kiosk.flow import Finished, FlowView, ManualReviewRequested, RetryRequested
from kiosk.reasons import CERTIFYING_OUTCOMES, NextStep, Outcome
from ui.illustration import ResultIcon
from ui.screens.base import Screen


class ResultScreen(Screen):
    """Says pass or fail in words, colour and voice; never a score. ``print_requested`` asks the main
    window for a receipt (shown only when a printer is configured)."""

    print_requested = Signal()
    printer_configured = False
    manual_review_days = 3  # rules.manual_review_working_days, set by the main window

    def build(self) -> None:
        self.title = self.label("heading", "")
        self.fact = self.label("large", "")
        self.reason = self.label("body", "")
        self.next_step = self.label("body", "")
        self.attempts = self.label("body", "")
        self.text_column.addStretch(1)
        self.retry = self.button(self.t("button", "retry"), RetryRequested(), kind="success")
        self.manual_review = self.button(self.t("button", "manual_review"), ManualReviewRequested(), kind="neutral")
        self.receipt = self.button(self.t("button", "print_receipt"), kind="outline")
        self.receipt.clicked.connect(self.print_requested)
        self.finish = self.button(self.t("button", "finish"), Finished(), kind="neutral")
        # One primary button per decision: the way on (retry, review) is filled, "done" beside it
        # is only outlined, so a failure does not offer "done" as an equal choice.
        self._view: FlowView | None = None
        self.icon = ResultIcon(self)
        self.visual = self.icon

    def show_view(self, view: FlowView) -> None:
        super().show_view(view)
        self._view = view
        outcome = view.outcome or Outcome.DEVICE_ERROR
        certified = outcome in CERTIFYING_OUTCOMES
        manual = outcome == Outcome.MANUAL_REVIEW_REQUESTED
        if certified:
            tone, title = "success", self.t("screen.result", "success_title")
            self.fact.setText(self.t("screen.result", "success_body", valid_until=view.valid_until) if view.valid_until else "")
            self.reason.setText(self.t("screen.result", "success_note"))
        elif outcome == Outcome.CONSENT_REFUSED:
            # Not a failure: "不同意也没关系" was promised on the consent screen.
            tone, title = "neutral", self.t("screen.result", "consent_refused_title")
            self.fact.setText("")
            self.reason.setText(self.catalogue.reason_or_fallback(outcome))
        elif manual:
            tone, title = "neutral", self.t("screen.result", "manual_review_title")
            self.fact.setText(self.t("screen.result", "manual_review_days", days=self.manual_review_days))
            self.reason.setText(self.catalogue.reason_or_fallback(outcome))
        else:
            tone, title = "failure", self.t("screen.result", "failure_title")
            self.fact.setText("")
            self.reason.setText(self.catalogue.reason_or_fallback(outcome))
        step = view.next_step
        self.next_step.setText(self.catalogue.next_step(str(step)) if step and step != NextStep.NONE and not certified else "")
        attempts_left = max(0, view.attempts_max - view.attempt)
        if view.can_retry:
            self.attempts.setText(self.t("screen.result", "attempts_left", attempts_left=attempts_left))
        elif view.manual_review_offered:
            self.attempts.setText(self.t("screen.result", "no_attempts_left", attempts_max=view.attempts_max))
        else:
            self.attempts.setText("")
        for label in (self.fact, self.reason, self.next_step, self.attempts):
            label.setVisible(bool(label.text()))
        self.title.setText(title)
        self.title.set_tone(tone)
        self.fact.set_tone(tone)
        self.band.set_state(title, tone)
        self.retry.setVisible(view.can_retry)
        self.manual_review.setVisible(view.manual_review_offered)
        self.receipt.setVisible(self.printer_configured and (certified or manual))
        self.finish.set_kind("outline" if view.can_retry or view.manual_review_offered else "success" if certified else "neutral")
        self.relayout_buttons()
        self.icon.set_kind("success" if certified else "neutral" if manual or tone == "neutral" else "failure")

    def last_view(self) -> FlowView | None:
        """The view shown (for the receipt); None after :meth:`clear`."""
        return self._view

    def clear(self) -> None:
        super().clear()
        self._view = None
        for label in (self.title, self.fact, self.reason, self.next_step, self.attempts):
            label.setText("")
        self.band.set_state("", "neutral")
        self.icon.set_kind(None)
