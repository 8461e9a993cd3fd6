"""Where the kiosk finds its shipped resources, in a source checkout and in the frozen bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_root() -> Path:
    """The folder that holds ``config/`` (the repository root, or the PyInstaller bundle folder)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def default_config_file() -> Path:
    """The shipped defaults, ``config/kiosk.toml``."""
    return resource_root() / "config" / "kiosk.toml"


def profile_file(name: str) -> Path:
    """A shipped configuration profile, ``config/<name>.toml`` (``visit``: home visits, issue 19)."""
    return resource_root() / "config" / f"{name}.toml"


PROFILES = ("visit",)
"""The profiles ``--profile`` accepts (each a ``config/<name>.toml`` over the defaults)."""


def prompts_file() -> Path:
    """The message and prompt catalogue, ``config/prompts.toml`` (all Chinese text lives there)."""
    return resource_root() / "config" / "prompts.toml"


SITE_CONFIG_FILE = Path("/etc/kiosk/kiosk.toml")
"""The site file read when present and no ``--config`` is given."""


def rendered_voice_dir(data_dir: Path) -> Path:
    """Where ``kiosk voice render`` writes clips: ``<data_dir>/voice``."""
    return data_dir / "voice"


def recorded_voice_dir(voice_dir: str) -> Path | None:
    """Where recorded clips live: ``ui.voice_dir`` with ``~`` expanded, or None when it is unset."""
    return Path(voice_dir).expanduser() if voice_dir else None
