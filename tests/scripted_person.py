"""A whole session at an elderly person's pace, on a virtual clock (used by tests/test_elderly_pace.py).

What is real: the flow and its table, the session controller (driven on the caller's thread with
:meth:`~kiosk.session.SessionController.start_inline` / ``run_pending``), a store in a real SQLite
file, the Qt voice queue (:class:`ui.voice.VoicePlayer`) with clips rendered by espeak-ng, whose
backend plays each WAV for its real duration on the virtual clock, the liveness session
(:class:`camera.liveness.LivenessSession`, the same code the camera adapter runs) with the events
the adapter derives from it (:func:`kiosk.devices.liveness_adapter.events_between`).

What is scripted: the person, who waits for each spoken prompt to end and then ``reaction_s``
more before acting (placing the card, tapping, moving into the oval, blinking, lifting the card),
the face the camera sees (synthetic landmarks, :mod:`camera.synthetic`: they follow the person's
actions), the card reader (the card reads ``READ_S`` after it is laid down) and the matcher
(answers ``MATCH_S`` later).

Virtual time: the whole journey (about a minute of a person's time) runs in a few seconds. The
clock advances in steps of ``STEP_S``; frames come at ``FPS``. With ``real_time=True`` the same
journey runs on the system clock with the real Qt audio backend (QMediaPlayer, which plays the
clips silently in real time on a machine without a sound device and reports their ends): slow (a
minute and more), for measuring once. Thread rule: one thread (the caller's, with a QApplication).
"""

from __future__ import annotations

import heapq
import itertools
import time
import random
import wave
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camera.liveness import LivenessSession, LivenessUpdate
from camera.synthetic import observation
from kiosk.clock import FakeClock, SystemClock
from kiosk.config import KioskConfig
from kiosk.devices.liveness_adapter import PROMPT_HEARD_WAIT_S, events_between
from kiosk.flow import (
    CardPlaced, CardRead, CardRemoved, ConsentGiven, Finished, FlowView, PersonApproached, PromptFinished, Speak,
    StartRequested, State,
)
from kiosk.ports import LivenessScores, MatchOutcome
from kiosk.session import SessionController
from kiosk.store import Pensioner, Store

ID = "110101195003070013"
STEP_S = 0.02
FPS = 15.0
READ_S = 0.6
MATCH_S = 0.5


@dataclass(order=True)
class _Job:
    at: float
    seq: int
    run: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Scheduler:
    """Callbacks at virtual times, run in time order."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._jobs: list[_Job] = []
        self._seq = itertools.count()

    def at(self, t: float, run: Callable[[], None]) -> _Job:
        job = _Job(t, next(self._seq), run)
        heapq.heappush(self._jobs, job)
        return job

    def after(self, seconds: float, run: Callable[[], None]) -> _Job:
        return self.at(self.clock.monotonic() + seconds, run)

    def run_due(self) -> None:
        while self._jobs and self._jobs[0].at <= self.clock.monotonic() + 1e-9:
            job = heapq.heappop(self._jobs)
            if not job.cancelled:
                job.run()


def wav_seconds(path: Path) -> float:
    """The playing time of a WAV file (seconds)."""
    with wave.open(str(path), "rb") as clip:
        return clip.getnframes() / float(clip.getframerate())


class VirtualAudio:
    """A VoicePlayer backend: each clip "plays" for its file's real duration on the virtual clock."""

    def __init__(self, scheduler: Scheduler, log: Callable[[str, str], None]) -> None:
        self.on_finished: Callable[[], None] = lambda: None
        self._scheduler = scheduler
        self._log = log
        self._job: _Job | None = None
        self.seconds_played = 0.0

    def play(self, path: Path) -> None:
        seconds = wav_seconds(path)
        self.seconds_played += seconds
        self._job = self._scheduler.after(seconds, self._end)

    def stop(self) -> None:
        if self._job is not None:
            self._job.cancelled = True
            self._job = None
            self._log("voice", "cut off")

    def _end(self) -> None:
        self._job = None
        self.on_finished()


class Reader:
    def start(self, post) -> None:  # noqa: ANN001 - the controller's post
        self.post = post

    def stop(self) -> None:
        pass


class Matcher:
    """Answers "same person" ``MATCH_S`` after it is asked (virtual time)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def verify(self, live_frames, references) -> Future:  # noqa: ANN001
        future: Future = Future()
        self._scheduler.after(MATCH_S, lambda: future.set_result(MatchOutcome(True, 0.3)))
        return future

    def encode(self, image) -> Future:  # noqa: ANN001
        future: Future = Future()
        future.set_exception(RuntimeError("not used"))
        return future


class NoDetector:
    def detect(self, image):  # noqa: ANN001
        raise AssertionError("observations are fed directly")

    def close(self) -> None:
        pass


def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(120 + rng.integers(-40, 40, size=(480, 640, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)


@dataclass
class Window:
    """One action's time window as the challenge set it (virtual seconds)."""

    action: str
    asked_at: float
    starts_at: float | None = None
    deadline: float | None = None


class Camera:
    """The liveness port: a real LivenessSession fed the person's synthetic face at ``FPS``."""

    def __init__(self, config: KioskConfig, scheduler: Scheduler, person: Person) -> None:
        self._config = config
        self._scheduler = scheduler
        self._person = person
        self._session: LivenessSession | None = None
        self._last: LivenessUpdate | None = None
        self._post = None
        self._frame_job: _Job | None = None
        self._heard: list[str] = []
        self._image = textured()
        self.windows: list[Window] = []
        self.best: list[np.ndarray] = []

    def start(self, attempt, post, on_preview) -> None:  # noqa: ANN001
        self.stop()
        self._session = LivenessSession(self._config.quality, self._config.liveness, self._config.antispoof,
                                        random.Random(7), detector=NoDetector(), prompt_wait_s=PROMPT_HEARD_WAIT_S)
        self._post, self._last, self._heard = post, None, []
        self._frame_job = self._scheduler.after(1.0 / FPS, self._frame)

    def prompt_heard(self, action: str) -> None:
        self._heard.append(action)

    def stop(self) -> None:
        if self._frame_job is not None:
            self._frame_job.cancelled = True
            self._frame_job = None
        self._session = None

    def best_frames(self):  # noqa: ANN201
        return list(self.best)

    def scores(self) -> LivenessScores:
        return LivenessScores(1.0, 0.0)

    def wipe(self) -> None:
        self.best = []

    def _frame(self) -> None:
        session = self._session
        if session is None:
            return
        t = self._scheduler.clock.monotonic()
        for action in self._heard:
            session.prompt_heard(t, action)
        self._heard = []
        update = session.feed_observation(t, self._person.face(t), self._image)
        if update.phase == "action" and update.action is not None:
            if not self.windows or self.windows[-1].action != update.action or \
                    self.windows[-1].asked_at != update.action_started_s:
                self.windows.append(Window(update.action, update.action_started_s or t))
            window = self.windows[-1]
            if window.deadline != update.action_deadline_s:
                window.deadline = update.action_deadline_s
                if update.action_deadline_s is not None:
                    window.starts_at = update.action_deadline_s - self._config.liveness.action_timeout_s
        if update.phase == "done" and update.verdict is not None:
            self.best = list(update.best_frames)
        for event in events_between(self._last, update):
            self._post(event)
        self._last = update
        if update.phase != "done":
            self._frame_job = self._scheduler.after(1.0 / FPS, self._frame)


class Person:
    """An elderly person who acts ``reaction_s`` after each instruction has been spoken to its end."""

    def __init__(self, scheduler: Scheduler, reaction_s: float, log: Callable[[str, str], None]) -> None:
        self._scheduler = scheduler
        self.reaction_s = reaction_s
        self._log = log
        self.controller: SessionController | None = None
        self.reader: Reader | None = None
        self._in_oval = False
        self._eyes_closed_until = -1.0
        self._mouth_open_until = -1.0
        self.card_on_reader = False
        self.card_placed_at: float | None = None
        self.card_lifted_at: float | None = None
        self.done = False

    def face(self, t: float):  # noqa: ANN201 - a FaceObservation
        """What the camera sees at ``t``: far from the oval until the person moves in, then their
        face with the eyes and mouth as their actions make them."""
        if not self._in_oval:
            return observation(width_px=100.0)  # standing back: "please come closer"
        ear = 0.05 if t < self._eyes_closed_until else 0.3
        mouth = 0.7 if t < self._mouth_open_until else 0.02
        return observation(ear=ear, mouth=mouth)

    def heard(self, prompt_id: str) -> None:
        """A prompt finished playing: the person reacts to it after ``reaction_s``."""
        react = {
            "idle_welcome": self._place_card,
            "consent_question": lambda: self._tap(ConsentGiven(), "agrees"),
            "positioning_start": self._move_into_oval,
            "positioning_again": self._move_into_oval,
            "action_blink": self._blink,
            "action_mouth_open": self._open_mouth,
            "result_certified": lambda: self._tap(Finished(), "taps 完成"),
            "remove_card": self._lift_card,
        }.get(prompt_id)
        if prompt_id.startswith("status_"):
            react = lambda: self._tap(StartRequested(), "taps 开始认证")  # noqa: E731
        if react is not None:
            self._scheduler.after(self.reaction_s, react)

    def walk_up(self) -> None:
        self._log("person", "walks up to the terminal")
        self.controller.post(PersonApproached())

    def _tap(self, event, what: str) -> None:  # noqa: ANN001
        self._log("person", what)
        self.controller.post(event)

    def _place_card(self) -> None:
        if self.card_placed_at is not None:
            return
        self._log("person", "lays the ID card on the reader")
        self.card_on_reader = True
        self.card_placed_at = self._scheduler.clock.monotonic()
        self.reader.post(CardPlaced())
        self._scheduler.after(READ_S, lambda: self.reader.post(CardRead(ID, "李*英")))

    def _move_into_oval(self) -> None:
        self._log("person", "moves into the oval")
        self._in_oval = True

    def _blink(self) -> None:
        self._log("person", "blinks")
        self._eyes_closed_until = self._scheduler.clock.monotonic() + 0.2

    def _open_mouth(self) -> None:
        self._log("person", "opens the mouth")
        self._mouth_open_until = self._scheduler.clock.monotonic() + 0.8

    def _lift_card(self) -> None:
        if not self.card_on_reader:
            return
        self._log("person", "lifts the card")
        self.card_on_reader = False
        self.card_lifted_at = self._scheduler.clock.monotonic()
        self.reader.post(CardRemoved())
        self.done = True


@dataclass
class Timeline:
    """What happened, in virtual seconds from the start."""

    entries: list[tuple[float, str, str]] = field(default_factory=list)
    started: list[tuple[float, str]] = field(default_factory=list)
    finished: list[tuple[float, str]] = field(default_factory=list)
    asked: list[tuple[float, str]] = field(default_factory=list)  # every Speak the flow emitted
    states: list[tuple[float, State]] = field(default_factory=list)
    hints: list[tuple[float, str | None]] = field(default_factory=list)

    def print(self, origin: float = 0.0) -> None:
        for t, who, what in self.entries:
            print(f"{t - origin:7.2f} s  {who:<7} {what}")


class PaceRun:
    """Builds the terminal and the person; :meth:`run` plays the journey until the card is lifted."""

    def __init__(self, config: KioskConfig, rendered: Path, *, reaction_s: float = 1.5, real_time: bool = False) -> None:
        from ui.catalogue import Catalogue
        from ui.voice import QtAudioBackend, VoicePlayer

        self.config = config
        self.real_time = real_time
        self.clock = SystemClock() if real_time else FakeClock()
        self.scheduler = Scheduler(self.clock)
        self.timeline = Timeline()
        self.person = Person(self.scheduler, reaction_s, self.log)
        self.audio = VirtualAudio(self.scheduler, self.log)
        backend = QtAudioBackend(config.ui.volume) if real_time else self.audio
        self.voice = VoicePlayer(Catalogue.load(), rendered, None, backend=backend)
        self.voice.started.connect(self._voice_started)
        self.voice.finished.connect(self._voice_finished)
        self.camera = Camera(config, self.scheduler, self.person)
        self.reader = Reader()
        with Store.from_config(config, self.clock) as store:
            store.upsert_pensioner(Pensioner(ID, "李英", config.terminal.region_code, None))
            store.add_reference(ID, np.ones(128, np.float32), "roster_photo")
        self.controller = SessionController(
            config, self.clock, store_factory=lambda: Store.from_config(config, self.clock), reader=self.reader,
            liveness=self.camera, matcher=Matcher(self.scheduler), voice=_Asked(self.voice, self), on_view=self._view,
        )
        self.person.controller, self.person.reader = self.controller, self.reader

    def now(self) -> float:
        """Virtual seconds (the fake clock's monotonic time; a run starts at 1000)."""
        return self.clock.monotonic()

    def log(self, who: str, what: str) -> None:
        self.timeline.entries.append((self.now(), who, what))

    def _voice_started(self, prompt_id: str) -> None:
        self.timeline.started.append((self.now(), prompt_id))
        self.log("voice", f"▶ {prompt_id}")

    def _voice_finished(self, prompt_id: str) -> None:
        self.timeline.finished.append((self.now(), prompt_id))
        self.log("voice", f"■ {prompt_id}")
        self.controller.post(PromptFinished(prompt_id))
        self.person.heard(prompt_id)

    def _view(self, view: FlowView) -> None:
        if not self.timeline.states or self.timeline.states[-1][1] is not view.state:
            self.timeline.states.append((self.now(), view.state))
            self.log("screen", str(view.state) + (" (take the card)" if view.take_card else ""))
        if view.state in (State.POSITIONING, State.ACTIONS) and \
                (not self.timeline.hints or self.timeline.hints[-1][1] != view.hint):
            self.timeline.hints.append((self.now(), view.hint))
            self.log("screen", f"hint {view.hint}")

    def _step(self) -> None:
        self.controller.run_pending()
        self.scheduler.run_due()
        self.controller.run_pending()
        if self.real_time:
            from PySide6.QtWidgets import QApplication

            QApplication.processEvents()  # the media player's end-of-clip signals
            time.sleep(STEP_S)
        else:
            self.clock.advance(STEP_S)

    def run(self, limit_s: float = 300.0) -> None:
        """Plays the journey until the person lifted the card (or ``limit_s`` virtual seconds)."""
        self.controller.start_inline()
        self.started_at = self.now()
        self.scheduler.after(0.5, self.person.walk_up)
        try:
            while not self.person.done and self.now() - self.started_at < limit_s:
                self._step()
            # a few more seconds: the screen returns to the invitation once the card is gone
            end = self.now() + 3.0
            while self.now() < end:
                self._step()
        finally:
            self.controller.stop()


class _Asked:
    """The controller's voice: notes every prompt the flow asked for, then hands it to the player."""

    def __init__(self, player, run: PaceRun) -> None:  # noqa: ANN001
        self._player = player
        self._run = run

    def speak(self, prompt: Speak) -> None:
        self._run.timeline.asked.append((self._run.now(), prompt.prompt))
        self._player.speak(prompt)
