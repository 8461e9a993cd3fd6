"""The ID card reader as the controller sees it: flow events out of reader-service events."""

from __future__ import annotations

import logging

from kiosk.clock import Clock, today
from kiosk.flow import (
    CardPlaced, CardRead, CardRejected, CardRemoved, DeviceFailed, DevicesReady, Event, MaintenanceRequired,
)
from kiosk.ports import Post
from kiosk.reasons import Outcome
from reader import service as rs
from reader.card import IdCard, mask_name
from reader.errors import ReaderError, ReaderReason
from reader.settings import ReaderSettings

log = logging.getLogger(__name__)


def translate(event: rs.ReaderEvent, clock: Clock) -> list[Event]:
    """The flow events for one reader event (pure; the card's expiry is checked against ``clock``).

    A lost reader both ends a session under way (``device_failed``) and, when idle, shows the
    maintenance screen (``maintenance_required``); the flow ignores whichever does not apply.
    """
    if isinstance(event, rs.CardPlaced):
        return [CardPlaced()]
    if isinstance(event, rs.CardRead):
        card = event.card
        if card.is_expired(today(clock)):
            return [CardRejected(Outcome.CARD_EXPIRED)]
        return [CardRead(card.id_number, mask_name(card.name))]
    if isinstance(event, rs.CardReadFailed):
        return [CardRejected(event.code)]
    if isinstance(event, rs.CardRemoved):
        return [CardRemoved()]
    if isinstance(event, rs.ReaderLost):
        return [DeviceFailed(event.code), MaintenanceRequired(event.code, device="reader")]
    if isinstance(event, rs.ReaderReady):
        return [DevicesReady(device="reader")]
    return []


class CardReaderAdapter:
    """:class:`~kiosk.ports.CardReaderPort` over :class:`reader.service.ReaderService`.

    Thread rules: ``post`` is called from the reader service's thread.
    """

    def __init__(self, url: str, settings: ReaderSettings, clock: Clock) -> None:
        self._url = url
        self._settings = settings
        self._clock = clock
        self._service: rs.ReaderService | None = None

    def start(self, post: Post) -> None:
        def on_event(event: rs.ReaderEvent) -> None:
            for flow_event in translate(event, self._clock):
                post(flow_event)

        self._service = rs.ReaderService(self._url, self._settings, on_event)
        self._service.start()

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()
            self._service = None

    def read_card_now(self, timeout_s: float) -> IdCard:
        """A technician's test read through the running reader service, which owns the port (see
        :meth:`reader.service.ReaderService.read_now`; any thread but the service's).

        Raises :class:`~reader.errors.ReaderError` (``reader_unavailable`` when not started).
        """
        service = self._service
        if service is None:
            raise ReaderError(ReaderReason.READER_UNAVAILABLE, "the reader service is not running")
        return service.read_now(timeout_s)
