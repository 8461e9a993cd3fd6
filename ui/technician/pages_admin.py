"""Technician pages about the terminal's data and life: thresholds and timeouts, roster and sync,
today's counts, log export, restart and exit. Every action is audited (codes and counts only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QScrollArea, QWidget

from kiosk.config import KioskConfig, documented_keys, write_site_values
from kiosk.errors import KioskError
from kiosk.reasons import Outcome
from ui.catalogue import Catalogue
from ui import theme
from kiosk.store.staff import FailureFigures
from ui.technician.failure_chart import FailureChart
from ui.technician.pages_device import TECH_BODY_PX, TECH_SMALL_PX, Page, tech_button, tech_label
from ui.technician.services import TechnicianServices, export_logs, run_in_background, usb_folders

if TYPE_CHECKING:
    from kiosk.sync import SyncReport

# The keys a technician may tune on site; everything else needs a site file edited by hand.
EDITABLE_KEYS = [
    "session.consent_timeout_s", "session.positioning_timeout_s", "session.result_display_s",
    "session.reminder_before_timeout_s", "session.inactivity_timeout_s", "session.status_timeout_s", "liveness.action_timeout_s",
    "liveness.blink_close_fraction", "liveness.mouth_open_min_ratio", "quality.min_brightness",
    "antispoof.max_attack_score", "match.max_distance", "rules.attempts_per_session", "ui.volume",
    "technician.idle_timeout_s",
]


def current_value(config: KioskConfig, dotted: str) -> Any:
    """The value of ``section.key`` in a KioskConfig (KeyError for a key it does not have)."""
    section, key = dotted.split(".", 1)
    return dict(dict(config)[section])[key]  # a pydantic model iterates as (field, value) pairs


def parse_like(text: str, example: Any) -> Any:
    """Parses ``text`` to the type of ``example`` (int, float, bool, str); ValueError when it cannot."""
    text = text.strip()
    if isinstance(example, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"{text!r} is not true or false")
    if isinstance(example, int):
        return int(text)
    if isinstance(example, float):
        return float(text)
    return text


class SettingsPage(Page):
    """Thresholds and timeouts, validated by :func:`kiosk.config.write_site_values` before saving."""

    title_key = "page_settings"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        holder = QWidget()
        form = QFormLayout(holder)
        scroll = QScrollArea()  # the list is longer than a portrait or landscape page: it scrolls
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        docs = documented_keys()
        self.fields: dict[str, QLineEdit] = {}
        for dotted in EDITABLE_KEYS:
            edit = QLineEdit()
            edit.setFont(theme.font(TECH_SMALL_PX))
            edit.setMinimumHeight(56)
            edit.setToolTip(docs.get(dotted, ""))
            form.addRow(tech_label(dotted, TECH_SMALL_PX), edit)
            self.fields[dotted] = edit
        self.save = tech_button(self.t("settings_save"), kind="success")
        self.save.clicked.connect(self.save_values)
        self.layout_.addWidget(scroll, 1)
        self.layout_.addWidget(self.save)
        self.layout_.addWidget(self.status)
        self.config = services.config

    def entered(self) -> None:
        for dotted, edit in self.fields.items():
            edit.setText(str(current_value(self.config, dotted)))
        self.status.setText("")

    def save_values(self) -> None:
        """Validates and writes the changed keys; on any error nothing is written."""
        changes: dict[str, Any] = {}
        try:
            for dotted, edit in self.fields.items():
                old = current_value(self.config, dotted)
                new = parse_like(edit.text(), old)
                if new != old:
                    changes[dotted] = new
        except ValueError as exc:
            self.status.setText(self.t("settings_invalid", error=str(exc)))
            return
        if not changes:
            self.status.setText(self.t("settings_saved"))
            return
        try:
            self.config = write_site_values(self.services.site_config_path, changes)
        except KioskError as exc:
            self.status.setText(self.t("settings_invalid", error=exc.message.splitlines()[-1].strip()))
            self.services.audit("settings_rejected", keys=len(changes))
            return
        except OSError as exc:
            self.status.setText(self.t("settings_invalid", error=type(exc).__name__))
            return
        self.status.setText(self.t("settings_saved"))
        if "ui.volume" in changes and self.services.set_volume is not None:
            self.services.set_volume(float(changes["ui.volume"]))  # heard at once, not after a restart
        self.services.audit("settings_saved", keys=",".join(sorted(changes))[:200])


class SyncPage(Page):
    """Outbox and roster counts, the last sync round, and "sync now"."""

    title_key = "page_sync"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        self.summary = tech_label("", TECH_BODY_PX, bold=True)
        self.detail = tech_label("", TECH_SMALL_PX)
        self.now = tech_button(self.t("sync_now"))
        self.now.clicked.connect(self.sync)
        for widget in (self.summary, self.detail, self.now, self.status):
            self.layout_.addWidget(widget)
        self.layout_.addStretch(1)

    def entered(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        factory, status_of = self.services.store_factory, self.services.sync_status

        def job() -> tuple[int, int, Any]:
            pending = roster = 0
            if factory is not None:
                with factory() as store:
                    pending = store.outbox_counts().get("pending", 0)
                    roster = store.pensioner_count()
            return pending, roster, status_of() if status_of is not None else None

        run_in_background(job, self._show, lambda code: self.status.setText(code))

    def _show(self, answer: tuple[int, int, Any]) -> None:
        pending, roster, status = answer
        self.summary.setText(self.t("sync_status", pending=pending, roster=roster))
        if status is None:
            self.detail.setText(self.t("sync_unavailable"))
            return
        lines = [f"{key}: {value}" for key, value in status.as_dict().items() if key not in ("last_error_message",)]
        self.detail.setText("\n".join(lines))

    def sync(self) -> None:
        if self.services.sync_now is None:
            self.status.setText(self.t("sync_unavailable"))
            return
        self.now.setEnabled(False)
        self.status.setText(self.t("sync_running"))
        self.services.audit("sync_now")
        run_in_background(self.services.sync_now, self._synced, self._failed)

    def _synced(self, report: SyncReport) -> None:
        self.now.setEnabled(True)
        error = report.error
        self.status.setText(self.t("sync_failed", code=error) if error else self.t("sync_done"))
        self.refresh()

    def _failed(self, code: str) -> None:
        self.now.setEnabled(True)
        self.status.setText(self.t("sync_failed", code=code))


class TodayPage(Page):
    """Today's attempts: certified (by the face check and by staff in person), and the failures by
    reason (in words) and by hour as a chart (issue 17, item 6): staff fix the hall, not the person."""

    title_key = "page_today"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices, today: Callable[[], date]) -> None:
        super().__init__(catalogue, services)
        self._today = today
        self.summary = tech_label("", TECH_BODY_PX, bold=True)
        self.reasons = tech_label("", TECH_SMALL_PX)
        self.chart = FailureChart(self.reason_words, self.t("today_other"))
        self.hours = tech_label("", TECH_SMALL_PX)
        for widget in (self.summary, self.reasons, self.chart, self.hours, self.status):
            self.layout_.addWidget(widget)
        self.layout_.addStretch(1)

    def reason_words(self, code: str) -> str:
        """A reason code in the catalogue's words (the code itself when it has none)."""
        return self.catalogue.reason(code).rstrip("。") if self.catalogue.has("reason", code) else code

    def entered(self) -> None:
        factory = self.services.store_factory
        if factory is None:
            self.summary.setText(self.t("today_none"))
            return
        day = self._today()

        def job() -> tuple[dict[str, int], FailureFigures, dict[str, int]]:
            with factory() as store:
                return store.counts_for_day(day), store.failure_figures(day), store.match_models_for_day(day)

        run_in_background(job, lambda answer: self._show(day, *answer), lambda code: self.status.setText(code))

    def _show(self, day: date, counts: dict[str, int], figures: FailureFigures,
              models: dict[str, int] | None = None) -> None:
        if not counts:
            self.summary.setText(self.t("today_title", day=day) + "\n" + self.t("today_none"))
            self.reasons.setText("")
            self.chart.set_figures(None)
            self.hours.setText("")
            return
        certified = counts.get(str(Outcome.CERTIFIED), 0)
        by_staff = counts.get(str(Outcome.STAFF_VERIFIED), 0)
        self.summary.setText("\n".join([self.t("today_title", day=day), self.t("today_certified", count=certified),
                                        self.t("today_staff_verified", count=by_staff),
                                        self.t("today_failed", count=figures.total)]
                                       # Which model decided the face checks (issue 15): SFace, or dlib as the fallback.
                                       + ([self.t("today_models", models="、".join(
                                           f"{name} {n}" for name, n in models.items()))] if models else [])))
        self.reasons.setText("\n".join(
            self.t("today_reason", reason=f"{self.reason_words(code)} ({code})", count=n)
            for code, n in figures.by_reason.items()))
        self.chart.set_figures(figures)
        self.hours.setText("\n".join(
            self.t("today_hour", hour=hour, reasons="、".join(f"{self.reason_words(code)} {n}"
                                                            for code, n in sorted(reasons.items(), key=lambda i: -i[1])))
            for hour, reasons in figures.by_hour.items()))


class LogsPage(Page):
    """Copies the log files (which never hold personal data) to a USB stick folder."""

    title_key = "page_logs"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices, now: Callable[[], Any]) -> None:
        super().__init__(catalogue, services)
        self._now = now
        self.folder = QComboBox()
        self.folder.setEditable(True)
        self.folder.setFont(theme.font(TECH_SMALL_PX))
        self.folder.setMinimumHeight(theme.MIN_TOUCH_PX)
        self.export = tech_button(self.t("logs_export"))
        self.export.clicked.connect(self.run)
        for widget in (tech_label(self.t("logs_folder")), self.folder, self.export, self.status):
            self.layout_.addWidget(widget)
        self.layout_.addStretch(1)

    def entered(self) -> None:
        self.folder.clear()
        for path in usb_folders():
            self.folder.addItem(str(path))
        self.status.setText("")

    def run(self) -> None:
        source = self.services.log_dir
        target = Path(self.folder.currentText().strip())
        if source is None or not str(target):
            self.status.setText(self.t("logs_failed", error="-"))
            return
        device = self.services.config.terminal.device_id
        when = self._now()
        run_in_background(lambda: export_logs(source, target, device, when), self._done,
                          lambda code: self.status.setText(self.t("logs_failed", error=code)))

    def _done(self, count: int) -> None:
        self.status.setText(self.t("logs_done", count=count))
        self.services.audit("logs_exported", files=count)


class SystemPage(Page):
    """Restart the kiosk program, or exit to the desktop (both audited first)."""

    title_key = "page_system"

    def __init__(self, catalogue: Catalogue, services: TechnicianServices) -> None:
        super().__init__(catalogue, services)
        row = QHBoxLayout()
        self.restart = tech_button(self.t("restart"))
        self.exit = tech_button(self.t("exit"), kind="failure")
        row.addWidget(self.restart)
        row.addWidget(self.exit)
        self.layout_.addLayout(row)
        self.layout_.addStretch(1)
        self.restart.clicked.connect(lambda: self._do("restart", services.restart))
        self.exit.clicked.connect(lambda: self._do("exit", services.exit))

    def _do(self, code: str, action: Callable[[], None] | None) -> None:
        written = self.services.audit(code)
        if written is not None:
            written.join(2.0)  # the process is about to end: let the audit row land first
        if action is not None:
            action()


