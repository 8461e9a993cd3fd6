"""ID numbers of GB 11643-1999: check digit, birth date and region prefix.

Shared by the card parser and the roster import. Bytes and text in, typed values or a reason out;
never logs the number.

One rule for the characters of a number, applied by :func:`normalise_number_text` before any parse:
full-width digits and ``Ｘ``/``ｘ`` (U+FF10-FF19, U+FF38, U+FF58: what a Chinese input method types)
become their ASCII forms, and any other character outside ASCII is ``id_number_format``. Digits are
then ASCII ``0``-``9`` only: ``str.isdigit()`` and ``int()`` also take ``²``, ``①``, ``٣`` and the
digits of other scripts, which made such a number crash the check-digit sum or be accepted as a
second, different string for the same person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from reader.card import mask_number

# w_i = 2^(17-i) mod 11 (GB 11643-1999).
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

# First two digits of a GB/T 2260 region code: provinces and equivalents, plus 81/82/83 used by
# residence permits of Hong Kong, Macao and Taiwan residents (and 71 for Taiwan itself).
PROVINCE_PREFIXES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
     "71", "81", "82", "83"}
)
PERMIT_PREFIXES = frozenset({"81", "82", "83"})


ASCII_DIGITS = frozenset("0123456789")
# Full-width forms of the digits and X, folded to ASCII (the rule of #13). Nothing else is folded:
# full-width letters, e.g. in the nationality of a 2017 foreign number, are refused as FORMAT.
_FULL_WIDTH = str.maketrans({chr(0xFF10 + n): str(n) for n in range(10)} | {"\uff38": "X", "\uff58": "x"})


class IdNumberProblem(StrEnum):
    """Why an ID number is not valid (reason codes)."""

    FORMAT = "id_number_format"
    CHECK_DIGIT = "id_number_check_digit"
    BIRTH_DATE = "id_number_birth_date"
    REGION = "id_number_region"


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character ID number (upper-case ``X``), with what it encodes."""

    value: str
    birth_date: date
    male: bool

    def masked(self) -> str:
        """First 6 and last 2 characters, the rest as ``*`` (for screens and technician output)."""
        return mask_number(self.value)


class InvalidIdNumber(ValueError):
    """Raised by :func:`parse_id_number`; ``code`` is an :class:`IdNumberProblem` value."""

    def __init__(self, problem: IdNumberProblem) -> None:
        super().__init__(problem.value)
        self.code = problem.value
        self.problem = problem


def normalise_number_text(text: str) -> str:
    """The text of a card number as the parsers compare it: surrounding white space removed, full-width
    digits and X/x folded to ASCII, upper-cased. Raises :class:`InvalidIdNumber` (FORMAT) when any
    other non-ASCII character is left.

    The ASCII check comes before ``upper()``: ``"ı".upper()`` is ``"I"``, so upper-casing first
    would let a non-ASCII letter through as an ASCII one.
    """
    value = text.strip().translate(_FULL_WIDTH)
    if not value.isascii():
        raise InvalidIdNumber(IdNumberProblem.FORMAT)
    return value.upper()


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is non-empty and only ASCII ``0``-``9`` (unlike ``str.isdigit``)."""
    return bool(text) and set(text) <= ASCII_DIGITS


def check_character(first17: str) -> str:
    """The check character for 17 ASCII digits (ValueError for anything else)."""
    if len(first17) != 17 or not is_ascii_digits(first17):
        raise ValueError("the check character needs 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def parse_id_number(text: str, *, permit: bool | None = None) -> IdNumber:
    """Validates an 18-character ID number and returns it normalised (lower-case ``x`` → ``X``,
    full-width digits and X → ASCII, see :func:`normalise_number_text`).

    ``permit``: True requires a residence-permit prefix (81/82/83), False forbids it, None accepts
    either. Raises :class:`InvalidIdNumber` naming the first problem found.
    """
    value = normalise_number_text(text)
    _require_18_characters(value)
    prefix = value[:2]
    if prefix not in PROVINCE_PREFIXES or (permit is True and prefix not in PERMIT_PREFIXES) or (
        permit is False and prefix in PERMIT_PREFIXES
    ):
        raise InvalidIdNumber(IdNumberProblem.REGION)
    return _decode_birth_and_check(value)


def _require_18_characters(value: str) -> None:
    """17 ASCII digits and a check character (ASCII digit or upper-case ``X``), else FORMAT."""
    if len(value) != 18 or not is_ascii_digits(value[:17]) or not (value[17] in ASCII_DIGITS or value[17] == "X"):
        raise InvalidIdNumber(IdNumberProblem.FORMAT)


def _decode_birth_and_check(value: str) -> IdNumber:
    """Birth date (characters 7-14) and check character of a well-formed 18-character number."""
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber(IdNumberProblem.BIRTH_DATE) from None
    if birth.year < 1800:
        raise InvalidIdNumber(IdNumberProblem.BIRTH_DATE)
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber(IdNumberProblem.CHECK_DIGIT)
    return IdNumber(value=value, birth_date=birth, male=int(value[16]) % 2 == 1)


# --- Foreign permanent resident card numbers -------------------------------------------------
# 2023 card ('Y'): 18 characters with the GB 11643 check character and the birth date at 7-14, but
# the first digit is 9 instead of a province (e.g. 931586198001010028, protocol report §3.6).
# 2017 card ('I'): 15 characters, the ISO 3166-1 alpha-3 nationality then 12 digits; the last one
# is a check digit with weights 7, 3, 1 repeating over the first 14 characters (letters A=10 ...
# Z=35, '<'=0), the same rule the report gives for rebuilding an old number from a 2023 card.
_FOREIGN_2017_WEIGHTS = (7, 3, 1)


def check_digit_731(chars: str) -> str:
    """The 7-3-1 check digit of ``chars`` (ASCII digits, upper-case letters and '<'), as one digit."""
    total = 0
    for index, char in enumerate(chars):
        if char in ASCII_DIGITS:
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        elif char == "<":
            value = 0
        else:
            raise ValueError(f"character {char!r} has no value in a 7-3-1 check")
        total += value * _FOREIGN_2017_WEIGHTS[index % 3]
    return str(total % 10)


def parse_foreign_2017_number(text: str) -> str:
    """Validates a 15-character 2017 foreign permanent resident number; returns it upper-cased (and
    its full-width digits as ASCII, see :func:`normalise_number_text`).

    Raises :class:`InvalidIdNumber` (FORMAT or CHECK_DIGIT).
    """
    value = normalise_number_text(text)
    if len(value) != 15 or not value[:3].isalpha() or not is_ascii_digits(value[3:]):
        raise InvalidIdNumber(IdNumberProblem.FORMAT)
    if check_digit_731(value[:14]) != value[14]:
        raise InvalidIdNumber(IdNumberProblem.CHECK_DIGIT)
    return value


def parse_foreign_2023_number(text: str) -> IdNumber:
    """Validates an 18-character 2023 foreign permanent resident number (leading 9).

    Raises :class:`InvalidIdNumber` (FORMAT, REGION when it does not start with 9, BIRTH_DATE,
    CHECK_DIGIT).
    """
    value = normalise_number_text(text)
    _require_18_characters(value)
    if value[0] != "9":
        raise InvalidIdNumber(IdNumberProblem.REGION)
    return _decode_birth_and_check(value)


@dataclass(frozen=True)
class CardNumber:
    """The number of any card the reader accepts, normalised as the card parser returns it.

    ``kind``: ``resident`` (resident ID cards and HK/Macao/Taiwan residence permits),
    ``foreign_2023`` or ``foreign_2017``. ``birth_date`` is None for a 2017 foreign card, whose
    number does not encode one.
    """

    value: str
    kind: str
    birth_date: date | None

    def masked(self) -> str:
        """First 6 and last 2 characters, the rest as ``*`` (for screens and technician output)."""
        return mask_number(self.value)


def parse_card_number(text: str) -> CardNumber:
    """Validates the number of a resident ID card, residence permit or foreign permanent resident
    card (2023: 18 characters with a leading 9; 2017: 3 letters and 12 digits), as rosters list them.

    Raises :class:`InvalidIdNumber` with the resident rule's problem unless the text has the shape
    of a foreign card number, then with that card's problem; FORMAT for a character outside the
    one rule of :func:`normalise_number_text`.
    """
    value = normalise_number_text(text)
    try:
        number = parse_id_number(value)
        return CardNumber(number.value, "resident", number.birth_date)
    except InvalidIdNumber:
        if len(value) == 18 and value.startswith("9"):
            foreign = parse_foreign_2023_number(value)
            return CardNumber(foreign.value, "foreign_2023", foreign.birth_date)
        if len(value) == 15 and value[:3].isalpha():
            return CardNumber(parse_foreign_2017_number(value), "foreign_2017", None)
        raise


def is_valid_card_number(text: str) -> bool:
    """True when :func:`parse_card_number` accepts ``text``."""
    try:
        parse_card_number(text)
    except InvalidIdNumber:
        return False
    return True
