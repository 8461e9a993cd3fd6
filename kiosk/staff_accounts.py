"""Staff accounts of the hall and their sign-in at the terminal (issue 17, item 2).

Each staff member has their own account (name, staff number, PIN or card, roles), not the shared
technician PIN: a face-to-face certification names who made it. The PIN is kept as a salted scrypt
hash (:func:`kiosk.technician.hash_pin`, the technician PIN's scheme), a card as the SHA-256 of its
number. Accounts are managed with ``kiosk staff add/list/disable`` and on the technician page.

Sign-in (:class:`StaffSignIn`) counts wrong PINs across all staff numbers (guessing numbers must not
give more tries) and locks for ``technician.lockout_s`` after ``technician.max_wrong_pins`` in a row.
Every sign-in, refusal, change of an account is written to the audit log with the staff number
(a staff member's work number, not a pensioner's data) and never the PIN.

Thread rules: a :class:`StaffSignIn` may be used from any one thread at a time (the UI calls it off
the GUI thread: a scrypt check takes ~0.2 s); it opens its own store for each answer.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from kiosk.clock import Clock
from kiosk.errors import KioskError
from kiosk.store import Store
from kiosk.store.staff import STAFF_ROLES, StaffAccount
from kiosk.technician import PinError, check_pin_format, hash_pin, verify_pin
from wire.staff import STAFF_NUMBER_PATTERN

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

_NUMBER = re.compile(STAFF_NUMBER_PATTERN)


class StaffAccountError(KioskError):
    """A staff account cannot be made as asked (a bad number, role or name)."""

    code = "staff_account_invalid"


def add_staff_account(store: Store, staff_number: str, name: str, pin: str, roles: set[str] | frozenset[str],
                      card_number: str | None = None) -> StaffAccount:
    """Adds an account; returns it. Raises :class:`StaffAccountError` for a bad number, name or
    role, :class:`~kiosk.technician.PinError` for a PIN that is not 4-12 digits, StorageError
    (``storage_duplicate_staff``) when the number or the card is taken. Audited."""
    if not _NUMBER.match(staff_number):
        raise StaffAccountError("a staff number is 1-32 ASCII letters, digits, '-' or '_'")
    unknown = set(roles) - STAFF_ROLES
    if not roles or unknown:
        raise StaffAccountError(f"roles are some of {', '.join(sorted(STAFF_ROLES))}")
    if not name.strip() or len(name.strip()) > 64:
        raise StaffAccountError("a staff member's name is 1-64 characters")
    check_pin_format(pin)
    store.add_staff(staff_number, name.strip(), hash_pin(pin), frozenset(roles), card_number or None)
    store.audit(None, "staff_admin", "added", {"staff_number": staff_number, "roles": ",".join(sorted(roles))})
    log.info("staff account %s added", staff_number)
    account = store.staff_account(staff_number)
    assert account is not None
    return account


def disable_staff_account(store: Store, staff_number: str, disabled: bool = True) -> bool:
    """Disables (or enables) an account; False when there is none. Audited."""
    changed = store.set_staff_disabled(staff_number, disabled)
    if changed:
        store.audit(None, "staff_admin", "disabled" if disabled else "enabled", {"staff_number": staff_number})
    return changed


class SignInResult(StrEnum):
    """The answer to one sign-in."""

    ACCEPTED = "accepted"
    WRONG = "wrong"  # unknown number, wrong PIN, disabled account or missing role: one answer for all
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInAnswer:
    """``account`` when accepted; ``tries_left`` before the lock; ``locked_s`` remaining."""

    result: SignInResult
    account: StaffAccount | None = None
    tries_left: int = 0
    locked_s: float = 0.0


class StaffSignIn:
    """Checks staff sign-ins against the store; see the module docstring for the lock."""

    def __init__(self, open_store: Callable[[], AbstractContextManager[Store]], clock: Clock, *, max_wrong: int,
                 lockout_s: float) -> None:
        self._open_store = open_store
        self._clock = clock
        self._max_wrong = max_wrong
        self._lockout_s = lockout_s
        self._lock = threading.Lock()
        self._wrong = 0
        self._locked_until: datetime | None = None

    def accounts(self, role: str = "verifier") -> list[StaffAccount]:
        """The active accounts with ``role``, for the staff member to touch their own name."""
        with self._open_store() as store:
            return [a for a in store.staff_accounts(include_disabled=False) if role in a.roles]

    def with_pin(self, staff_number: str, pin: str, role: str = "verifier") -> SignInAnswer:
        """Signs in with a staff number and PIN, for ``role``."""
        with self._lock:
            locked = self._locked_seconds()
            if locked > 0:
                return SignInAnswer(SignInResult.LOCKED, locked_s=locked)
            with self._open_store() as store:
                account = store.staff_account(staff_number.strip())
                # An unknown number costs a scrypt check too: the answer time must not tell numbers apart.
                ok = _pin_matches(pin, account.pin_hash if account is not None else _dummy_hash()) and account is not None
                return self._answer(store, account if ok else None, role, staff_number.strip())

    def with_card(self, card_number: str, role: str = "verifier") -> SignInAnswer:
        """Signs in with a staff card (its number as the reader gives it), for ``role``."""
        with self._lock:
            locked = self._locked_seconds()
            if locked > 0:
                return SignInAnswer(SignInResult.LOCKED, locked_s=locked)
            with self._open_store() as store:
                account = store.staff_by_card(card_number)
                return self._answer(store, account, role, account.staff_number if account else "")

    def _answer(self, store: Store, account: StaffAccount | None, role: str, number: str) -> SignInAnswer:
        detail = {"staff_number": number[:32]} if _NUMBER.match(number) else None
        if account is not None and not account.disabled and role in account.roles:
            self._wrong = 0
            store.audit(None, "staff", "sign_in_accepted", detail)
            return SignInAnswer(SignInResult.ACCEPTED, account=account, tries_left=self._max_wrong)
        self._wrong += 1
        store.audit(None, "staff", "sign_in_refused", detail)
        if self._wrong >= self._max_wrong:
            self._wrong = 0
            self._locked_until = self._clock.now() + timedelta(seconds=self._lockout_s)
            store.audit(None, "staff", "sign_in_locked", {"seconds": self._lockout_s})
            log.warning("staff sign-in locked for %.0f s after %d refusals", self._lockout_s, self._max_wrong)
            return SignInAnswer(SignInResult.LOCKED, locked_s=self._lockout_s)
        return SignInAnswer(SignInResult.WRONG, tries_left=self._max_wrong - self._wrong)

    def _locked_seconds(self) -> float:
        if self._locked_until is None:
            return 0.0
        left = (self._locked_until - self._clock.now()).total_seconds()
        if left <= 0:
            self._locked_until = None
            return 0.0
        return left


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_pin("9182736450"))
    return _DUMMY[0]


def _pin_matches(pin: str, pin_hash: str) -> bool:
    try:
        return verify_pin(pin, pin_hash)
    except PinError:
        log.error("a staff account's PIN hash is unreadable; sign-in refused")
        return False


def staff_sign_in(config: KioskConfig, clock: Clock) -> StaffSignIn:
    """The terminal's staff sign-in over its store, with the technician mode's lock settings."""
    return StaffSignIn(lambda: Store.from_config(config, clock), clock, max_wrong=config.technician.max_wrong_pins,
                       lockout_s=config.technician.lockout_s)
