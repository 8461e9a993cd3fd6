"""The technician mode's gatekeeping: the PIN hash, wrong-PIN lockout and the hidden entry gesture.

Pure logic with an injected clock, no Qt (``ui/technician`` renders it):

* :func:`hash_pin` / :func:`verify_pin`: a salted scrypt hash (memory-hard, so a stolen site file
  does not give the 4-8 digit PIN away in seconds), stored as ``technician.pin_hash``;
* :class:`PinGuard`: counts wrong PINs and locks after ``max_wrong_pins`` in a row, for
  ``lockout_s`` the first time and twice as long each further time (up to :data:`MAX_LOCKOUT_S`)
  until a correct PIN; the count, the lock and the escalation survive a restart when a state file
  is given (else pulling the plug would reset them); every lock raises an alarm
  (:func:`technician_pin_guard` writes it to the audit log);
* :class:`CornerTaps`: the hidden gesture, N taps in one corner within a time window.

Thread rule: objects here are not thread-safe; the UI uses them on the GUI thread only.
Privacy: a PIN is never logged or stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.clock import Clock
from kiosk.disk import replace_file_privately
from kiosk.errors import KioskError, reason_code

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12
# scrypt cost: n=2**15, r=8 takes ~0.2 s and 32 MiB here; slow for guessing, fine for one entry.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCHEME = "scrypt"

MAX_LOCKOUT_S = 4 * 3600.0
"""The longest lock (seconds) the doubling reaches; ``lockout_s`` wins when it is longer.

With the defaults (5 wrong PINs, 900 s) the locks last 15 min, 30 min, 1 h, 2 h, then 4 h each:
about 50 guesses on the first day and 30 a day after (some 11 months to try every 4-digit PIN),
against about 480 a day with a fixed 15-minute lock; and each lock is an alarm in the audit log,
so a guesser is noticed long before.
"""

LOCKOUT_AUDIT_CODE = "technician_pin_lockout"
"""The audit code of a lock (step ``technician``; detail ``lockouts`` and ``lockout_s``, never a PIN)."""

LockoutAlarm = Callable[[int, float], None]
"""Called as ``alarm(lockouts, lockout_s)`` when a lock starts: the number of locks in a row so far
(this one included, since the last correct PIN) and how long this one lasts, in seconds."""


class PinError(KioskError):
    """A PIN that does not follow the rules, or a stored hash that cannot be read."""

    code = "technician_pin_invalid"


def check_pin_format(pin: str) -> None:
    """Raises :class:`PinError` unless ``pin`` is 4 to 12 ASCII digits and not trivially guessable."""
    if not (pin.isascii() and pin.isdigit()):
        raise PinError("the PIN must be digits only")
    if not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise PinError(f"the PIN must have {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    if len(set(pin)) == 1 or pin in "01234567890123" or pin in "98765432109876":
        raise PinError("the PIN is too easy to guess (all one digit, or a run like 1234)")


def hash_pin(pin: str, *, n: int = _SCRYPT_N) -> str:
    """A salted scrypt hash of ``pin``: ``scrypt$n$r$p$salt$hash`` (base64). Raises :class:`PinError`."""
    check_pin_format(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=128 * 1024 * 1024, dklen=32)
    return "$".join([_SCHEME, str(n), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)])


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches ``stored`` (constant-time compare). Raises :class:`PinError` when
    ``stored`` is empty or not a hash this module wrote."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            raise ValueError(scheme)
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt, validate=True), n=int(n), r=int(r), p=int(p),
                                maxmem=128 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        raise PinError("technician.pin_hash is not a hash written by `kiosk technician set-pin`") from None
    return hmac.compare_digest(actual, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class PinCheck(StrEnum):
    """The answer to one PIN entry."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_SET = "not_set"


@dataclass(frozen=True)
class PinAnswer:
    """What :meth:`PinGuard.try_pin` decided; ``tries_left`` before a lock, ``locked_s`` remaining."""

    result: PinCheck
    tries_left: int = 0
    locked_s: float = 0.0


class PinGuard:
    """Checks PINs against ``pin_hash`` and locks after ``max_wrong`` wrong ones in a row.

    Escalation: the n-th lock since the last correct PIN lasts ``lockout_s * 2**(n-1)`` seconds,
    capped at ``max_lockout_s`` (:data:`MAX_LOCKOUT_S`, or ``lockout_s`` when that is longer). When
    a lock runs out the person gets ``max_wrong`` new tries, but the next lock is twice as long;
    only a correct PIN starts again from ``lockout_s`` (or ``kiosk technician unlock``, which
    deletes the state file). Each lock calls ``on_lockout(lockouts, lockout_s)`` (the alarm; it
    is also logged as a warning, without the PIN); an alarm that raises is logged and the lock
    holds anyway.

    The lock uses wall-clock time (``clock.now()``) so that it survives a restart when
    ``state_file`` is given; the wrong-PIN count, the lock's end and the number of locks are kept
    there. A broken state file counts as locked-out-free but is logged. With a state file, the
    file decides: it is read again on every entry, so deleting it unlocks.
    """

    def __init__(self, pin_hash: str, max_wrong: int, lockout_s: float, clock: Clock, state_file: Path | None = None,
                 *, max_lockout_s: float = MAX_LOCKOUT_S, on_lockout: LockoutAlarm | None = None) -> None:
        self._pin_hash = pin_hash
        self._max_wrong = max_wrong
        self._lockout_s = lockout_s
        self._max_lockout_s = max(max_lockout_s, lockout_s)
        self._clock = clock
        self._state_file = state_file
        self._on_lockout = on_lockout
        self._wrong = 0
        self._lockouts = 0
        self._locked_until: datetime | None = None
        self._load()

    @property
    def enabled(self) -> bool:
        """False when no PIN is set (the technician mode cannot be entered)."""
        return bool(self._pin_hash)

    def locked_seconds(self) -> float:
        """Seconds the lock still holds (0 when not locked)."""
        if self._locked_until is None:
            return 0.0
        left = (self._locked_until - self._clock.now()).total_seconds()
        if left <= 0:
            self._locked_until = None
            self._wrong = 0
            self._save()
            return 0.0
        return left

    def try_pin(self, pin: str) -> PinAnswer:
        """Checks one entry. A PIN tried while locked is not even compared (no oracle during a lock).

        The state file, when given, is read again first: ``kiosk technician unlock`` deletes it to
        clear a lock on a running kiosk."""
        self._load()
        if not self.enabled:
            return PinAnswer(PinCheck.NOT_SET)
        locked = self.locked_seconds()
        if locked > 0:
            return PinAnswer(PinCheck.LOCKED, locked_s=locked)
        try:
            ok = verify_pin(pin, self._pin_hash)
        except PinError:
            log.error("technician.pin_hash is unreadable; technician mode refused")
            return PinAnswer(PinCheck.NOT_SET)
        if ok:
            self._wrong = 0
            self._lockouts = 0
            self._save()
            return PinAnswer(PinCheck.ACCEPTED, tries_left=self._max_wrong)
        self._wrong += 1
        if self._wrong >= self._max_wrong:
            self._lockouts += 1
            seconds = self.lockout_seconds(self._lockouts)
            self._locked_until = self._clock.now() + timedelta(seconds=seconds)
            self._save()
            self._alarm(seconds)
            return PinAnswer(PinCheck.LOCKED, locked_s=seconds)
        self._save()
        return PinAnswer(PinCheck.WRONG, tries_left=self._max_wrong - self._wrong)

    def lockout_seconds(self, lockouts: int) -> float:
        """How long the ``lockouts``-th lock in a row lasts (seconds): doubling, capped."""
        # The exponent is bounded so that a huge count in a tampered state file cannot overflow.
        return min(self._max_lockout_s, self._lockout_s * 2 ** min(max(lockouts, 1) - 1, 64))

    def _alarm(self, seconds: float) -> None:
        log.warning("technician mode locked after %d wrong PINs: lock %d in a row, for %.0f s",
                    self._max_wrong, self._lockouts, seconds)
        if self._on_lockout is None:
            return
        try:
            self._on_lockout(self._lockouts, seconds)
        except Exception as exc:  # noqa: BLE001 - the lock must hold even when the alarm cannot be raised
            log.error("technician lockout alarm failed: %s", reason_code(exc))

    def _load(self) -> None:
        if self._state_file is None:
            return  # the count lives in memory only
        self._wrong = 0
        self._lockouts = 0
        self._locked_until = None
        if not self._state_file.is_file():
            return
        try:
            state = json.loads(self._state_file.read_text(encoding="utf-8"))
            self._wrong = int(state.get("wrong", 0))
            self._lockouts = max(0, int(state.get("lockouts", 0)))  # absent in files of older kiosks
            until = state.get("locked_until")
            self._locked_until = datetime.fromisoformat(until) if until else None
        except (ValueError, TypeError, AttributeError, OverflowError):
            self._wrong = 0
            self._lockouts = 0
            self._locked_until = None
            log.warning("technician lockout state unreadable; starting from zero")

    def _save(self) -> None:
        if self._state_file is None:
            return
        state = {"wrong": self._wrong, "locked_until": self._locked_until.isoformat() if self._locked_until else None,
                 "lockouts": self._lockouts}
        # Atomic and synced: a truncated file after a power cut would read as "no lock, no escalation".
        replace_file_privately(self._state_file, json.dumps(state).encode("utf-8"))


class CornerTaps:
    """The hidden entry gesture: ``taps`` touches in a ``corner_px`` square of the top-left corner
    within ``window_s`` seconds. A touch elsewhere starts the count again, so a pensioner tapping
    around the screen never opens it. Positions are widget pixels (x right, y down)."""

    def __init__(self, clock: Clock, taps: int = 5, window_s: float = 3.0, corner_px: int = 160) -> None:
        self._clock = clock
        self._taps = taps
        self._window_s = window_s
        self._corner_px = corner_px
        self._times: list[float] = []

    @property
    def counting(self) -> bool:
        """True while taps in the corner are being counted (the UI stays quiet meanwhile)."""
        return bool(self._times)

    def touch(self, x: float, y: float) -> bool:
        """Records a touch; True when it completes the gesture (the count then starts again)."""
        if not (0 <= x < self._corner_px and 0 <= y < self._corner_px):
            self._times.clear()
            return False
        now = self._clock.monotonic()
        self._times = [t for t in self._times if now - t <= self._window_s] + [now]
        if len(self._times) >= self._taps:
            self._times.clear()
            return True
        return False


def lockout_state_file(data_dir: Path) -> Path:
    """Where :class:`PinGuard` keeps its wrong-PIN count: ``<data_dir>/technician_lockout.json``."""
    return data_dir / "technician_lockout.json"


def audit_lockouts(open_store: Callable[[], AbstractContextManager[Any]]) -> LockoutAlarm:
    """An ``on_lockout`` alarm for :class:`PinGuard` that appends ``technician``/
    :data:`LOCKOUT_AUDIT_CODE` with ``{"lockouts": n, "lockout_s": seconds}`` to the audit log.

    ``open_store()`` returns a :class:`kiosk.store.Store` (a context manager), opened and closed
    per alarm. Runs on the caller's thread and blocks for one database write (once per lock).
    """

    def alarm(lockouts: int, lockout_s: float) -> None:
        with open_store() as store:
            store.audit(None, "technician", LOCKOUT_AUDIT_CODE, {"lockouts": lockouts, "lockout_s": round(lockout_s)})

    return alarm


def technician_pin_guard(config: KioskConfig, clock: Clock) -> PinGuard:
    """The terminal's :class:`PinGuard`: ``technician.*`` from the configuration, the state file
    in the data folder, and every lock an alarm in the audit log (:func:`audit_lockouts`)."""
    from kiosk.store import Store  # noqa: PLC0415 - the PIN rules stay importable without the database layer

    technician = config.technician
    return PinGuard(technician.pin_hash, technician.max_wrong_pins, technician.lockout_s, clock,
                    lockout_state_file(config.terminal.resolved_data_dir()),
                    on_lockout=audit_lockouts(lambda: Store.from_config(config, clock)))
