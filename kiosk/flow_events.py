"""The vocabulary of the certification flow: events (past tense, what happened) and effects (what
the controller must do). Plain frozen dataclasses; :mod:`kiosk.flow` holds the machine itself.

The flow's table is keyed by an event's class; :func:`event_name` gives the snake_case name used
in the README's diagram and in logs (``CardPlaced`` -> ``card_placed``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from kiosk.reasons import Outcome


# --- events (past tense) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Base of every event. The flow's table is keyed by the event's class (no names to keep in step)."""


@dataclass(frozen=True)
class CardPlaced(Event):
    """A card was laid on the reader (not read yet)."""


@dataclass(frozen=True)
class CardRead(Event):
    """The card was read and its ID number is valid; ``display_name`` is already masked.

    The flow keeps only the masked name; the session controller keeps ``id_number`` in its own
    session data (for the roster lookup and the record) and drops it on every wipe.
    """

    id_number: str
    display_name: str


@dataclass(frozen=True)
class CardRejected(Event):
    """The card could not be used (unreadable, expired, invalid number): ``code`` says why."""

    code: str


@dataclass(frozen=True)
class CardRemoved(Event):
    """The card was taken off the reader."""


@dataclass(frozen=True)
class PensionerFound(Event):
    """The roster knows the person and holds a reference face; ``last_certified`` may be None.
    ``review``: ``approved`` / ``rejected`` when a reviewer at the centre recently decided the
    person's manual-review request (the status screen tells them), else None."""

    last_certified: date | None
    review: str | None = None


@dataclass(frozen=True)
class ReferenceMissing(Event):
    """The roster knows the person but there is no usable reference face yet."""

    last_certified: date | None
    code: str = Outcome.NO_REFERENCE


@dataclass(frozen=True)
class PensionerNotFound(Event):
    """The roster does not know the card's ID number."""


@dataclass(frozen=True)
class PersonApproached(Event):
    """A face came near the idle terminal (the camera's presence watcher)."""


@dataclass(frozen=True)
class IdleTouched(Event):
    """Someone touched the idle screen (many elders tap it to begin): tell them how to start."""


@dataclass(frozen=True)
class StartRequested(Event):
    """The person touched "start" on the status screen."""


@dataclass(frozen=True)
class HelperRequested(Event):
    """Someone touched "家人帮忙操作": a family member operates the screen for the card holder.

    Only the mode changes: the face checked and matched stays the card holder's, and nothing about
    the helper is kept."""


@dataclass(frozen=True)
class FacesCounted(Event):
    """The number of faces in the camera's view changed to ``count`` (0 when none is found).

    Posted by the liveness adapter on every change; the helper mode waits on it for exactly one."""

    count: int


@dataclass(frozen=True)
class ConsentGiven(Event):
    """The person agreed to the face check."""


@dataclass(frozen=True)
class ConsentRefused(Event):
    """The person declined the face check (the counter is the alternative)."""


@dataclass(frozen=True)
class QualityHinted(Event):
    """The camera sees a problem with the face (a quality reason code), or none (``code`` None)."""

    code: str | None


@dataclass(frozen=True)
class FacePositioned(Event):
    """The face is in the oval and the baseline is measured."""


@dataclass(frozen=True)
class ActionPrompted(Event):
    """The liveness session asks for ``action`` (blink, mouth_open, turn_left, turn_right)."""

    action: str


@dataclass(frozen=True)
class PromptFinished(Event):
    """The voice played prompt ``prompt`` (a prompt id) to its end: the person has heard it."""

    prompt: str


@dataclass(frozen=True)
class PersonLeft(Event):
    """The face that stood in front of the terminal has been gone for a while (presence watcher)."""


@dataclass(frozen=True)
class ActionCompleted(Event):
    """The liveness session saw ``action`` done."""
    action: str


@dataclass(frozen=True)
class LivenessPassed(Event):
    """Every action was done by a live person."""


@dataclass(frozen=True)
class LivenessFailed(Event):
    """Liveness failed: ``code`` is the camera's reason (action_timeout, spoof_detected, ...)."""

    code: str


@dataclass(frozen=True)
class Matched(Event):
    """The live face matches the person's reference."""


@dataclass(frozen=True)
class Mismatched(Event):
    """Not the same person, or no usable face for comparison: ``code`` says which."""

    code: str = Outcome.MISMATCH


@dataclass(frozen=True)
class RetryRequested(Event):
    """The person asked for another attempt on the result screen."""


@dataclass(frozen=True)
class ManualReviewRequested(Event):
    """The person asked for a manual review after the last attempt failed."""


@dataclass(frozen=True)
class Finished(Event):
    """The person touched "done" on the result screen."""


@dataclass(frozen=True)
class UserActive(Event):
    """A touch on the screen (or a face in view) that shows the person is still there."""


@dataclass(frozen=True)
class RepeatRequested(Event):
    """The person touched "listen again": speak the current prompt again."""


@dataclass(frozen=True)
class HelpRequested(Event):
    """The person touched "ask staff for help": call staff to the terminal."""


@dataclass(frozen=True)
class DeviceFailed(Event):
    """A device failed during a session (camera lost, matcher crashed, disk full): ``code``."""

    code: str


@dataclass(frozen=True)
class RecordFailed(Event):
    """The record of the result could not be stored (disk full, database error): ``code``.

    The person must then not be told they are certified: the result becomes a device error.
    """

    code: str


@dataclass(frozen=True)
class RecordStored(Event):
    """The record asked for by :class:`StoreRecord` is stored (with its outbox row).

    Only now is the result announced: a person must never hear "certified" for a record that was
    not written.
    """


@dataclass(frozen=True)
class MaintenanceRequired(Event):
    """Something certification needs is missing: the terminal shows the maintenance screen.

    ``device`` names what reported it (``reader``, ``camera``, ``storage``) so that it alone can
    clear it again with :class:`DevicesReady`.
    """

    code: str
    device: str = ""


@dataclass(frozen=True)
class DevicesReady(Event):
    """``device`` works again (empty: every device)."""

    device: str = ""


@dataclass(frozen=True)
class TechnicianEntered(Event):
    """The hidden gesture and the PIN were accepted."""


@dataclass(frozen=True)
class TechnicianLeft(Event):
    """The technician left the technician mode (button or inactivity)."""


@dataclass(frozen=True)
class TimedOut(Event):
    """The current state's deadline passed (made by :meth:`Flow.tick`)."""


@dataclass(frozen=True)
class StaffCallDelivered(Event):
    """The centre has staff call ``call_id``: staff see it on the hall console."""

    call_id: str


@dataclass(frozen=True)
class StaffCallUndelivered(Event):
    """Staff call ``call_id`` could not reach the centre (``code``); it is queued and retried, and
    the terminal signals locally."""

    call_id: str
    code: str


@dataclass(frozen=True)
class StaffCallAcknowledged(Event):
    """A staff member acknowledged call ``call_id`` (on the console, or at the terminal)."""

    call_id: str
    staff_number: str | None = None


@dataclass(frozen=True)
class StaffSignedIn(Event):
    """A staff member signed in at the terminal (their own PIN or card): they are here, so every
    open staff call of the terminal is acknowledged by them."""

    staff_number: str


@dataclass(frozen=True)
class StaffVerified(Event):
    """A signed-in staff member checked the person against their ID card face to face (面对面认证).

    ``reason`` is a :class:`wire.codes.StaffVerifiedReason` code; ``photo_jpeg`` the evidence photo,
    only with the person's consent (None when refused). The controller takes the photo out before
    the flow sees the event: the flow never holds an image."""

    staff_number: str
    reason: str
    photo_jpeg: bytes | None = field(default=None, repr=False, compare=False)


def event_name(event_type: type[Event]) -> str:
    """The snake_case name of an event class: ``CardPlaced`` -> ``card_placed`` (diagram, logs)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type.__name__).lower()


# --- effects (what the controller must do) -------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """Base of every effect."""


@dataclass(frozen=True)
class Speak(Effect):
    """Play prompt ``prompt`` (an id of the prompt catalogue) with ``params`` (dates, counts)."""

    prompt: str
    params: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class LookUpPensioner(Effect):
    """Look the card's ID number up in the roster; answer with a roster event."""


@dataclass(frozen=True)
class StartLiveness(Effect):
    """Open the camera and start a new liveness session for attempt ``attempt`` (1-based)."""

    attempt: int


@dataclass(frozen=True)
class ActionHeard(Effect):
    """The prompt for ``action`` has been heard: its time window starts now (the liveness port)."""

    action: str


@dataclass(frozen=True)
class StopCamera(Effect):
    """Stop the liveness session and the camera; drop its frames."""


@dataclass(frozen=True)
class RunMatch(Effect):
    """Compare the best live frames with the person's references; answer matched / mismatched."""


@dataclass(frozen=True)
class StoreRecord(Effect):
    """Store one certification record (and its outbox row) for this attempt; answer with
    :class:`RecordStored` or :class:`RecordFailed` before carrying out the effects after it."""

    outcome: str
    attempt: int
    valid_until: date | None = None
    staff_number: str | None = None
    staff_reason: str | None = None
    assisted_by: str | None = None
    """``family`` when a family member operated the screen (helper mode), else None."""


@dataclass(frozen=True)
class Audit(Effect):
    """Append a step to the audit log (no personal data)."""

    step: str
    code: str


@dataclass(frozen=True)
class CallStaff(Effect):
    """Call the hall staff: call ``call_id`` for ``reason`` (a :class:`wire.staff.StaffCallReason`)
    from ``screen`` (the state's name); the answer comes back as a staff-call event."""

    reason: str = "help_pressed"
    call_id: str = ""
    screen: str = ""


@dataclass(frozen=True)
class AcknowledgeStaffCalls(Effect):
    """Staff member ``staff_number`` is at the terminal: acknowledge every open staff call."""

    staff_number: str


@dataclass(frozen=True)
class Wipe(Effect):
    """Forget everything of the person: card, frames, scores, references in memory."""
