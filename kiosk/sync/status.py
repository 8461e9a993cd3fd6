"""What the technician page, ``kiosk doctor`` and ``kiosk sync`` show about sync, and where it is kept.

The worker writes ``sync/state.json`` in the data folder after every round (atomically), so that
another process (``kiosk doctor``) sees the same last success, last error and clock skew as the
running kiosk. Counts of pending and rejected records come from the store. No personal data here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_FILE = Path("sync") / "state.json"


@dataclass(frozen=True)
class SyncStatus:
    """A snapshot of sync for the technician page (immutable; safe to hand to the UI thread).

    ``pending``/``rejected``: outbox rows waiting / set aside; ``last_success_at``: end of the last
    round that completed without error (aware datetime, None when never); ``last_error_code``: the
    reason code of the last round that failed, None when the last round succeeded;
    ``clock_skew_s``: the centre's clock minus ours (seconds, None when not measured); ``online``:
    the centre answered the last attempt (None when not yet known); ``enrolled``: credentials exist.
    """

    pending: int = 0
    rejected: int = 0
    last_success_at: datetime | None = None
    last_error_code: str | None = None
    clock_skew_s: float | None = None
    online: bool | None = None
    enrolled: bool = False
    last_attempt_at: datetime | None = None
    last_error_message: str = ""
    sent: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601)."""
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class SyncReport:
    """What one sync round did (printed by ``kiosk sync --once --json``).

    ``pushed``: records the centre now holds (accepted or already received); ``rejected``: records
    set aside this round; ``pulled``: roster changes applied; ``pending``: still waiting afterwards;
    ``error``: reason code when the round stopped early, else None; ``roster_skipped``: malformed
    roster changes skipped (logged by sequence number).
    """

    pushed: int = 0
    pulled: int = 0
    pending: int = 0
    rejected: int = 0
    error: str | None = None
    error_message: str = ""
    clock_skew_s: float | None = None
    details: dict[str, int] = field(default_factory=dict)
    roster_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``error`` is present only when there was one."""
        data: dict[str, Any] = {"pushed": self.pushed, "pulled": self.pulled, "pending": self.pending,
                                "rejected": self.rejected, "clock_skew_s": self.clock_skew_s}
        if self.roster_skipped:
            data["roster_skipped"] = self.roster_skipped
        if self.error:
            data["error"] = self.error
            data["error_message"] = self.error_message
        return data


def state_path(data_dir: Path) -> Path:
    """``sync/state.json`` in the data folder."""
    return data_dir / STATE_FILE


def load_state(data_dir: Path) -> SyncStatus:
    """The last persisted status (counts as they were then); a missing or damaged file gives defaults."""
    try:
        raw = json.loads(state_path(data_dir).read_text(encoding="utf-8"))
        known = {item.name for item in fields(SyncStatus)}
        values = {key: value for key, value in raw.items() if key in known}
        for key in ("last_success_at", "last_attempt_at"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return SyncStatus(**values)
    except FileNotFoundError:
        return SyncStatus()
    except (OSError, ValueError, TypeError):
        log.warning("sync state file is damaged; starting from defaults")
        return SyncStatus()


def save_state(data_dir: Path, status: SyncStatus) -> None:
    """Writes the status atomically (temporary file + rename); errors are logged, not raised."""
    path = state_path(data_dir)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.new")
        tmp.write_text(json.dumps(status.as_dict()), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("sync state cannot be written: %s", exc.strerror)
