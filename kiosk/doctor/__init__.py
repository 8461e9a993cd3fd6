"""``kiosk doctor``: one line per check, ok / warning / failed, with a hint for the technician.

Checks live one area per module in this package (``checks_*.py``); each module defines
``CHECKS: list[Check]``. A check function takes the configuration and returns a :class:`CheckResult`
(it must not raise: an unexpected exception is reported as ``failed`` by the runner). Checks never
print personal data.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import pkgutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

ISOLATED_TIMEOUT_S = 120.0
"""How long a check run in a child process may take, start of the process included (seconds)."""


class Status(StrEnum):
    """How a check went. ``failed`` on a ``required`` check blocks certification."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; ``hint`` tells the technician what to do when not ok."""

    status: Status
    detail: str
    hint: str = ""


@dataclass(frozen=True)
class Check:
    """A named check. ``required``: a certification cannot run while it fails. ``isolated``: the
    check loads what a long-running process must not hold (dlib); :func:`run_checks` runs it in a
    child process when asked to. ``run`` must then be a module-level function (it is pickled)."""

    name: str
    run: Callable[[KioskConfig], CheckResult]
    required: bool = True
    order: int = 50
    isolated: bool = False


@dataclass(frozen=True)
class Finding:
    """A check together with its result, as printed and as shown on the technician page."""

    check: Check
    result: CheckResult

    @property
    def blocks_certification(self) -> bool:
        """True when this finding alone stops the terminal from certifying."""
        return self.check.required and self.result.status is Status.FAILED


UI_CHECK_MODULES = ("ui.doctor_audio",)
"""Check modules that live in ``ui/`` because they need the message catalogue (the voice clips)."""


def all_checks() -> list[Check]:
    """Every check of every ``checks_*`` module and of :data:`UI_CHECK_MODULES`, in display order."""
    checks: list[Check] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("checks_"):
            checks.extend(importlib.import_module(f"{__name__}.{info.name}").CHECKS)
    for module in UI_CHECK_MODULES:  # by name: the core has no static dependency on ui/
        checks.extend(importlib.import_module(module).CHECKS)
    return sorted(checks, key=lambda check: (check.order, check.name))


def run_checks(config: KioskConfig, checks: list[Check] | None = None, *, isolate: bool = False) -> Iterator[Finding]:
    """Runs the checks one by one (slow ones may take seconds: call off the UI thread).

    ``isolate``: run the ``isolated`` checks in a child process (the kiosk's GUI process, which
    must never load dlib; ``kiosk doctor`` runs everything in its own short-lived process)."""
    pool: ProcessPoolExecutor | None = None
    try:
        for check in checks if checks is not None else all_checks():
            try:
                if isolate and check.isolated:
                    # spawn, not fork: the GUI process runs Qt and camera threads that fork would copy.
                    pool = pool or ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
                    result = pool.submit(check.run, config).result(timeout=ISOLATED_TIMEOUT_S)
                else:
                    result = check.run(config)
            except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, not a crash
                log.warning("doctor check %s raised %s", check.name, type(exc).__name__, exc_info=True)
                result = CheckResult(Status.FAILED, f"the check itself failed: {type(exc).__name__}: {exc}",
                                     "report this to the project with the log file")
            yield Finding(check, result)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
