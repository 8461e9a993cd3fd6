"""What the session controller needs from the devices, as small protocols.

The controller (``kiosk.session``) talks only to these; ``kiosk.devices`` adapts the real reader,
camera and matcher to them, tests pass fakes, and the UI provides the voice. Every callback named
``post`` takes a flow event (``kiosk.flow``) and is thread-safe: devices call it from their own
threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kiosk.flow import Event, Speak

Post = Callable[[Event], None]


@dataclass(frozen=True)
class Preview:
    """One camera frame for the live preview, with what the landmarks showed (no identity).

    ``image`` is BGR uint8 (height, width, 3); ``face_box`` is (x, y, width, height) in pixels;
    ratios are the eye aspect ratio (mean of both eyes) and the mouth opening ratio.
    """

    image: np.ndarray
    face_box: tuple[int, int, int, int] | None = None
    landmarks: np.ndarray | None = None
    eye_ratio: float | None = None
    mouth_ratio: float | None = None
    hint: str | None = None


@dataclass(frozen=True)
class LivenessScores:
    """Scores of one liveness attempt, for the local record only (never shown to the person)."""

    liveness_score: float | None = None
    attack_score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchOutcome:
    """A 1:1 decision reduced to what the controller needs: ``reason`` is set when not matched.

    ``model``: the model whose distance decided ("sface", "dlib"; "" when unknown), shown to the
    technician. ``reference_distances``: per reference, in the order given to the matcher (NaN:
    not compared); a live reference is earned from the official one's (kiosk/live_references.py).
    """

    matched: bool
    distance: float | None
    reason: str | None = None
    model: str = ""
    reference_distances: tuple[float, ...] = ()


class CardReaderPort(Protocol):
    """Watches the card reader and posts CardPlaced / CardRead / CardRejected / CardRemoved, and
    MaintenanceRequired / DevicesReady when the reader goes away or comes back."""

    def start(self, post: Post) -> None:
        """Starts watching (returns at once; events come from the reader's thread)."""

    def stop(self) -> None:
        """Stops watching and releases the port (idempotent)."""


class LivenessPort(Protocol):
    """Runs the camera and the liveness challenge for one attempt at a time."""

    def start(self, attempt: int, post: Post, on_preview: Callable[[Preview], None] | None) -> None:
        """Opens the camera and starts a new challenge; posts QualityHinted, FacePositioned,
        ActionPrompted, ActionCompleted, LivenessPassed / LivenessFailed, or DeviceFailed."""

    def stop(self) -> None:
        """Stops the challenge and the camera (idempotent)."""

    def prompt_heard(self, action: str) -> None:
        """The voice finished asking for ``action``: its time window starts now (any thread)."""

    def best_frames(self) -> list[np.ndarray]:
        """The sharpest frontal eyes-open frames of the last passed challenge (BGR)."""

    def scores(self) -> LivenessScores:
        """The scores of the last challenge."""

    def wipe(self) -> None:
        """Drops every frame and score held for the last person."""


class MatcherPort(Protocol):
    """1:1 verification, off the controller's thread."""

    def verify(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> Future[MatchOutcome]:
        """Starts comparing; the future resolves to a :class:`MatchOutcome` (or raises)."""

    def encode(self, image_bgr: np.ndarray) -> Future:
        """Starts encoding one face; the future resolves to an object with a ``vector`` (128 floats)."""


class VoicePort(Protocol):
    """Plays prompts; implemented by the UI (Qt multimedia) or by a recorder in headless runs.

    A voice whose ``reports_prompt_ends`` attribute is True promises that the end of every prompt
    played in full reaches the controller as a ``PromptFinished`` event; the actions' time windows
    then start when their prompt has been heard."""

    def speak(self, prompt: Speak) -> None:
        """Plays ``prompt`` (never overlapping another); returns at once."""


class ScreenVoice(VoicePort, Protocol):
    """The voice of the kiosk window, which also silences it when a session ends (the UI's player)."""

    def stop(self) -> None:
        """Stops what is playing and drops what is queued (returns at once)."""

    def set_language(self, language: str) -> None:
        """Speaks ``language`` (``cmn`` Mandarin, ``yue`` Cantonese) from the next prompt on."""


class PresencePort(Protocol):
    """Watches for a person walking up to the idle terminal (posts PersonApproached)."""

    def start(self, post: Post) -> None:
        """Starts watching (idempotent; returns at once)."""

    def stop(self) -> None:
        """Stops watching and releases the camera before returning (idempotent)."""


class StaffCallPort(Protocol):
    """Where the controller sends staff calls (:class:`kiosk.staff_calls.StaffCallService`). Both
    methods are thread-safe and return at once; the answers come back as flow events."""

    def raise_call(self, call_id: str, reason: str, screen: str) -> None:
        """Sends a staff call (stored, delivered at once, queued while the centre is out of reach)."""

    def acknowledge_here(self, staff_number: str | None) -> None:
        """A staff member is at the terminal: acknowledge every open call."""
