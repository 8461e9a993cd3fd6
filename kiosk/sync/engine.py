"""One sync round: first contact if needed, push the outbox, pull the roster, send a heartbeat.

Exactly-once effect: a record is marked sent only after the centre's receipt says ``accepted`` or
``duplicate``; if anything breaks in between (the centre dies mid-batch, the connection drops after
the centre committed, the kiosk restarts) the record stays pending, is sent again, and the centre
answers ``duplicate``. Nothing is lost (outbox rows are never deleted) and nothing is doubled (the
centre stores by record UUID).

A record the centre refuses (``rejected`` receipt, or a 4xx on a one-record request) is set aside
with the reason and never retried, except ``record_key_unknown``: records are signed at sending
with the key that signs the request, so that is the centre's fault (a key lost or retired between
the two checks); the records stay pending and the round stops. A 4xx on a batch is split in halves
until the bad record is isolated, so one bad record costs about log2(batch) extra requests and
delays no other record.

Thread rules: runs in the calling thread with that thread's store and client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError, SyncError
from kiosk.reasons import is_code
from kiosk.store import OutboxItem, Store
from kiosk.sync.client import CentreClient, RequestRefused
from kiosk.sync.credentials import Credentials, mark_key_registered
from kiosk.reasons import SyncReason
from kiosk.sync.wire_mapping import apply_roster_page, roster_cursor, wire_record
from kiosk.sync.status import SyncReport
from wire.api import DEFAULT_ROSTER_PAGE
from wire.codes import RecordRejection, RecordVerdict
from wire.result_record import ResultRecord
from wire.schemas import Heartbeat

log = logging.getLogger(__name__)


def software_version() -> str:
    """The installed kiosk version (``0`` in a bare checkout)."""
    try:
        return metadata.version("kiosk")
    except metadata.PackageNotFoundError:
        return "0"


@dataclass
class _Tally:
    pushed: int = 0
    rejected: int = 0
    pulled: int = 0
    roster_skipped: int = 0


class SyncRound:
    """One round against the centre; :meth:`run` never raises (errors become the report's code).

    ``probe_first``: start with the cheap probe (after the network was down) so that an offline
    round costs one small request; ``stop_requested`` is polled between batches and pages;
    ``health`` gives check name -> ``ok``/``warning``/``failed`` for the heartbeat (the doctor's
    findings, as the application last ran them); it must not block.
    """

    def __init__(self, config: KioskConfig, clock: Clock, store: Store, client: CentreClient,
                 credentials: Credentials, *, data_dir: Path, probe_first: bool = False,
                 stop_requested: Callable[[], bool] = lambda: False,
                 health: Callable[[], Mapping[str, str]] | None = None) -> None:
        self._config = config
        self._clock = clock
        self._store = store
        self._client = client
        self._credentials = credentials
        self._data_dir = data_dir
        self._probe_first = probe_first
        self._stop_requested = stop_requested
        self._health = health
        self._tally = _Tally()

    def run(self) -> SyncReport:
        """Runs the round; returns what it did, with ``error`` set when it stopped early."""
        error: KioskError | None = None
        try:
            if self._probe_first:
                self._client.ping()
            if not self._credentials.key_registered:
                self._client.enrol(software_version())
                self._credentials = mark_key_registered(self._data_dir, self._credentials)
            self._push()
            self._pull()
            self._heartbeat()
        except KioskError as exc:  # SyncError, StorageError, KeyUnavailableError
            error = exc
            log.warning("sync round stopped: %s", exc.code)
        counts = self._safe_counts()
        return SyncReport(pushed=self._tally.pushed, pulled=self._tally.pulled, pending=counts.get("pending", 0),
                          rejected=self._tally.rejected, error=error.code if error else None,
                          error_message=error.message if error else "", clock_skew_s=self._client.clock_skew_s,
                          details=counts, roster_skipped=self._tally.roster_skipped)

    # -- push ---------------------------------------------------------------------------------

    def _push(self) -> None:
        batch_size = self._config.sync.batch_size
        while not self._stop_requested():
            items = self._store.pending_outbox(batch_size, self._clock.now())
            if not items:
                return
            self._send(items)

    def _send(self, items: list[OutboxItem]) -> None:
        records: list[ResultRecord] = []
        sendable: list[OutboxItem] = []
        key = self._credentials.signing_key()
        for item in items:
            if item.record is None:
                self._reject(item.record_id, SyncReason.RECORD_UNSENDABLE,
                             f"the stored record is unreadable ({item.unreadable})")
                continue
            try:
                records.append(wire_record(item.record, device_id=self._credentials.device_id,
                                           key_id=self._credentials.key_id, hall_name=self._config.terminal.hall_name,
                                           send_face_images=self._config.sync.send_face_images, key=key))
                sendable.append(item)
            except (KeyError, TypeError, ValueError) as exc:
                self._reject(item.record_id, SyncReason.RECORD_UNSENDABLE,
                             f"the stored record is incomplete ({type(exc).__name__})")
        if not records:
            return
        try:
            receipts = self._client.submit(records)
        except RequestRefused as exc:
            if len(sendable) == 1:
                self._reject(sendable[0].record_id, exc.wire_code, exc.detail)
                return
            middle = len(sendable) // 2
            self._send(sendable[:middle])
            self._send(sendable[middle:])
            return
        except SyncError as exc:
            self._retry_later(sendable, exc.code)
            raise
        sent: list[str] = []
        key_unknown: list[OutboxItem] = []
        with self._store.transaction():
            for item, receipt in zip(sendable, receipts, strict=True):
                reason = receipt.reason or SyncReason.RECORD_REJECTED
                if receipt.status in (RecordVerdict.ACCEPTED, RecordVerdict.DUPLICATE):
                    sent.append(item.record_id)
                elif reason == RecordRejection.KEY_UNKNOWN:  # status is REJECTED: a verdict has three values
                    key_unknown.append(item)  # the centre's fault, not the record's: see below
                else:
                    self._reject(item.record_id, reason, receipt.message)
            self._store.mark_sent(sent)
        self._tally.pushed += len(sent)
        if key_unknown:
            # Not the records' fault: keep them, stop the round (the next one tries again).
            self._retry_later(key_unknown, RecordRejection.KEY_UNKNOWN)
            raise SyncError("the centre did not know the key that signed this terminal's records",
                            code=SyncReason.CENTER_ERROR)

    def _reject(self, record_id: str, reason: str, message: str) -> None:
        # The reason is the centre's code and its message, which never echoes personal data.
        self._store.mark_rejected(record_id, f"{reason}: {message}"[:200])
        self._tally.rejected += 1
        log.warning("record %s set aside: %s", record_id, reason)

    def _retry_later(self, items: list[OutboxItem], code: str) -> None:
        # The failure (network, 5xx, auth) is not the records' fault: they stay due at once and the
        # worker's backoff decides when to try again, so that when the centre returns every waiting
        # record goes in the next round. The attempt count and last error are kept for the technician.
        now = self._clock.now()
        with self._store.transaction():
            for item in items:
                self._store.mark_retry(item.record_id, code, now)

    # -- pull ---------------------------------------------------------------------------------

    def _pull(self) -> None:
        cursor = roster_cursor(self._store)
        while not self._stop_requested():
            page = self._client.roster_page(cursor, DEFAULT_ROSTER_PAGE)
            changes, next_cursor = page["changes"], int(page["next_cursor"])
            if changes:
                upserted, removed, skipped = apply_roster_page(self._store, changes, next_cursor)
                self._tally.pulled += upserted + removed
                self._tally.roster_skipped += skipped
            if not page.get("has_more") or next_cursor <= cursor:
                return
            cursor = next_cursor

    # -- heartbeat ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        counts = self._safe_counts()
        self._client.heartbeat(Heartbeat(software_version=software_version(), pending=counts.get("pending", 0),
                                         rejected=counts.get("rejected", 0), last_success_at=self._clock.now(),
                                         clock_skew_s=self._client.clock_skew_s, checks=self._checks()))

    def _checks(self) -> dict[str, str]:
        if self._health is None:
            return {}
        try:
            reported = dict(self._health())
        except Exception:  # noqa: BLE001 - a broken health provider must not stop sync
            log.warning("the health provider failed; heartbeat sent without checks", exc_info=True)
            return {}
        # Check names become codes ("center reachable" -> "center_reachable"); anything else is dropped.
        checks = {}
        for name, status in list(reported.items())[:64]:
            code = "_".join(str(name).lower().split())
            if is_code(code) and status in ("ok", "warning", "failed"):
                checks[code] = status
        return checks

    def _safe_counts(self) -> dict[str, int]:
        try:
            return self._store.outbox_counts()
        except KioskError:
            return {}
