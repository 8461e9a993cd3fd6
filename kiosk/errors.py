"""One exception tree for the kiosk core, rooted in :class:`KioskError`.

Every error carries a stable ``code`` (a reason code, flat snake_case, unique across the project).
Only ``ui/`` turns a code into words, from the message catalogue ``config/prompts.toml``; the text
of an exception is for technicians and logs and must never contain personal data.

Device packages (``camera``, ``reader``) know nothing of the kiosk and raise their own errors, each
with a ``code`` attribute; :func:`from_device_error` wraps them at the boundary.
"""

from __future__ import annotations

# The one reader of an error's code lives in the wire contract, which the centre shares and which
# imports nothing of the project; kiosk code imports it from here.
from wire.codes import reason_code  # noqa: F401 - re-exported


class KioskError(Exception):
    """Base of every error the kiosk raises on purpose.

    ``code`` is a stable reason code; ``message`` is a technician-facing English sentence with no
    personal data in it.
    """

    code: str = "internal_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The technician-facing sentence (no personal data)."""
        return str(self.args[0]) if self.args else self.code


class ConfigError(KioskError):
    """The configuration is malformed or a value is out of range."""

    code = "config_invalid"


class StorageError(KioskError):
    """The local database could not be read or written."""

    code = "storage_error"


class StorageFullError(StorageError):
    """The disk holding the data folder is (nearly) full; no new session may start."""

    code = "storage_full"


class KeyUnavailableError(KioskError):
    """The device key that encrypts biometric data is missing or does not open the data.

    The kiosk keeps working for everything else; templates must be enrolled again.
    """

    code = "key_missing"


class RosterImportError(KioskError):
    """A roster file could not be read at all (a single bad row is reported, not raised)."""

    code = "roster_import_failed"


class DeviceError(KioskError):
    """A device package (reader, camera, matcher) reported a failure; ``code`` is the device's."""

    code = "device_error"


class SyncError(KioskError):
    """Talking to the provincial centre failed; ``code`` says how (network, server, auth, rejected)."""

    code = "sync_failed"


def from_device_error(exc: BaseException) -> DeviceError:
    """Wraps an error raised by ``camera`` or ``reader`` into a :class:`DeviceError`.

    The device's own ``code`` attribute is kept when it has one, else ``device_error``.
    """
    wrapped = DeviceError(f"{type(exc).__name__}: {exc}", code=reason_code(exc, DeviceError.code))
    wrapped.__cause__ = exc
    return wrapped

