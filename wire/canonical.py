"""Canonical JSON: the one byte form of a JSON value that both sides sign, verify and compare.

Keys sorted, separators ``,`` and ``:`` with no other white space, UTF-8 without ``\\u`` escapes,
numbers as Python's shortest round-trip ``repr`` (the same on both sides because both sides are
Python's ``json``), NaN and infinities refused. Pure, thread-safe.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """``value`` (JSON-ready: dicts, lists, strings, numbers, booleans, None) as canonical bytes.

    Raises ValueError for NaN or an infinity, TypeError for a value JSON cannot hold.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
