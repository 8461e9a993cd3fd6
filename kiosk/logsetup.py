"""Log files of the running kiosk: size-capped rotation in ``<data_dir>/logs/`` and a privacy guard.

Only the entry point calls :func:`configure_logging` (``kiosk run`` / ``kiosk demo`` through
``kiosk.cli.main``); every other module just uses ``logging.getLogger(__name__)``.

Size cap: one file grows to ``logging.max_bytes`` bytes, then rotates; ``logging.backup_count``
rotated files are kept, so the logs never take more than ``max_bytes * (backup_count + 1)`` bytes
(30 MB with the defaults) of a terminal's small disk.

Privacy: the code never logs personal data (style.md), but a mistake in a format string or an
exception message that quotes its input would put an ID number in a file a technician copies to a
USB stick. :class:`PersonalDataFilter` is the last line of defence: a record whose formatted text
or traceback contains an ID-number-like string is withheld and replaced by a line that says so
(with the logger name and source line, so the leak can be found and fixed). Files and folder are
created owner-only (0600 / 0700).

Thread rules: ``logging`` handlers lock internally; :func:`configure_logging` is meant to be
called once at start from the main thread (calling it again replaces the handlers it installed).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

from kiosk.config import LoggingSettings

LOG_FILE_NAME = "kiosk.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

ID_NUMBER_SHAPES = r"\d{17}[\dXx]|\d{15}|[A-Za-z]{3}\d{12}"
"""Every shape of ID number the kiosk may hold, as regex alternatives (one list for the log filter
and the store's audit guard): 18-character resident ID numbers (GB 11643: 17 digits and a digit or
X check character; the 2023 foreign permanent resident card uses the same shape), the 15-digit
first-generation numbers that old roster records of pensioners still hold, and the 2017 foreign
permanent resident card number (3 letters, 12 digits). Case-insensitive because parsers lower-case
the check character."""

# Bounded by non-digits so longer numbers (nanosecond timestamps, byte counts) do not trip it.
ID_NUMBER_LIKE = re.compile(rf"(?<![0-9A-Za-z])(?:{ID_NUMBER_SHAPES})(?![0-9A-Za-z])")

WITHHELD_MESSAGE = "log record withheld: it contained an ID-number-like string (fix the log call at %s:%d)"

_INSTALLED_MARK = "_kiosk_logsetup"


class PersonalDataFilter(logging.Filter):
    """Withholds records whose message or traceback looks like it carries an ID number.

    The record is not dropped (a silent gap would hide the bug): its message becomes
    :data:`WITHHELD_MESSAGE` with the source file and line, and its arguments, traceback and stack
    are removed. ``withheld`` counts the records treated so (for tests and the doctor).
    """

    def __init__(self) -> None:
        super().__init__()
        self.withheld = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_kiosk_checked", False):
            return True  # the same record reaches several handlers: check and rewrite once
        texts = [_safe_message(record)]
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(record.stack_info)
        if any(ID_NUMBER_LIKE.search(text) for text in texts):
            self.withheld += 1
            record.msg = WITHHELD_MESSAGE
            record.args = (os.path.basename(record.pathname), record.lineno)
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            record.levelno = max(record.levelno, logging.WARNING)
            record.levelname = logging.getLevelName(record.levelno)
        record._kiosk_checked = True  # noqa: SLF001 - a marker on our own record attribute
        return True


def _safe_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: check the parts instead
        return f"{record.msg} {record.args!r}"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are created readable by the owner only (0600)."""

    def _open(self):  # noqa: ANN202 - the base class's signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def log_dir(data_dir: Path) -> Path:
    """Where the log files live: ``<data_dir>/logs``."""
    return data_dir / "logs"


def configure_logging(settings: LoggingSettings, data_dir: Path, *, console_level: int = logging.WARNING) -> Path:
    """Installs the rotating file handler (and a console handler) on the root logger.

    The file receives records at ``settings.level`` and above; stderr receives ``console_level``
    and above (WARNING: a systemd journal or a technician's terminal sees problems, not chatter).
    Both pass through one :class:`PersonalDataFilter`. Handlers installed by an earlier call are
    closed and replaced; handlers installed by others are left alone. Returns the log file path.

    Raises ``OSError`` when the log folder cannot be created or opened (the caller decides whether
    a kiosk without a log file may run; ``kiosk.cli.main`` reports it as one line and stops).
    """
    folder = log_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / LOG_FILE_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED_MARK, False):
            root.removeHandler(handler)
            handler.close()
    guard = PersonalDataFilter()
    formatter = logging.Formatter(LOG_FORMAT)
    file_handler = PrivateRotatingFileHandler(
        path, maxBytes=settings.max_bytes, backupCount=settings.backup_count, encoding="utf-8", delay=False,
    )
    file_handler.setLevel(settings.level)
    console = logging.StreamHandler()
    console.setLevel(console_level)
    for handler in (file_handler, console):
        handler.setFormatter(formatter)
        handler.addFilter(guard)
        setattr(handler, _INSTALLED_MARK, True)
        root.addHandler(handler)
    # A basicConfig stderr handler installed before us would print everything twice: ours replaces it.
    for handler in list(root.handlers):
        if not getattr(handler, _INSTALLED_MARK, False) and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(min(logging.getLevelName(settings.level), console_level))
    logging.captureWarnings(True)
    return path
