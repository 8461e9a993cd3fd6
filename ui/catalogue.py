"""The message catalogue: every word the terminal shows or says, from ``config/prompts.toml``.

All Chinese text lives in that file (see its header); only ``ui/`` turns a reason code, a prompt id
or a next step into words. Thread rule: a :class:`Catalogue` is immutable after loading and may be
read from any thread.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.paths import prompts_file
from kiosk.reasons import Outcome
from ui.spoken_numbers import date_display

log = logging.getLogger(__name__)

# The reason said for a code the catalogue lacks (a gap the completeness test exists to prevent).
FALLBACK_REASON = Outcome.DEVICE_ERROR
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
"""A ``{name}`` placeholder in a catalogue text (a date or a count filled in when shown or spoken)."""


class CatalogueError(KioskError):
    """The prompt catalogue is unreadable, or lacks a text the kiosk needs (a bug to fix, not a user state)."""

    code = "prompt_catalogue_invalid"


class Catalogue:
    """The parsed ``config/prompts.toml``: sections of key → text. Immutable; any thread."""

    def __init__(self, tables: Mapping[str, Any], source: str = "<memory>") -> None:
        self._tables = tables
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Reads the catalogue (default: the shipped one). Raises :class:`CatalogueError`."""
        path = path or prompts_file()
        try:
            with open(path, "rb") as handle:
                tables = tomllib.load(handle)
        except FileNotFoundError:
            raise CatalogueError(f"prompt catalogue {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"prompt catalogue {path} is not valid TOML: {exc}") from None
        for section, table in tables.items():
            for key, value in _flatten(table, section):
                if not isinstance(value, str) or not value.strip():
                    raise CatalogueError(f"prompt catalogue {path}: {key} must be a non-empty string")
        return cls(tables, str(path))

    def has(self, section: str, key: str) -> bool:
        """True when ``[section] key`` exists (``section`` may be dotted: ``screen.idle``)."""
        return isinstance(self._table(section).get(key), str)

    def raw(self, section: str, key: str) -> str:
        """The unformatted text of ``[section] key``; raises :class:`CatalogueError` when missing."""
        value = self._table(section).get(key)
        if not isinstance(value, str):
            raise CatalogueError(f"prompt catalogue has no [{section}] {key}")
        return value

    def text(self, section: str, key: str, **params: object) -> str:
        """The screen text of ``[section] key`` with placeholders filled (dates as 2027年5月20日)."""
        template = self.raw(section, key)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in params:
                raise CatalogueError(f"[{section}] {key} needs the value {{{name}}}")
            value = params[name]
            return date_display(value) if isinstance(value, date) else str(value)

        return PLACEHOLDER.sub(fill, template)

    def keys(self, section: str) -> list[str]:
        """The keys of one section (for completeness tests and the technician pages)."""
        return [key for key, value in self._table(section).items() if isinstance(value, str)]

    def reason(self, code: str) -> str:
        """What happened, in plain words, for any reason code."""
        return self.raw("reason", code)

    def reason_key(self, code: str) -> str:
        """``code`` when ``[reason]`` has it, else :data:`FALLBACK_REASON` (logged: a gap the
        completeness test should have caught; the person still gets plain words)."""
        if self.has("reason", code):
            return code
        log.error("prompt catalogue has no [reason] %s; the generic %s is used", code, FALLBACK_REASON)
        return FALLBACK_REASON

    def reason_or_fallback(self, code: str) -> str:
        """The reason text, or the generic device-error text for a code the catalogue lacks (logged)."""
        return self.raw("reason", self.reason_key(code))

    def next_step(self, step: str) -> str:
        """What to do next, for a :class:`~kiosk.reasons.NextStep` value."""
        return self.raw("next_step", step)

    def hint_text(self, code: str) -> str:
        """The live instruction for a quality code; falls back to the reason text for other codes."""
        return self.raw("hint", code) if self.has("hint", code) else self.reason_or_fallback(code)

    def _table(self, section: str) -> Mapping[str, Any]:
        table: Any = self._tables
        for part in section.split("."):
            table = table.get(part, {}) if isinstance(table, Mapping) else {}
        return table if isinstance(table, Mapping) else {}


def _flatten(table: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    if isinstance(table, Mapping):
        for key, value in table.items():
            yield from _flatten(value, f"{prefix}.{key}")
    else:
        yield prefix, table
