"""Inviting a person who walks up to the idle terminal: the watcher's loop and the flow's rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.devices.presence import ABSENT_BEFORE_NEW_S, watch
from kiosk.flow import INVITATION_REPEAT_S, CardPlaced, Flow, PersonApproached, Speak


@dataclass(frozen=True)
class Seen:
    box: tuple[float, float, float, float]
    image_size: tuple[int, int] = (640, 480)


class InstantStop:
    """A stop flag whose wait returns at once, so looks spaced seconds apart run instantly."""

    def __init__(self) -> None:
        self.flag = False

    def wait(self, _seconds: float) -> bool:
        return self.flag


def run_watch(sequence: list, look_every_s: float = 0.5) -> list:
    """Runs the loop over ``sequence`` of detections (None, a near face, a far face)."""
    posted: list = []
    stop = InstantStop()
    items = iter(sequence)

    def detect(_image):
        try:
            return next(items)
        except StopIteration:
            stop.flag = True
            return None

    watch(stop, lambda: np.zeros((4, 4, 3), np.uint8), detect, posted.append, look_every_s=look_every_s)
    return posted


NEAR = Seen((200, 100, 360, 300))
FAR = Seen((300, 200, 330, 240))


def test_an_arrival_is_posted_once_while_the_person_stays() -> None:
    assert run_watch([None, NEAR, NEAR, NEAR, None, NEAR]) == [PersonApproached()]


def test_a_far_face_is_someone_passing_by() -> None:
    assert run_watch([FAR, FAR, None]) == []


def test_a_new_arrival_after_the_face_was_gone_long_enough() -> None:
    step = ABSENT_BEFORE_NEW_S / 4
    assert run_watch([NEAR, None, None, NEAR], step) == [PersonApproached()]  # gone half the time
    assert run_watch([NEAR, None, None, None, None, NEAR], step) == [PersonApproached(), PersonApproached()]


def test_the_flow_invites_at_most_once_a_minute(config: KioskConfig) -> None:
    clock = FakeClock()
    flow = Flow(config.rules, config.session, clock)
    assert [e.prompt for e in flow.handle(PersonApproached()) if isinstance(e, Speak)] == ["idle_welcome"]
    clock.advance(INVITATION_REPEAT_S - 1)
    assert flow.handle(PersonApproached()) == []
    clock.advance(2)
    assert [e.prompt for e in flow.handle(PersonApproached()) if isinstance(e, Speak)] == ["idle_welcome"]
    flow.handle(CardPlaced())
    assert flow.handle(PersonApproached()) == []  # only the idle screen invites


def test_the_watcher_sees_the_person_in_a_real_clip(config: KioskConfig, media_dir) -> None:
    import queue

    from kiosk.devices.presence import PresenceWatcher

    events: queue.Queue = queue.Queue()
    watcher = PresenceWatcher(f"file:{media_dir / 'videos' / 'blink_mouth_plain_bg.mp4'}", config.camera)
    watcher.start(events.put)
    try:
        assert events.get(timeout=20) == PersonApproached()
    finally:
        watcher.stop()
    assert not watcher.running


def test_a_touch_and_an_approach_share_one_invitation(config: KioskConfig) -> None:
    from kiosk.flow import TOUCH_INVITATION_REPEAT_S, IdleTouched

    clock = FakeClock()
    flow = Flow(config.rules, config.session, clock)
    spoken = lambda effects: [e.prompt for e in effects if isinstance(e, Speak)]  # noqa: E731
    assert spoken(flow.handle(PersonApproached())) == ["idle_welcome"]
    clock.advance(3)
    assert spoken(flow.handle(IdleTouched())) == []  # just heard it: a touch now does not repeat it
    clock.advance(TOUCH_INVITATION_REPEAT_S)
    assert spoken(flow.handle(IdleTouched())) == ["idle_welcome"]  # a later touch asks again
    clock.advance(3)
    assert spoken(flow.handle(PersonApproached())) == []  # nor does someone walking up right after
    flow.handle(CardPlaced())
    clock.advance(INVITATION_REPEAT_S)
    assert flow.handle(IdleTouched()) == []  # only the idle screen invites


def test_a_person_who_walks_away_is_reported_once() -> None:
    from kiosk.devices.presence import LEFT_AFTER_S
    from kiosk.flow import PersonLeft

    gone = [None] * int(LEFT_AFTER_S / 0.5 + 2)
    assert run_watch([NEAR, NEAR, *gone]) == [PersonApproached(), PersonLeft()]
    assert run_watch([None, *gone]) == []  # nobody was there: nobody left
