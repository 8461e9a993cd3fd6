"""A SAM_V card reader in software, byte-exact to the protocol report (§9 checklist).

:class:`Simulator` is the device: it takes the bytes a host writes and returns the bytes the reader
would send back, each with the baud rate it goes out at. It is driven either in-process through the
``sim://`` URL scheme (:mod:`reader.urlhandler.protocol_sim`) or behind a real pseudo-terminal
(:mod:`reader.pty_server`). Switches (:class:`SimOptions`, from the URL query) make it misbehave the
ways real readers do: no card, card swapped, corrupted checksums, stray bytes, read failures, a
failed SAM, no re-read without lifting the card, slow wire pacing.

One simulator exists per URL in a process (:func:`simulator_for`), like one device on one port, so
that the demo UI can lay cards on the reader the kiosk has open. All methods are thread-safe.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reader.card import CardType
from reader.errors import FrameError, ReaderReason, UrlError
from reader.layouts import PHOTO_SIZE, encode_text
from reader.protocol import BAUD_RATES, CommandFrame, FrameParser, Response, build_response
from reader.samples import DEFAULT_SAMPLE, SAMPLES_DIR, sample_card_path

FINGERPRINT_SIZE = 512
# 16 fixed bytes: u16 5, u16 1, u32 20101025, u32 12345678, u32 1234567890 (little-endian, §2.1).
SAM_ID = (5).to_bytes(2, "little") + (1).to_bytes(2, "little") + (20101025).to_bytes(4, "little") + (
    12345678).to_bytes(4, "little") + (1234567890).to_bytes(4, "little")


@dataclass(frozen=True)
class SimCard:
    """A card as the simulator stores it: the raw blocks the SAM would return."""

    card_type: CardType
    text: bytes
    photo: bytes
    fingerprint: bytes = b""
    appended_address: str | None = None
    iin: bytes = bytes(4)
    sn: bytes = bytes(8)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimCard:
        """Builds a card from JSON keys (see :mod:`reader.samples`); UrlError(sim_card_invalid)."""
        try:
            card_type = CardType(data["card_type"])
            text = encode_text(card_type, data)
            if "photo_wlt_base64" in data:
                photo = base64.b64decode(data["photo_wlt_base64"], validate=True)
            else:
                # An invented, deterministic blob: real WLT data only a vendor library can decode.
                seed = hashlib.sha256(text).digest()
                photo = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(PHOTO_SIZE // 32))
            fingers = int(data.get("fingerprints", 0))
            if fingers not in (0, 1, 2):
                raise ValueError("fingerprints must be 0, 1 or 2")
            fingerprint = hashlib.shake_256(text).digest(FINGERPRINT_SIZE * fingers) if fingers else b""
            address = data.get("appended_address")
            if address is not None and len(str(address).encode("utf-16-le")) > 70:
                raise ValueError("appended_address is longer than 35 characters")
            iin = bytes.fromhex(data.get("iin_hex", "00000000"))
            sn = bytes.fromhex(data.get("sn_hex", "0000000000000000"))
            if len(iin) != 4 or len(sn) != 8:
                raise ValueError("iin_hex must be 4 bytes and sn_hex 8 bytes")
        except (KeyError, ValueError, TypeError) as exc:
            raise UrlError(ReaderReason.SIM_CARD_INVALID, f"simulator card: {type(exc).__name__}: {exc}") from None
        return cls(card_type, text, photo, fingerprint, None if address is None else str(address), iin, sn)

    @classmethod
    def from_file(cls, path: Path) -> SimCard:
        """Loads a JSON card file; UrlError(sim_card_invalid) when unreadable or wrong."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UrlError(ReaderReason.SIM_CARD_INVALID, f"simulator card file {path}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise UrlError(ReaderReason.SIM_CARD_INVALID, f"simulator card file {path} is not a JSON object")
        return cls.from_mapping(data)


def load_card(card: SimCard | Mapping[str, Any] | Path | str) -> SimCard:
    """A :class:`SimCard` from a card, a JSON mapping, a file path, or a sample name."""
    if isinstance(card, SimCard):
        return card
    if isinstance(card, Mapping):
        return SimCard.from_mapping(card)
    path = Path(card)
    if not path.suffix and not path.exists() and (SAMPLES_DIR / f"{path.name}.json").is_file():
        path = sample_card_path(path.name)
    return SimCard.from_file(path)


def garble_for_wrong_baud(payload: bytes) -> bytes:
    """What a UART set to another speed receives of ``payload``: framing errors, the first third
    of the bytes mangled and nothing recognisable (used by the in-process and the pty simulator)."""
    return bytes((b ^ 0x3C) | 0x80 for b in payload[: max(1, len(payload) // 3)])


@dataclass(frozen=True)
class SimOptions:
    """The simulator's switches. From a URL: ``sim:///card.json?present=0&corrupt=0.2&...``.

    present      card on the reader at start (1/0)
    swap         card file laid in place of the current one after each completed read; the
                 reader sees no card for ``swap_gap`` finds in between (a person swapping cards)
    corrupt      probability that an answer's checksum is wrong (0-1)
    noise        probability that stray bytes precede an answer (0-1)
    fail_reads   the first N reads answer SW3 41 (read failed)
    reread       1: the card can be read again while it lies there; 0: find answers 80 after one
                 read until the card is lifted and laid again (the SD60ID module, report §6.3)
    sam          ok | selftest_fail (every command answers 60) | unauthorised (66)
    pace         1: send bytes at the SAM's wire speed (10 bits a byte at its baud rate)
    latency_ms   SAM processing time before the first byte of an answer (milliseconds)
    baud         the SAM's speed at power-on (baud)
    seed         seed of the random switches (reproducible runs)
    """

    present: bool = True
    swap: Path | None = None
    swap_gap: int = 2
    corrupt: float = 0.0
    noise: float = 0.0
    fail_reads: int = 0
    reread: bool = True
    sam: str = "ok"
    pace: bool = False
    latency_ms: float = 0.0
    baud: int = 115200
    seed: int = 0

    @classmethod
    def from_query(cls, query: str) -> SimOptions:
        """Parses a URL query; UrlError(reader_url_invalid) names an unknown or bad switch."""
        options = cls()
        kinds = {"present": bool, "reread": bool, "pace": bool, "swap": Path, "sam": str, "corrupt": float,
                 "noise": float, "latency_ms": float, "fail_reads": int, "swap_gap": int, "baud": int, "seed": int}
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key not in kinds:
                raise UrlError(ReaderReason.READER_URL_INVALID, f"unknown simulator switch {key!r} (known: {sorted(kinds)})")
            raw = values[-1]
            try:
                kind = kinds[key]
                if kind is bool:
                    if raw not in ("0", "1", "true", "false"):
                        raise ValueError(raw)
                    value: Any = raw in ("1", "true")
                else:
                    value = kind(raw)
            except ValueError:
                raise UrlError(ReaderReason.READER_URL_INVALID, f"simulator switch {key}={raw!r} is not valid") from None
            options = replace(options, **{key: value})
        if options.sam not in ("ok", "selftest_fail", "unauthorised"):
            raise UrlError(ReaderReason.READER_URL_INVALID, "sam must be ok, selftest_fail or unauthorised")
        if not (0 <= options.corrupt <= 1 and 0 <= options.noise <= 1) or options.fail_reads < 0 or options.latency_ms < 0:
            raise UrlError(ReaderReason.READER_URL_INVALID, "corrupt/noise must be within 0-1, counts and delays >= 0")
        if options.baud not in BAUD_RATES.values():
            raise UrlError(ReaderReason.READER_URL_INVALID, f"baud must be one of {sorted(BAUD_RATES.values())}")
        return options


def parse_sim_url(url: str) -> tuple[Path, SimOptions]:
    """``sim://`` (the default sample), ``sim://SAMPLE`` or ``sim:///abs/card.json?switches``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sim":
        raise UrlError(ReaderReason.READER_URL_INVALID, f"not a simulator URL: scheme {parts.scheme!r}")
    if parts.netloc and parts.path:
        raise UrlError(ReaderReason.READER_URL_INVALID, "use sim://SAMPLE or sim:///absolute/path/card.json")
    try:
        path = sample_card_path(parts.netloc or DEFAULT_SAMPLE) if not parts.path else Path(unquote(parts.path))
    except KeyError as exc:
        raise UrlError(ReaderReason.READER_URL_INVALID, str(exc.args[0])) from None
    return path, SimOptions.from_query(parts.query)


@dataclass
class _State:
    card: SimCard | None
    baud: int
    found: bool = False
    selected: bool = False
    read_done: bool = False
    absent_finds: int = 0
    pending_swap: SimCard | None = None
    fail_reads: int = 0
    plugged: bool = True
    generation: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Simulator:
    """The reader device. ``receive(bytes) -> [(answer bytes, baud rate to send it at)]``."""

    def __init__(self, card: SimCard | None, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self._lock = threading.RLock()
        self._random = random.Random(self.options.seed)
        self._parser = FrameParser(commands=True)
        swap = load_card(self.options.swap) if self.options.swap else None
        self._state = _State(card if self.options.present else None, self.options.baud,
                             fail_reads=self.options.fail_reads, pending_swap=swap)
        self._card_on_file = card

    # -- the person and the technician -----------------------------------------------------
    def place_card(self, card: SimCard | Mapping[str, Any] | Path | str | None = None) -> None:
        """Lays a card on the reader (default: the card the simulator was made with)."""
        loaded = load_card(card) if card is not None else self._card_on_file
        with self._lock:
            self._state.card, self._state.found, self._state.selected = loaded, False, False
            self._state.read_done, self._state.absent_finds = False, 0

    def remove_card(self) -> None:
        """Lifts the card off the reader."""
        with self._lock:
            self._state.card, self._state.found, self._state.selected, self._state.read_done = None, False, False, False

    def unplug(self) -> None:
        """Pulls the reader's cable: open ports fail until :meth:`plug`."""
        with self._lock:
            self._state.plugged = False
            self._state.generation += 1  # ports opened before stay dead, like a USB fd after unplug

    def plug(self) -> None:
        """Plugs the reader back in (the SAM restarts at its power-on speed)."""
        with self._lock:
            self._state.plugged, self._state.baud = True, self.options.baud
            self._parser.reset()

    @property
    def plugged(self) -> bool:
        """False between :meth:`unplug` and :meth:`plug`."""
        return self._state.plugged

    @property
    def generation(self) -> int:
        """Counts unplug events; a port opened under an older generation is dead."""
        return self._state.generation

    @property
    def card_present(self) -> bool:
        """True while a card lies on the reader."""
        return self._state.card is not None

    @property
    def baud(self) -> int:
        """The SAM's current serial speed (baud)."""
        return self._state.baud

    def count(self, what: str) -> int:
        """How many commands of a kind were answered: 'find', 'select', 'read', 'status', ..."""
        return self._state.counts.get(what, 0)

    # -- the wire -----------------------------------------------------------------------------
    def receive(self, data: bytes) -> list[tuple[bytes, int]]:
        """Feeds host bytes; returns each answer with the baud rate it is sent at."""
        out: list[tuple[bytes, int]] = []
        with self._lock:
            for item in self._parser.feed(data):
                baud = self._state.baud
                answer = self._answer(item)
                out.append((self._mangle(answer), baud))
        return out

    def _mangle(self, answer: bytes) -> bytes:
        if self.options.corrupt and self._random.random() < self.options.corrupt:
            answer = answer[:-1] + bytes([answer[-1] ^ 0x5A])
        if self.options.noise and self._random.random() < self.options.noise:
            answer = bytes(self._random.choice((0x00, 0xAA, 0x96, 0x69, 0xFF, 0x13)) for _ in range(
                self._random.randint(1, 8))) + answer
        return answer

    def _answer(self, item: CommandFrame | Response | FrameError) -> bytes:
        state = self._state
        if isinstance(item, FrameError):
            return build_response(0x10 if item.code == ReaderReason.FRAME_CHECKSUM else 0x11)
        if not isinstance(item, CommandFrame):
            return build_response(0x21)
        key = (item.cmd, item.para)
        if self.options.sam != "ok" and key != (0x10, 0xFF):
            return build_response(0x60 if self.options.sam == "selftest_fail" else 0x66)
        name, handler = _HANDLERS.get(key, (None, None))
        if item.cmd == 0x60:
            name, handler = "baud", Simulator._set_baud
        elif item.cmd == 0x61 and item.para == 0xFF:
            name, handler = "max_rf", Simulator._set_max_rf
        if handler is None or (item.data and item.cmd not in (0x60, 0x61)):
            return build_response(0x21)
        state.counts[name] = state.counts.get(name, 0) + 1
        return handler(self, item)

    def _reset(self, item: CommandFrame) -> bytes:
        self._state.found = self._state.selected = False
        return build_response(0x90)

    def _status(self, item: CommandFrame) -> bytes:
        return build_response(0x90)

    def _sam_id(self, item: CommandFrame) -> bytes:
        return build_response(0x90, SAM_ID)

    def _find(self, item: CommandFrame) -> bytes:
        state = self._state
        if state.absent_finds:
            state.absent_finds -= 1
            return build_response(0x80)
        if state.card is None or (state.read_done and not self.options.reread):
            state.found = False
            return build_response(0x80)
        state.found, state.selected = True, False
        return build_response(0x9F, state.card.iin)

    def _select(self, item: CommandFrame) -> bytes:
        state = self._state
        if state.card is None or not state.found:
            return build_response(0x81)
        state.selected = True
        return build_response(0x90, state.card.sn)

    def _read(self, item: CommandFrame) -> bytes:
        state = self._state
        card = state.card
        if card is None or not state.selected:
            return build_response(0x41)  # the report's most plausible answer to a read without select
        if item.para in (0x01, 0x10) and state.fail_reads:
            state.fail_reads -= 1
            return build_response(0x41)
        if item.para == 0x03:
            if card.appended_address is None:
                return build_response(0x91)
            return build_response(0x90, _ucs2_padded(card.appended_address, 70))
        lengths = len(card.text).to_bytes(2, "big") + len(card.photo).to_bytes(2, "big")
        if item.para == 0x10:
            body = lengths + len(card.fingerprint).to_bytes(2, "big") + card.text + card.photo + card.fingerprint
        else:
            body = lengths + card.text + card.photo
        state.read_done = True
        if state.pending_swap is not None:
            state.card, state.pending_swap = state.pending_swap, card
            state.found = state.selected = state.read_done = False
            state.absent_finds = self.options.swap_gap
        return build_response(0x90, body)

    def _set_baud(self, item: CommandFrame) -> bytes:
        rate = BAUD_RATES.get(item.para)
        if rate is None or item.data:
            return build_response(0x21)
        # The answer goes out at the old rate (receive() captured it); then the SAM switches.
        self._state.baud = rate
        return build_response(0x90)

    def _set_max_rf(self, item: CommandFrame) -> bytes:
        return build_response(0x90 if len(item.data) == 1 else 0x21)


def _ucs2_padded(text: str, size: int) -> bytes:
    """``text`` in UCS-2LE, space padded (``20 00``) to ``size`` bytes."""
    return (text.encode("utf-16-le") + " ".encode("utf-16-le") * size)[:size]


_HANDLERS: dict[tuple[int, int], tuple[str, Any]] = {
    (0x10, 0xFF): ("reset", Simulator._reset),
    (0x11, 0xFF): ("status", Simulator._status),
    (0x12, 0xFF): ("sam_id", Simulator._sam_id),
    (0x20, 0x01): ("find", Simulator._find),
    (0x20, 0x02): ("select", Simulator._select),
    (0x30, 0x01): ("read", Simulator._read),
    (0x30, 0x10): ("read", Simulator._read),
    (0x30, 0x03): ("address", Simulator._read),
}

_REGISTRY: dict[str, Simulator] = {}
_REGISTRY_LOCK = threading.Lock()


def simulator_for(url: str) -> Simulator:
    """The simulator behind ``url`` (``sim://...``), made on first use and kept for the process.

    The kiosk's reader service and the demo UI share it: the UI calls :meth:`Simulator.place_card`
    and :meth:`Simulator.remove_card`. Raises UrlError for a bad URL or card file.
    """
    with _REGISTRY_LOCK:
        simulator = _REGISTRY.get(url)
        if simulator is None:
            path, options = parse_sim_url(url)
            simulator = _REGISTRY[url] = Simulator(load_card(path), options)
        return simulator


def forget_simulators() -> None:
    """Drops every simulator of the process (tests start from a fresh device)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
