"""``kiosk demo``'s preparation: its own data folder, a roster of the sample people, a PIN, the voice."""

from __future__ import annotations

import json

from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.demo import DEMO_PIN, prepare_demo
from kiosk.store import Store
from kiosk.technician import verify_pin
from kiosk.paths import rendered_voice_dir
from reader.samples import sample_card_paths


def test_demo_uses_its_own_folder_the_rendered_voice_and_seeds_the_roster(config: KioskConfig) -> None:
    said: list[str] = []
    demo = prepare_demo(config, "device:0", echo=said.append)
    main = config.terminal.resolved_data_dir()
    assert demo.terminal.resolved_data_dir() == main / "demo"
    assert demo.ui.voice_dir == str(rendered_voice_dir(main))  # the clips `make demo` rendered
    assert verify_pin(DEMO_PIN, demo.technician.pin_hash) and any(DEMO_PIN in line for line in said)
    with Store.from_config(demo, SystemClock()) as store:
        for path in sample_card_paths():
            assert store.get_pensioner(json.loads(path.read_text(encoding="utf-8"))["id_number"]) is not None
    with Store.from_config(config, SystemClock()) as store:
        assert store.pensioner_count() == 0  # the real roster is untouched
