"""The card as the kiosk sees it: :class:`IdCard`, a frozen value with parsed, validated fields.

Produced by :func:`reader.layouts.parse_card` from the 256-byte text block and the 1024-byte photo.
Privacy: ``repr()`` shows only the card type; :meth:`IdCard.to_json` masks the name, the ID number,
the pass number and the address unless asked for them. Never log an ``IdCard``'s fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Final, Literal

from reader.codes import gender_name, nation_name

LONG_TERM: Final = "长期"
"""The validity end of a long-term card, kept exactly as the card stores it."""

ValidUntil = date | Literal["长期"]


class CardType(StrEnum):
    """The four layouts, told apart by the type flag at text byte 248."""

    RESIDENT = "resident"                             # flag ' ' : mainland resident ID card
    HK_MO_TW_PERMIT = "hk_mo_tw_permit"               # flag 'J' : HK/Macao/Taiwan residence permit
    FOREIGN_PERMANENT_2017 = "foreign_permanent_2017"  # flag 'I'
    FOREIGN_PERMANENT_2023 = "foreign_permanent_2023"  # flag 'Y'


@dataclass(frozen=True)
class IdCard:
    """One ID card's machine-readable data. Dates are ``datetime.date``; text is trimmed.

    ``id_number`` has been validated for the layout (GB 11643 for resident, permit and 2023 foreign
    cards; the 7-3-1 check for 2017 foreign cards). Fields a layout does not carry are None.
    ``photo_wlt`` is the opaque 1024-byte WLT photo (decode it with :mod:`reader.wlt` if a vendor
    decoder is configured). ``fingerprint`` is kept only when read with ``30 10`` and never used.
    """

    card_type: CardType
    name: str
    gender_code: str
    birth_date: date
    id_number: str
    valid_from: date
    valid_until: ValidUntil
    name_en: str | None = None
    nation_code: str | None = None
    address: str | None = None
    issuing_authority: str | None = None
    pass_number: str | None = None
    issue_count: str | None = None
    nationality: str | None = None
    card_version: str | None = None
    authority_code: str | None = None
    renewal_count: str | None = None
    previous_number_link: str | None = None
    photo_wlt: bytes = field(default=b"", repr=False)
    fingerprint: bytes = field(default=b"", repr=False)

    def __repr__(self) -> str:  # the dataclass repr would print personal data into logs
        return f"IdCard(card_type={self.card_type.value!r}, <personal fields hidden>)"

    __str__ = __repr__

    @property
    def gender(self) -> str:
        """男 / 女 / 未知 / 未说明 (from the GB/T 2261.1 code)."""
        return gender_name(self.gender_code) or "未知"

    @property
    def nation(self) -> str | None:
        """The ethnic group's name (resident cards only)."""
        return nation_name(self.nation_code) if self.nation_code else None

    @property
    def is_long_term(self) -> bool:
        """True when the card is valid without an end date (长期)."""
        return self.valid_until == LONG_TERM

    def is_expired(self, on: date) -> bool:
        """True when the card is no longer valid on day ``on``.

        The end date is the last valid day (inclusive); a long-term card never expires. A card whose
        validity has not started yet is not "expired" (check :attr:`valid_from` for that).
        """
        if isinstance(self.valid_until, str):
            return False
        return on > self.valid_until

    def to_json(self, show_personal: bool = False) -> dict[str, Any]:
        """The card as a JSON-ready dict with the keys of ``kiosk reader read --json``.

        Only the keys the layout has are present. Dates are ISO strings; the validity end of a
        long-term card is ``"长期"``. Unless ``show_personal``: the name becomes the surname plus
        ``*``, the ID number keeps its first 6 and last 2 characters, the address is cut after the
        district, the English name keeps its first word and the pass number its last 2 characters.
        """
        out: dict[str, Any] = {"card_type": self.card_type.value, "name": self.name}
        if self.name_en is not None:
            out["name_en"] = self.name_en
        out["gender"] = self.gender
        out["gender_code"] = self.gender_code
        if self.nation_code is not None:
            out["nation"] = self.nation
            out["nation_code"] = self.nation_code
        out["birth_date"] = self.birth_date.isoformat()
        if self.address is not None:
            out["address"] = self.address
        out["id_number"] = self.id_number
        if self.issuing_authority is not None:
            out["issuing_authority"] = self.issuing_authority
        out["valid_from"] = self.valid_from.isoformat()
        out["valid_until"] = self.valid_until if isinstance(self.valid_until, str) else self.valid_until.isoformat()
        for key in ("pass_number", "issue_count", "nationality", "card_version", "authority_code",
                    "renewal_count", "previous_number_link"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if not show_personal:
            out["name"] = mask_name(self.name)
            out["id_number"] = mask_number(self.id_number)
            if "address" in out:
                out["address"] = mask_address(self.address or "")
            if "name_en" in out:
                out["name_en"] = mask_name_en(self.name_en or "")
            if "pass_number" in out:
                out["pass_number"] = mask_number(self.pass_number or "", keep_head=0)
        return out


def mask_name(name: str) -> str:
    """The first character (the surname, in most names) and a ``*``; '' stays ''."""
    return name[:1] + "*" if name else ""


def mask_name_en(name: str) -> str:
    """The first word of a Latin-script name followed by ``*``."""
    words = name.replace(",", " ").split()
    return words[0] + " *" if words else ""


def mask_number(number: str, keep_head: int = 6, keep_tail: int = 2) -> str:
    """Keeps the first ``keep_head`` and last ``keep_tail`` characters, the rest as ``*``."""
    if len(number) <= keep_head + keep_tail:
        return "*" * len(number)
    return number[:keep_head] + "*" * (len(number) - keep_head - keep_tail) + number[-keep_tail:]


_PROVINCE = re.compile(
    r"^(北京市|天津市|上海市|重庆市|香港特别行政区|澳门特别行政区|.{2,7}?自治区|.{2,3}?省|台湾)"
)


def mask_address(address: str) -> str:
    """The address up to its district (区/县/旗, else a county-level 市), then ``****``.

    Errs on the side of hiding: when no district is recognised only the province is kept.
    """
    if not address:
        return ""
    match = _PROVINCE.match(address)
    head = match.group(1) if match else ""
    rest = address[len(head):]
    cut = next((index + 1 for index, char in enumerate(rest) if char in "区县旗"), 0)
    if not cut:
        city = rest.rfind("市", 0, 12)
        cut = city + 1 if city >= 0 else 0
    return head + rest[:cut] + "****"
