"""The technician page for the hall's staff (issue 17): staff accounts (add, disable, enable; the
same rules as ``kiosk staff``) and the terminal's recent staff calls with their answer times.

Every change is audited (``staff_admin`` with the staff number, by :mod:`kiosk.staff_accounts`, and
``technician`` with the action code). The PIN field is cleared after every attempt; nothing of a
pensioner is shown here (staff calls hold none). Thread rule: GUI thread; store work runs in the
background (:func:`~ui.technician.services.run_in_background`: a scrypt hash takes ~0.2 s).
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit

from kiosk.clock import CHINA_STANDARD_TIME
from kiosk.staff_accounts import add_staff_account, disable_staff_account
from kiosk.store.staff import STAFF_ROLES, StaffAccount, StaffCall
from ui import theme
from ui.catalogue import Catalogue
from ui.technician.pages_device import TECH_SMALL_PX, Page, tech_button, tech_label
from ui.technician.services import TechnicianServices, run_in_background

RECENT_CALLS = 12


def _field(password: bool = False) -> QLineEdit:
    field = QLineEdit()
    field.setFont(theme.font(TECH_SMALL_PX))
    field.setMinimumHeight(theme.MIN_TOUCH_PX)
    if password:
        field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


def _clock_text(moment: datetime | None) -> str:
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%H:%M:%S") if moment else "—"


class StaffPage(Page):
    """Staff accounts and recent staff calls."""

    title_key = "page_staff"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.accounts = tech_label("", TECH_SMALL_PX)
        self.number, self.name, self.pin = _field(), _field(), _field(password=True)
        self.role = QComboBox()
        self.role.setFont(theme.font(TECH_SMALL_PX))
        self.role.setMinimumHeight(theme.MIN_TOUCH_PX)
        for role in sorted(STAFF_ROLES, key=lambda r: r != "verifier"):
            self.role.addItem(role)
        form = QFormLayout()
        form.addRow(tech_label(self.t("staff_number"), TECH_SMALL_PX), self.number)
        form.addRow(tech_label(self.t("staff_name"), TECH_SMALL_PX), self.name)
        form.addRow(tech_label(self.t("staff_pin"), TECH_SMALL_PX), self.pin)
        form.addRow(tech_label(self.t("staff_role"), TECH_SMALL_PX), self.role)
        self.add = tech_button(self.t("staff_add"))
        self.add.clicked.connect(self.add_account)
        self.chosen = QComboBox()
        self.chosen.setFont(theme.font(TECH_SMALL_PX))
        self.chosen.setMinimumHeight(theme.MIN_TOUCH_PX)
        self.disable = tech_button(self.t("staff_disable"), kind="failure")
        self.disable.clicked.connect(lambda: self.set_disabled(True))
        self.enable = tech_button(self.t("staff_enable"), kind="outline")
        self.enable.clicked.connect(lambda: self.set_disabled(False))
        row = QHBoxLayout()
        for widget in (self.chosen, self.disable, self.enable):
            row.addWidget(widget)
        self.calls = tech_label("", TECH_SMALL_PX)
        self.layout_.addWidget(tech_label(self.t("staff_accounts"), TECH_SMALL_PX, bold=True))
        self.layout_.addWidget(self.accounts)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.add)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(tech_label(self.t("staff_calls"), TECH_SMALL_PX, bold=True))
        self.layout_.addWidget(self.calls)
        self.layout_.addStretch(1)

    def entered(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Reads the accounts and the recent calls again."""
        factory = self.services.store_factory
        if factory is None:
            self.status.setText(self.t("staff_no_store"))
            return

        def job() -> tuple[list[StaffAccount], list[StaffCall]]:
            with factory() as store:
                return store.staff_accounts(), store.staff_calls(limit=RECENT_CALLS)

        run_in_background(job, lambda answer: self._show(*answer), self.status.setText)

    def _show(self, accounts: list[StaffAccount], calls: list[StaffCall]) -> None:
        self.accounts.setText("\n".join(
            f"{a.staff_number}　{a.name}　{','.join(sorted(a.roles))}" + (f"　{self.t('staff_disabled')}" if a.disabled
                                                                        else "")
            for a in accounts) or self.t("staff_none"))
        current = self.chosen.currentText()
        self.chosen.clear()
        self.chosen.addItems([a.staff_number for a in accounts])
        if current:
            self.chosen.setCurrentText(current)
        self.calls.setText("\n".join(
            self.t("staff_call_line", raised=_clock_text(c.raised_at), reason=c.reason, screen=c.screen,
                   delivered=_clock_text(c.delivered_at), acknowledged=_clock_text(c.acknowledged_at),
                   by=c.acknowledged_by or "—")
            for c in calls) or self.t("staff_calls_none"))

    def add_account(self) -> None:
        """Adds the account of the form (errors shown by their reason code)."""
        factory = self.services.store_factory
        if factory is None:
            return
        number, name, pin, role = self.number.text().strip(), self.name.text().strip(), self.pin.text(), \
            self.role.currentText()
        self.pin.clear()  # never left in the field

        def job() -> str:
            with factory() as store:
                return add_staff_account(store, number, name, pin, {role}).staff_number

        def done(added: str) -> None:
            self.services.audit("staff_added")
            self.number.clear()
            self.name.clear()
            self.status.setText(self.t("staff_added", number=added))
            self.refresh()

        run_in_background(job, done, lambda code: self.status.setText(self.t("staff_failed", code=code)))

    def set_disabled(self, disabled: bool) -> None:
        """Disables (or enables) the chosen account."""
        factory = self.services.store_factory
        number = self.chosen.currentText()
        if factory is None or not number:
            return

        def job() -> bool:
            with factory() as store:
                return disable_staff_account(store, number, disabled)

        def done(_changed: bool) -> None:
            self.services.audit("staff_disabled" if disabled else "staff_enabled")
            self.refresh()

        run_in_background(job, done, lambda code: self.status.setText(self.t("staff_failed", code=code)))

    def clear(self) -> None:
        self.pin.clear()
