"""The 256-byte card text in its four layouts (protocol report §3): parse it, and build it.

Text is UCS-2 little-endian, padded with spaces (``20 00``); the layout is chosen by the type flag,
the UCS-2 character at byte 248. :func:`parse_card` validates codes, dates and the ID number and
raises :class:`~reader.errors.CardDataError` with a reason code naming the first problem;
:func:`encode_text` is its inverse, used by the simulator (it validates nothing, so that broken
cards can be simulated). Neither logs anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from reader.card import LONG_TERM, CardType, IdCard, ValidUntil
from reader.codes import GENDERS, NATIONS
from reader.errors import CardDataError, FrameError, ReaderReason
from reader.idnumber import (
    InvalidIdNumber,
    parse_foreign_2017_number,
    parse_foreign_2023_number,
    parse_id_number,
)

TEXT_SIZE = 256
PHOTO_SIZE = 1024
TYPE_FLAG_OFFSET = 248

# field -> (byte offset, byte size), per layout. Offsets are the report's tables, §3.2 to §3.6.
_COMMON = {"gender_code": (30, 2), "birth_date": (36, 16), "id_number": (122, 36)}
LAYOUTS: dict[CardType, dict[str, tuple[int, int]]] = {
    CardType.RESIDENT: {
        "name": (0, 30), **_COMMON, "nation_code": (32, 4), "address": (52, 70),
        "issuing_authority": (158, 30), "valid_from": (188, 16), "valid_until": (204, 16),
    },
    CardType.HK_MO_TW_PERMIT: {
        "name": (0, 30), **_COMMON, "address": (52, 70), "issuing_authority": (158, 30),
        "valid_from": (188, 16), "valid_until": (204, 16), "pass_number": (220, 18), "issue_count": (238, 4),
    },
    CardType.FOREIGN_PERMANENT_2017: {
        "name_en": (0, 120), "gender_code": (120, 2), "id_number": (122, 30), "nationality": (152, 6),
        "name": (158, 30), "valid_from": (188, 16), "valid_until": (204, 16), "birth_date": (220, 16),
        "card_version": (236, 4), "authority_code": (240, 8),
    },
    CardType.FOREIGN_PERMANENT_2023: {
        "name": (0, 30), **_COMMON, "renewal_count": (32, 4), "name_en": (52, 70),
        "valid_from": (188, 16), "valid_until": (204, 16), "name_en_more": (220, 22),
        "nationality": (242, 6), "previous_number_link": (250, 6),
    },
}
TYPE_FLAGS: dict[bytes, CardType] = {
    b" \x00": CardType.RESIDENT,
    b"J\x00": CardType.HK_MO_TW_PERMIT,
    b"I\x00": CardType.FOREIGN_PERMANENT_2017,
    b"Y\x00": CardType.FOREIGN_PERMANENT_2023,
}
FLAG_OF = {card_type: flag for flag, card_type in TYPE_FLAGS.items()}
_DATES = ("birth_date", "valid_from", "valid_until")


def split_read_base(data: bytes, *, with_fingerprint: bool) -> tuple[bytes, bytes, bytes]:
    """Splits the DATA of a `30 01` (or `30 10`) answer into text, photo and fingerprint.

    Honours the big-endian length fields instead of fixed sizes; branches on the command sent,
    never on the frame size (report §8.11). Raises FrameError(frame_length) when they disagree.
    """
    header = 6 if with_fingerprint else 4
    if len(data) < header:
        raise FrameError(ReaderReason.FRAME_LENGTH, f"read answer of {len(data)} bytes has no length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    fp_len = int.from_bytes(data[4:6], "big") if with_fingerprint else 0
    if len(data) != header + text_len + photo_len + fp_len:
        raise FrameError(ReaderReason.FRAME_LENGTH,
                         f"read answer of {len(data)} bytes does not match its length fields")
    text = data[header:header + text_len]
    photo = data[header + text_len:header + text_len + photo_len]
    return text, photo, data[header + text_len + photo_len:]


def card_type_of(text: bytes) -> CardType:
    """The layout named by the type flag; CardDataError(card_type_unsupported) otherwise."""
    if len(text) < TEXT_SIZE:
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, f"text block of {len(text)} bytes, expected {TEXT_SIZE}")
    card_type = TYPE_FLAGS.get(bytes(text[TYPE_FLAG_OFFSET:TYPE_FLAG_OFFSET + 2]))
    if card_type is None:
        raise CardDataError(ReaderReason.CARD_TYPE_UNSUPPORTED, "unknown card type flag at byte 248")
    return card_type


def parse_card(text: bytes, photo: bytes = b"", fingerprint: bytes = b"") -> IdCard:
    """Parses and validates a text block (any of the four layouts) into an :class:`IdCard`.

    Raises CardDataError: ``card_type_unsupported``, ``card_text_invalid`` (bad UCS-2, unknown
    gender or nation code, impossible date), an ``id_number_*`` code, or
    ``card_fields_inconsistent`` (birth date or gender disagree with the ID number).
    """
    card_type = card_type_of(text)
    raw = {key: _field(text, offset, size) for key, (offset, size) in LAYOUTS[card_type].items()}
    values: dict[str, Any] = {key: value.strip(" \x00") for key, value in raw.items()}
    if card_type is CardType.FOREIGN_PERMANENT_2023:
        # The English name runs on from 52..121 into 220..241 (characters 36 to 46).
        values["name_en"] = (raw["name_en"] + raw.pop("name_en_more")).strip(" \x00")
        values.pop("name_en_more")
    if values["gender_code"] not in GENDERS:
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, "gender code not in GB/T 2261.1")
    if "nation_code" in values and values["nation_code"] not in NATIONS:
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, "nation code not in GB 3304")
    for key in _DATES:
        values[key] = _parse_date(values[key], key, allow_long_term=key == "valid_until")
    values["id_number"] = _validate_number(card_type, values)
    return IdCard(card_type=card_type, photo_wlt=bytes(photo), fingerprint=bytes(fingerprint), **values)


def _field(text: bytes, offset: int, size: int) -> str:
    try:
        return bytes(text[offset:offset + size]).decode("utf-16-le")
    except UnicodeDecodeError:
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, f"field at byte {offset} is not valid UCS-2") from None


def _parse_date(value: str, key: str, *, allow_long_term: bool) -> ValidUntil:
    if allow_long_term and value.startswith(LONG_TERM):
        return LONG_TERM
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, f"{key} is not YYYYMMDD")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise CardDataError(ReaderReason.CARD_TEXT_INVALID, f"{key} is not a calendar date") from None


def _validate_number(card_type: CardType, values: Mapping[str, Any]) -> str:
    number = values["id_number"]
    try:
        if card_type is CardType.FOREIGN_PERMANENT_2017:
            return parse_foreign_2017_number(number)
        if card_type is CardType.FOREIGN_PERMANENT_2023:
            parsed = parse_foreign_2023_number(number)
        else:
            parsed = parse_id_number(number, permit=card_type is CardType.HK_MO_TW_PERMIT)
    except InvalidIdNumber as exc:
        raise CardDataError(exc.code, f"ID number rejected: {exc.code}") from None
    # Report §7: cross-check the number against the card's own birth date and gender.
    if parsed.birth_date != values["birth_date"]:
        raise CardDataError(ReaderReason.CARD_FIELDS_INCONSISTENT, "birth date differs from the ID number's")
    if card_type is not CardType.FOREIGN_PERMANENT_2023 and values["gender_code"] in ("1", "2") and (
        parsed.male != (values["gender_code"] == "1")
    ):
        raise CardDataError(ReaderReason.CARD_FIELDS_INCONSISTENT, "gender differs from the ID number's parity")
    return parsed.value


def encode_text(card_type: CardType, fields: Mapping[str, Any]) -> bytes:
    """Builds the 256-byte text block for ``fields`` (the keys of :meth:`IdCard.to_json`).

    Dates may be ISO (``2030-01-01``), ``YYYYMMDD`` or ``长期``; ``gender_code`` may be replaced by
    ``gender`` (男/女/未知/未说明). Values are written as given (no validation), space padded.
    Raises ValueError when a value is longer than its field.
    """
    block = bytearray(" ".encode("utf-16-le") * (TEXT_SIZE // 2))
    layout = dict(LAYOUTS[card_type])
    values = {key: "" if value is None else str(value) for key, value in fields.items()}
    if "gender_code" not in values and "gender" in values:
        values["gender_code"] = next((code for code, name in GENDERS.items() if name == values["gender"]), "")
    for key in _DATES:
        if key in values and len(values[key]) == 10 and values[key][4] == "-":
            values[key] = values[key].replace("-", "")
    if card_type is CardType.FOREIGN_PERMANENT_2023:
        name_en = values.get("name_en", "")
        values["name_en"], values["name_en_more"] = name_en[:35], name_en[35:]
    for key, (offset, size) in layout.items():
        encoded = values.get(key, "").encode("utf-16-le")
        if len(encoded) > size:
            raise ValueError(f"{key} is longer than its {size // 2} characters")
        block[offset:offset + len(encoded)] = encoded
    block[TYPE_FLAG_OFFSET:TYPE_FLAG_OFFSET + 2] = FLAG_OF[card_type]
    return bytes(block)
