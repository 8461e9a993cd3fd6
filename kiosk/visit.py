"""The home visit (上门认证, issue 19): the staff member signs in once for the whole visit.

``kiosk run --profile visit`` runs the terminal's software on a staff laptop. Before the window
opens, the staff member signs in with their own staff account on the laptop (``kiosk staff add``,
issue 17) and PIN; every record of the visit then carries their staff number
(``terminal.staff_number``) and ``channel = home_visit``. A refused sign-in opens nothing.

Thread rule: called once, on the main thread, before the runtime starts.
"""

from __future__ import annotations

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import KioskError
from kiosk.staff_accounts import SignInResult, staff_sign_in

VISIT_ROLE = "verifier"
"""The staff role a home visit needs (the one that may certify face to face)."""


class VisitSignInError(KioskError):
    """The staff member could not be signed in for the visit (no number, a wrong PIN, locked)."""

    code = "visit_sign_in_refused"


def sign_in_for_visit(config: KioskConfig, pin: str, clock: Clock) -> str:
    """Checks the configured staff number and ``pin`` against the laptop's staff accounts; returns
    the staff number signed in for the visit. Raises :class:`VisitSignInError` with a technician
    message (never the PIN) when there is no number, the sign-in is refused or locked."""
    number = config.terminal.staff_number
    if not number:
        raise VisitSignInError("a home visit records who certified: give --staff-number (or terminal.staff_number)")
    answer = staff_sign_in(config, clock).with_pin(number, pin, role=VISIT_ROLE)
    if answer.result is SignInResult.LOCKED:
        raise VisitSignInError(f"staff sign-in locked for {answer.locked_s:.0f} s after too many wrong PINs")
    if answer.result is not SignInResult.ACCEPTED:
        raise VisitSignInError(f"staff {number}: wrong PIN, unknown or disabled account, or no {VISIT_ROLE} role "
                               "(accounts: kiosk staff list)")
    return number
