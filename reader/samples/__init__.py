"""Sample cards shipped with the package: invented people, valid check digits, all four layouts.

Each JSON file holds the keys of :meth:`reader.card.IdCard.to_json` (personal fields in full) plus
the simulator's extras: ``appended_address`` (answer to `30 03`; absent = SW3 91),
``fingerprints`` (0, 1 or 2 templates for `30 10`), ``photo_wlt_base64`` (1024 bytes; absent = a
deterministic invented blob), ``iin_hex`` / ``sn_hex`` (find / select answers; absent = zeros).
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
DEFAULT_SAMPLE = "resident_long_term"


def sample_card_paths() -> list[Path]:
    """Every shipped sample card file, sorted by name (the default sample is among them)."""
    return sorted(SAMPLES_DIR.glob("*.json"))


def sample_card_path(name: str = DEFAULT_SAMPLE) -> Path:
    """The sample called ``name`` (file stem); KeyError listing the names when there is none."""
    path = SAMPLES_DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no sample card {name!r}; samples: {[p.stem for p in sample_card_paths()]}")
    return path
