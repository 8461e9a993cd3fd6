"""The vocabulary of the certification flow: events (past tense, what happened) and effects (what
the controller must do). Plain frozen dataclasses; :mod:`kiosk.flow` holds the machine itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from kiosk.reasons import Outcome


# --- events (past tense) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Base of every event; ``name`` is the key of the transition table."""

    name: ClassVar[str] = "event"


@dataclass(frozen=True)
class CardPlaced(Event):
    name: ClassVar[str] = "card_placed"


@dataclass(frozen=True)
class CardRead(Event):
    """The card was read and its ID number is valid; ``display_name`` is already masked."""

    name: ClassVar[str] = "card_read"
    id_number: str
    display_name: str


@dataclass(frozen=True)
class CardRejected(Event):
    """The card could not be used (unreadable, expired, invalid number): ``code`` says why."""

    name: ClassVar[str] = "card_rejected"
    code: str


@dataclass(frozen=True)
class CardRemoved(Event):
    name: ClassVar[str] = "card_removed"


@dataclass(frozen=True)
class PensionerFound(Event):
    """The roster knows the person and holds a reference face; ``last_certified`` may be None."""

    name: ClassVar[str] = "pensioner_found"
    last_certified: date | None


@dataclass(frozen=True)
class ReferenceMissing(Event):
    """The roster knows the person but there is no usable reference face yet."""

    name: ClassVar[str] = "reference_missing"
    last_certified: date | None
    code: str = Outcome.NO_REFERENCE


@dataclass(frozen=True)
class PensionerNotFound(Event):
    name: ClassVar[str] = "pensioner_not_found"


@dataclass(frozen=True)
class PersonApproached(Event):
    """A face came near the idle terminal (the camera's presence watcher)."""

    name: ClassVar[str] = "person_approached"


@dataclass(frozen=True)
class IdleTouched(Event):
    """Someone touched the idle screen (many elders tap it to begin): tell them how to start."""

    name: ClassVar[str] = "idle_touched"


@dataclass(frozen=True)
class StartRequested(Event):
    name: ClassVar[str] = "start_requested"


@dataclass(frozen=True)
class ConsentGiven(Event):
    name: ClassVar[str] = "consent_given"


@dataclass(frozen=True)
class ConsentRefused(Event):
    name: ClassVar[str] = "consent_refused"


@dataclass(frozen=True)
class QualityHinted(Event):
    """The camera sees a problem with the face (a quality reason code), or none (``code`` None)."""

    name: ClassVar[str] = "quality_hinted"
    code: str | None


@dataclass(frozen=True)
class FacePositioned(Event):
    name: ClassVar[str] = "face_positioned"


@dataclass(frozen=True)
class ActionPrompted(Event):
    """The liveness session asks for ``action`` (blink, mouth_open, turn_left, turn_right)."""

    name: ClassVar[str] = "action_prompted"
    action: str


@dataclass(frozen=True)
class ActionCompleted(Event):
    name: ClassVar[str] = "action_completed"
    action: str


@dataclass(frozen=True)
class LivenessPassed(Event):
    name: ClassVar[str] = "liveness_passed"


@dataclass(frozen=True)
class LivenessFailed(Event):
    """Liveness failed: ``code`` is the camera's reason (action_timeout, spoof_detected, ...)."""

    name: ClassVar[str] = "liveness_failed"
    code: str


@dataclass(frozen=True)
class Matched(Event):
    name: ClassVar[str] = "matched"


@dataclass(frozen=True)
class Mismatched(Event):
    """Not the same person, or no usable face for comparison: ``code`` says which."""

    name: ClassVar[str] = "mismatched"
    code: str = Outcome.MISMATCH


@dataclass(frozen=True)
class RetryRequested(Event):
    name: ClassVar[str] = "retry_requested"


@dataclass(frozen=True)
class ManualReviewRequested(Event):
    name: ClassVar[str] = "manual_review_requested"


@dataclass(frozen=True)
class Finished(Event):
    """The person touched "done" (完成) on the result screen."""

    name: ClassVar[str] = "finished"


@dataclass(frozen=True)
class UserActive(Event):
    """A touch on the screen (or a face in view) that shows the person is still there."""

    name: ClassVar[str] = "user_active"


@dataclass(frozen=True)
class RepeatRequested(Event):
    """"再听一遍": speak the current prompt again."""

    name: ClassVar[str] = "repeat_requested"


@dataclass(frozen=True)
class HelpRequested(Event):
    """"请工作人员帮助": call staff to the terminal."""

    name: ClassVar[str] = "help_requested"


@dataclass(frozen=True)
class DeviceFailed(Event):
    """A device failed during a session (camera lost, matcher crashed, disk full): ``code``."""

    name: ClassVar[str] = "device_failed"
    code: str


@dataclass(frozen=True)
class RecordFailed(Event):
    """The record of the result could not be stored (disk full, database error): ``code``.

    The person must then not be told they are certified: the result becomes a device error.
    """

    name: ClassVar[str] = "record_failed"
    code: str


@dataclass(frozen=True)
class MaintenanceRequired(Event):
    """Something certification needs is missing: the terminal shows the maintenance screen.

    ``device`` names what reported it (``reader``, ``camera``, ``storage``) so that it alone can
    clear it again with :class:`DevicesReady`.
    """

    name: ClassVar[str] = "maintenance_required"
    code: str
    device: str = ""


@dataclass(frozen=True)
class DevicesReady(Event):
    """``device`` works again (empty: every device)."""

    name: ClassVar[str] = "devices_ready"
    device: str = ""


@dataclass(frozen=True)
class TechnicianEntered(Event):
    name: ClassVar[str] = "technician_entered"


@dataclass(frozen=True)
class TechnicianLeft(Event):
    name: ClassVar[str] = "technician_left"


@dataclass(frozen=True)
class TimedOut(Event):
    """The current state's deadline passed (made by :meth:`Flow.tick`)."""

    name: ClassVar[str] = "timed_out"


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
class StopCamera(Effect):
    """Stop the liveness session and the camera; drop its frames."""


@dataclass(frozen=True)
class RunMatch(Effect):
    """Compare the best live frames with the person's references; answer matched / mismatched."""


@dataclass(frozen=True)
class StoreRecord(Effect):
    """Store one certification record (and its outbox row) for this attempt."""

    outcome: str
    attempt: int
    valid_until: date | None = None


@dataclass(frozen=True)
class Audit(Effect):
    """Append a step to the audit log (no personal data)."""

    step: str
    code: str


@dataclass(frozen=True)
class CallStaff(Effect):
    """Alert the hall staff (sound, light, message to the technician page)."""


@dataclass(frozen=True)
class Wipe(Effect):
    """Forget everything of the person: card, frames, scores, references in memory."""
