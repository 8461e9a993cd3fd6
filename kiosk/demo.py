"""Preparing ``kiosk demo``: its own data folder, a roster of the sample cards' invented people,
a technician PIN, and — when the camera is a recorded clip — a reference taken from that clip so
the whole flow can be shown end to end without a webcam.

Nothing here runs in production (``kiosk run``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

from kiosk.clock import SystemClock, today
from kiosk.config import KioskConfig
from kiosk.errors import reason_code
from kiosk.store import Pensioner, Store

log = logging.getLogger(__name__)

DEMO_PIN = "2468"
"""The technician PIN of the demo when the configuration sets none (printed at start)."""

# Days since the last certification of the sample people, in sample order, to show every status:
# certified, in grace, suspended with back pay, never certified.
_DAYS_SINCE_CERTIFIED = (200, 372, 500, None, 30)


def prepare_demo(config: KioskConfig, camera_url: str, *, echo: Callable[[str], None]) -> KioskConfig:
    """Returns the demo's configuration (data in ``<data_dir>/demo``) after seeding its roster."""
    from reader.samples import sample_card_paths

    main_data_dir = config.terminal.resolved_data_dir()
    data_dir = main_data_dir / "demo"
    updates: dict = {"terminal": config.terminal.model_copy(update={"data_dir": data_dir})}
    if not config.ui.voice_dir:
        # The clips `make demo` rendered live in the main data folder, not in the demo's.
        from kiosk.paths import rendered_voice_dir

        updates["ui"] = config.ui.model_copy(update={"voice_dir": str(rendered_voice_dir(main_data_dir))})
    if not config.technician.pin_hash:
        from kiosk.technician import hash_pin

        updates["technician"] = config.technician.model_copy(update={"pin_hash": hash_pin(DEMO_PIN)})
        echo(f"demo: technician PIN {DEMO_PIN} (tap the top-left corner five times)")
    demo_config = config.model_copy(update=updates)
    clock = SystemClock()
    day = today(clock)
    first_id: str | None = None
    with Store.from_config(demo_config, clock) as store:
        for path, days in zip(sample_card_paths(), _DAYS_SINCE_CERTIFIED * 4):
            card = json.loads(path.read_text(encoding="utf-8"))
            last = None if days is None else day - timedelta(days=days)
            if store.get_pensioner(card["id_number"]) is None:
                store.upsert_pensioner(Pensioner(card["id_number"], card["name"], config.terminal.region_code, last))
            first_id = first_id or card["id_number"]
        if camera_url.startswith("file:") and first_id and not store.has_reference(first_id):
            if _enrol_from_clip(store, first_id, demo_config, camera_url[len("file:"):]):
                echo(f"demo: the person in {camera_url} is enrolled as the first sample card ({sample_card_paths()[0].stem})")
    echo(f"demo: data in {data_dir}; place a sample card with the operator panel")
    return demo_config


def _enrol_from_clip(store: Store, id_number: str, config: KioskConfig, clip: str) -> bool:
    """Takes a reference from a frame of the clip (a demo stand-in for staff-assisted enrolment)."""
    import cv2

    from camera.matching import FaceMatcher

    capture = cv2.VideoCapture(clip)
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    capture.set(cv2.CAP_PROP_POS_FRAMES, max(0, frames // 10))
    ok, image = capture.read()
    capture.release()
    if not ok:
        log.warning("demo: could not read a frame of the clip for enrolment")
        return False
    try:
        encoding = FaceMatcher(config.match).encode(image)
    except Exception as exc:  # noqa: BLE001 - a demo convenience; the kiosk runs without it
        log.warning("demo: no usable face in the clip's frame (%s)", reason_code(exc))
        return False
    store.add_reference(id_number, encoding.vector, "staff_enrolment")
    return True
