"""Voice playback through QtMultimedia: the kiosk's :class:`kiosk.ports.VoicePort`.

A :class:`~kiosk.flow.Speak` becomes a list of WAV clips (:func:`ui.voice_clips.speech_clips`; a
recorded clip in ``ui.voice_dir`` wins over the rendered one) played one after the other.

Prompts never overlap. The rule, chosen so that the person always hears the instruction for what
is on screen now, and never a half word:

* a prompt that opens a screen (``card_reading``, ``status_*``, ``consent_question``,
  ``positioning_*``, ``matching``, ``result_*``, ``maintenance``) stops whatever is playing and
  plays at once: what was said for the previous screen no longer applies;
* any other prompt (hints, actions, "很好", reminders, "staff called") waits for the current one to
  finish; at most one prompt waits, and a newer one replaces it (a stale hint is worse than none);
* :meth:`VoicePlayer.stop` (session wiped) silences everything.

Thread rule: :meth:`VoicePlayer.speak` and :meth:`stop` may be called from any thread (the session
controller's); they are marshalled to the GUI thread by a queued signal. Everything else runs on
the GUI thread. Privacy: prompts carry only dates and counts; logs name prompt and clip ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot

from kiosk.errors import KioskError
from kiosk.flow import Speak
from ui.catalogue import Catalogue
from ui.voice_clips import clip_path, speech_clips

log = logging.getLogger(__name__)

WITHIN_SCREEN_PREFIXES = ("hint_", "action_", "review_")
WITHIN_SCREEN = frozenset({"face_ok", "reminder_still_there", "staff_called", "staff_calling", "staff_call_local",
                           "staff_coming", "helper_offer"})


def interrupts(prompt: str) -> bool:
    """True when ``prompt`` opens a screen and so cuts off what is playing (see the module docstring)."""
    return not (prompt in WITHIN_SCREEN or prompt.startswith(WITHIN_SCREEN_PREFIXES))


class QtAudioBackend(QObject):
    """Plays one WAV file at a time with QMediaPlayer + QAudioOutput; calls ``on_finished`` at its end.

    With no sound device QMediaPlayer still plays silently in real time and reports the end, so
    the queue behaves the same on a test machine.
    """

    def __init__(self, volume: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer  # imported here: costs ~0.2 s

        self._media = QMediaPlayer
        self._output = QAudioOutput(self)
        self._output.setVolume(volume)
        self._player = QMediaPlayer(self)
        self._player.setAudioOutput(self._output)
        self._player.mediaStatusChanged.connect(self._status_changed)
        self._player.errorOccurred.connect(self._error)
        self.on_finished: Callable[[], None] = lambda: None

    def play(self, path: Path) -> None:
        self._player.setSource(QUrl.fromLocalFile(str(path)))
        self._player.play()

    def stop(self) -> None:
        self._player.stop()

    def _status_changed(self, status: object) -> None:
        if status in (self._media.MediaStatus.EndOfMedia, self._media.MediaStatus.InvalidMedia):
            self.on_finished()

    def _error(self, error: object, text: str = "") -> None:
        if error != self._media.Error.NoError:
            log.warning("voice clip could not be played: %s", text or error)
            self.on_finished()


class VoicePlayer(QObject):
    """The voice of the kiosk (see the module docstring for the queueing rule).

    ``backend`` has ``play(path)``, ``stop()`` and an ``on_finished`` callback attribute; the
    default is :class:`QtAudioBackend`. ``started`` is emitted with each prompt id as it starts
    (the technician page and the tests listen to it).
    """

    started = Signal(str)
    _requested = Signal(object)
    _stop_requested = Signal()

    def __init__(self, catalogue: Catalogue, rendered_dir: Path, recorded_dir: Path | None, *, volume: float = 0.9,
                 backend: object | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._catalogue = catalogue
        self._rendered_dir = rendered_dir
        self._recorded_dir = recorded_dir
        self._backend = backend if backend is not None else QtAudioBackend(volume, self)
        self._backend.on_finished = self._clip_finished
        self._current: list[Path] = []
        self._playing: str | None = None
        self._waiting: Speak | None = None
        self._requested.connect(self._on_request)
        self._stop_requested.connect(self._on_stop)

    def speak(self, prompt: Speak) -> None:
        """Plays ``prompt`` (any thread; returns at once)."""
        self._requested.emit(prompt)

    def stop(self) -> None:
        """Silences the voice and drops what waits (any thread)."""
        self._stop_requested.emit()

    @property
    def playing(self) -> str | None:
        """The prompt id playing now, or None."""
        return self._playing

    @Slot(object)
    def _on_request(self, prompt: Speak) -> None:
        if self._playing is None:
            self._start(prompt)
        elif interrupts(prompt.prompt):
            self._waiting = None
            self._backend.stop()
            self._start(prompt)
        else:
            self._waiting = prompt

    @Slot()
    def _on_stop(self) -> None:
        self._waiting = None
        self._current = []
        self._playing = None
        self._backend.stop()

    def _start(self, prompt: Speak) -> None:
        try:
            clips = speech_clips(self._catalogue, prompt.prompt, prompt.params)
        except KioskError as exc:
            log.error("prompt %s cannot be spoken: %s", prompt.prompt, exc.code)
            self._playing = None
            return
        paths = []
        for clip in clips:
            path = clip_path(clip.clip_id, self._rendered_dir, self._recorded_dir)
            if path is None:
                log.warning("voice clip %s is missing (run `kiosk voice render`)", clip.clip_id)
            else:
                paths.append(path)
        self._playing = prompt.prompt
        self._current = paths
        self.started.emit(prompt.prompt)
        self._next_clip()

    def _next_clip(self) -> None:
        if self._current:
            self._backend.play(self._current.pop(0))
            return
        self._playing = None
        if self._waiting is not None:
            prompt, self._waiting = self._waiting, None
            self._start(prompt)

    def _clip_finished(self) -> None:
        if self._playing is not None:
            self._next_clip()
