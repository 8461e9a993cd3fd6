"""Local storage of the kiosk: roster, encrypted face references, records, outbox, audit log.

Use :class:`Store` (``Store.open(data_dir, key_file, clock)`` or ``Store.from_config(config, clock)``
in production; ``Store(sqlite_utils.Database(memory=True), clock=..., key=DeviceKey.generate())``
in tests). ``docs/storage.md`` describes the schema, the encryption and what happens when the key
is lost.
"""

from kiosk.errors import KeyUnavailableError, StorageError, StorageFullError
from kiosk.store.crypto import DeviceKey, load_key, load_or_create_key
from kiosk.store.models import (
    REFERENCE_SOURCES,
    CertificationRecord,
    OutboxItem,
    Pensioner,
    RecordId,
    RefId,
    UpsertResult,
    new_record_id,
)
from kiosk.store.schema import SCHEMA_VERSION
from kiosk.store.store import DB_FILE_NAME, Store

__all__ = [
    "DB_FILE_NAME",
    "REFERENCE_SOURCES",
    "SCHEMA_VERSION",
    "CertificationRecord",
    "DeviceKey",
    "KeyUnavailableError",
    "OutboxItem",
    "Pensioner",
    "RecordId",
    "RefId",
    "Store",
    "StorageError",
    "StorageFullError",
    "UpsertResult",
    "load_key",
    "load_or_create_key",
    "new_record_id",
]
