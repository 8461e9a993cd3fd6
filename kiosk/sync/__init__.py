"""Sync with the provincial centre: push certification results, pull the roster, report health.

The application uses :class:`SyncWorker` (a background thread with its own database connection):
``SyncWorker(config, clock)``, ``start()``, ``stop()``, ``sync_now()``,
``notify_network_changed(online)`` and ``status() -> SyncStatus``. ``docs/sync.md`` describes the
behaviour; ``docs/sync-protocol.yaml`` the protocol, whose executable form (schemas, signing,
canonical JSON, templates) is the ``wire`` package shared with the centre. The names below are
imported lazily, so that importing a small submodule (``reasons``, ``status``) loads neither the
worker, nor httpx, nor the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.sync.status import SyncReport, SyncStatus
    from kiosk.sync.worker import SyncWorker

_LAZY = {"SyncWorker": "kiosk.sync.worker", "SyncStatus": "kiosk.sync.status", "SyncReport": "kiosk.sync.status"}

__all__ = ["SyncReport", "SyncStatus", "SyncWorker"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
