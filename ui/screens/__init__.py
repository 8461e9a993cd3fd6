"""One screen per :class:`kiosk.flow.State` (a completeness test walks the enum)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.flow import State
from ui.catalogue import Catalogue
from ui.screens.base import Screen
from ui.screens.face import ActionsScreen, PositioningScreen
from ui.screens.helper import HelperAsideScreen
from ui.screens.result import ResultScreen
from ui.screens.simple import IdleScreen, MaintenanceScreen, TechnicianScreen, WaitScreen
from ui.screens.status import ConsentScreen, StatusScreen

if TYPE_CHECKING:
    from ui.technician.panel import TechnicianPanel

SCREEN_CLASSES: dict[State, type[Screen]] = {
    State.IDLE: IdleScreen,
    State.READING: WaitScreen,
    State.LOOKING_UP: WaitScreen,
    State.STATUS: StatusScreen,
    State.CONSENT: ConsentScreen,
    State.HELPER_ASIDE: HelperAsideScreen,
    State.POSITIONING: PositioningScreen,
    State.ACTIONS: ActionsScreen,
    State.MATCHING: WaitScreen,
    State.RESULT: ResultScreen,
    State.MAINTENANCE: MaintenanceScreen,
    State.TECHNICIAN: TechnicianScreen,
}


def build_screens(catalogue: Catalogue, portrait: bool,
                  technician_panel: TechnicianPanel | None = None) -> dict[State, Screen]:
    """Creates every screen; raises KeyError when a state has none (caught by the completeness test)."""
    screens: dict[State, Screen] = {}
    for state in State:
        cls = SCREEN_CLASSES[state]
        if cls is TechnicianScreen:
            screens[state] = TechnicianScreen(state, catalogue, portrait, panel=technician_panel)
        else:
            screens[state] = cls(state, catalogue, portrait)
    return screens


__all__ = ["SCREEN_CLASSES", "Screen", "build_screens"]
