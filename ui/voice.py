"""Voice playback through QtMultimedia: the kiosk's :class:`kiosk.ports.VoicePort`.

A :class:`~kiosk.flow.Speak` becomes a list of WAV clips (:func:`ui.voice_clips.speech_clips`; a
recorded clip in ``ui.voice_dir`` wins over the rendered one) played one after the other.

Prompts never overlap, and no instruction is ever dropped or kept waiting behind chatter. Each
prompt has a class (:func:`prompt_class`):

* ``screen``: a prompt that opens a screen (``card_reading``, ``status_*``, ``consent_question``,
  ``positioning_*``, ``matching``, ``result_*``, ``maintenance``) stops whatever is playing, drops
  whatever waits and plays at once: what was said for the previous screen no longer applies;
* ``action``: an instruction the person must hear (``action_blink`` ..., ``remove_card``,
  ``reminder_still_there``, the staff call's and the review decision's news, the helper offer)
  is never dropped or replaced: it waits in order
  behind other instructions, ahead of any chatter. An ``action_*`` prompt also cuts off a screen
  prompt still playing (the screen has moved on to the action, which has a time window) and
  drops a waiting hint; it lets a short chatter clip playing now finish (no half word);
* ``chatter`` (hints, "很好"): plays when nothing else does; at most one waits, a newer one
  replaces it (a stale hint is worse than none).

:attr:`VoicePlayer.finished` tells when a prompt has been played to its end (not when it was cut
off): the session learns from it when an action's time window may start.
:meth:`VoicePlayer.stop` (session wiped) silences everything.

Thread rule: :meth:`VoicePlayer.speak` and :meth:`stop` may be called from any thread (the session
controller's); they are marshalled to the GUI thread by a queued signal. Everything else runs on
the GUI thread. Privacy: prompts carry only dates and counts; logs name prompt and clip ids only.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot

from kiosk.errors import KioskError
from kiosk.flow import Speak
from ui.catalogue import Catalogue
from ui.dialects import DEFAULT_LANGUAGE, clip_dir
from ui.voice_clips import clip_path, speech_clips

log = logging.getLogger(__name__)

CHATTER_PREFIXES = ("hint_",)
CHATTER = frozenset({"face_ok", "action_done"})
ACTIONS = frozenset({"remove_card", "reminder_still_there", "staff_called", "staff_calling", "staff_call_local",
                     "staff_coming", "helper_offer"})
ACTION_PREFIXES = ("action_", "review_")

SCREEN, ACTION, CHATTER_CLASS = "screen", "action", "chatter"


def prompt_class(prompt: str) -> str:
    """``screen``, ``action`` or ``chatter`` (see the module docstring)."""
    if prompt in CHATTER or prompt.startswith(CHATTER_PREFIXES):
        return CHATTER_CLASS
    if prompt in ACTIONS or prompt.startswith(ACTION_PREFIXES):
        return ACTION
    return SCREEN


def interrupts(prompt: str) -> bool:
    """True when ``prompt`` opens a screen and so cuts off what is playing (see the module docstring)."""
    return prompt_class(prompt) == SCREEN


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

    def set_volume(self, volume: float) -> None:
        self._output.setVolume(volume)

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
    (the technician page and the tests listen to it); ``finished`` with each prompt id that was
    played to its end (the session posts it to the flow as a ``PromptFinished`` event).
    """

    reports_prompt_ends = True  # read by kiosk.runtime: action windows wait for PromptFinished
    started = Signal(str)
    finished = Signal(str)
    _requested = Signal(object)
    _stop_requested = Signal()

    def __init__(self, catalogue: Catalogue, rendered_dir: Path, recorded_dir: Path | None, *, volume: float = 0.9,
                 backend: object | None = None, parent: QObject | None = None, language: str = DEFAULT_LANGUAGE) -> None:
        super().__init__(parent)
        self._catalogue = catalogue
        self._rendered_dir = rendered_dir
        self._recorded_dir = recorded_dir
        self.default_language = language
        self.language = language
        self._backend = backend if backend is not None else QtAudioBackend(volume, self)
        self._backend.on_finished = self._clip_finished
        self._current: list[Path] = []
        self._playing: str | None = None
        self._playing_class: str | None = None
        self._instructions: deque[Speak] = deque()  # action-class prompts, never dropped, in order
        self._waiting: Speak | None = None  # the one chatter prompt that may wait
        self._requested.connect(self._on_request)
        self._stop_requested.connect(self._on_stop)

    def set_language(self, language: str) -> None:
        """Speaks ``language`` (``cmn`` or ``yue``) from the next prompt on (GUI thread). A clip
        missing in that language is played in Mandarin rather than not at all."""
        self.language = language

    def set_volume(self, volume: float) -> None:
        """The loudness of the voice, 0-1 (GUI thread; the technician's setting, applied at once)."""
        if isinstance(self._backend, QtAudioBackend):
            self._backend.set_volume(volume)

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

    @property
    def waiting(self) -> list[str]:
        """The prompt ids waiting to be played, in the order they will play."""
        return [p.prompt for p in self._instructions] + ([self._waiting.prompt] if self._waiting else [])

    @Slot(object)
    def _on_request(self, prompt: Speak) -> None:
        kind = prompt_class(prompt.prompt)
        if kind == SCREEN:
            self._instructions.clear()
            self._waiting = None
            self._cut_and_start(prompt)
        elif kind == ACTION:
            if prompt.prompt.startswith("action_"):
                self._waiting = None  # a positioning hint no longer applies once an action is asked
            if self._playing is None:
                self._start(prompt)
            elif prompt.prompt.startswith("action_") and self._playing_class == SCREEN and not self._instructions:
                self._cut_and_start(prompt)
            else:
                self._instructions.append(prompt)
        elif self._playing is None:
            self._start(prompt)
        else:
            self._waiting = prompt

    def _cut_and_start(self, prompt: Speak) -> None:
        if self._playing is not None:
            self._current = []
            self._playing = None
            self._backend.stop()
        self._start(prompt)

    @Slot()
    def _on_stop(self) -> None:
        self._instructions.clear()
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
            self._play_next_waiting()
            return
        paths = []
        for clip in clips:
            path = self._clip_path(clip.clip_id)
            if path is None:
                log.warning("voice clip %s is missing (run `kiosk voice render`)", clip.clip_id)
            else:
                paths.append(path)
        self._playing = prompt.prompt
        self._playing_class = prompt_class(prompt.prompt)
        self._current = paths
        self.started.emit(prompt.prompt)
        self._next_clip()

    def _clip_path(self, clip_id: str) -> Path | None:
        if self.language != DEFAULT_LANGUAGE:
            recorded = clip_dir(self._recorded_dir, self.language) if self._recorded_dir else None
            path = clip_path(clip_id, clip_dir(self._rendered_dir, self.language), recorded)
            if path is not None:
                return path
        return clip_path(clip_id, self._rendered_dir, self._recorded_dir)

    def _next_clip(self) -> None:
        if self._current:
            self._backend.play(self._current.pop(0))
            return
        done, self._playing = self._playing, None
        if done is not None:
            self.finished.emit(done)
        self._play_next_waiting()

    def _play_next_waiting(self) -> None:
        if self._playing is not None:
            return
        if self._instructions:
            self._start(self._instructions.popleft())
        elif self._waiting is not None:
            prompt, self._waiting = self._waiting, None
            self._start(prompt)

    def _clip_finished(self) -> None:
        if self._playing is not None:
            self._next_clip()
