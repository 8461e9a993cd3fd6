"""GB 11643 ID numbers: known-good numbers from the protocol report, and each kind of problem."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from reader.idnumber import (
    IdNumberProblem,
    InvalidIdNumber,
    check_character,
    parse_card_number,
    parse_foreign_2017_number,
    parse_foreign_2023_number,
    parse_id_number,
)


@pytest.mark.parametrize(
    "number", ["440308199901101512", "810000199408230021", "830000199201300022", "11010219781027232X", "110101199003070011"]
)
def test_known_good_numbers(number: str) -> None:
    assert parse_id_number(number).value == number


def test_lower_case_x_is_normalised_and_fields_decoded() -> None:
    parsed = parse_id_number("11010219781027232x")
    assert parsed.value.endswith("X")
    assert parsed.birth_date == date(1978, 10, 27)
    assert parsed.male is False
    assert parsed.masked() == "110102**********2X"


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("11010219781027232", IdNumberProblem.FORMAT),
        ("1101021978102723ZX", IdNumberProblem.FORMAT),
        ("110102197810272321", IdNumberProblem.CHECK_DIGIT),
        ("110102197802302328", IdNumberProblem.BIRTH_DATE),
        ("990102197810272326", IdNumberProblem.REGION),
    ],
)
def test_problems_are_named(number: str, problem: IdNumberProblem) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(number)
    assert info.value.problem is problem


def test_permit_prefix_rules() -> None:
    with pytest.raises(InvalidIdNumber):
        parse_id_number("810000199408230021", permit=False)
    with pytest.raises(InvalidIdNumber):
        parse_id_number("440308199901101512", permit=True)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_any_single_digit_change_is_caught(first17: str) -> None:
    number = first17 + check_character(first17)
    for position in range(17):
        changed = number[:position] + str((int(number[position]) + 1) % 10) + number[position + 1:]
        assert check_character(changed[:17]) != changed[17]


def test_any_card_number_parses_each_layout_and_masks_by_its_length() -> None:
    from reader.idnumber import CardNumber, parse_card_number

    assert parse_card_number(" 11010519491231002x ") == CardNumber("11010519491231002X", "resident", date(1949, 12, 31))
    assert parse_card_number("931586198001010028").kind == "foreign_2023"
    assert parse_card_number("usa450315123455") == CardNumber("USA450315123455", "foreign_2017", None)
    assert parse_card_number("USA450315123455").masked() == "USA450*******55"
    assert parse_card_number("11010519491231002X").masked() == "110105**********2X"
    for bad, problem in [("110101194503151238", "id_number_check_digit"), ("931586198001010029", "id_number_check_digit"),
                         ("USA450315123456", "id_number_check_digit"), ("12345", "id_number_format"),
                         ("991586198001010028", "id_number_check_digit")]:
        with pytest.raises(InvalidIdNumber) as error:
            parse_card_number(bad)
        assert error.value.code == problem, bad


# --- Hostile input (#13): one rule for what counts as a digit --------------------------------------
# Full-width digits and X (what a Chinese IME types) are the same number as the ASCII ones: they are
# normalised. Every other character that str.isdigit()/int() would take for a digit (superscripts,
# circled digits, Arabic-Indic and other scripts' digits) is refused as id_number_format.

def _full_width(text: str) -> str:
    """``text`` with its ASCII digits and X/x in their full-width forms (U+FF10-FF19, U+FF38/FF58)."""
    return "".join(chr(ord(char) + 0xFEE0) if char in "0123456789Xx" else char for char in text)


# Characters Python calls digits (isdigit() is True for all; int() accepts the decimal ones).
NON_ASCII_DIGITS = ["²", "①", "٣", "۳", "३", "৩", "๓", "𝟑", "₃", "⑶"]
GOOD_NUMBERS = ["11010519491231002X", "110105194912310038", "931586198001010028", "USA450315123455"]


@pytest.mark.parametrize("digit", NON_ASCII_DIGITS)
@pytest.mark.parametrize("number", GOOD_NUMBERS)
def test_a_non_ascii_digit_anywhere_is_a_format_problem(number: str, digit: str) -> None:
    assert all(char.isdigit() for char in digit)  # the trap: Python calls it a digit
    for position, char in enumerate(number):
        if not char.isdigit():
            continue
        hostile = number[:position] + digit + number[position + 1:]
        with pytest.raises(InvalidIdNumber) as error:
            parse_card_number(hostile)
        assert error.value.problem is IdNumberProblem.FORMAT, (number, position, digit)


@pytest.mark.parametrize("number", GOOD_NUMBERS)
def test_full_width_digits_and_x_are_the_same_number(number: str) -> None:
    ascii_number = parse_card_number(number)
    assert parse_card_number(_full_width(number)) == ascii_number
    assert parse_card_number(_full_width(number.lower())) == ascii_number  # full-width lower-case x too
    half = number[:9] + _full_width(number[9:])  # as a mixed IME entry might come out
    assert parse_card_number("\u3000" + half + " ") == ascii_number


def test_each_parser_applies_the_same_rule() -> None:
    assert parse_id_number(_full_width("11010519491231002x")).value == "11010519491231002X"
    assert parse_foreign_2023_number(_full_width("931586198001010028")).value == "931586198001010028"
    assert parse_foreign_2017_number(_full_width("usa450315123455")) == "USA450315123455"
    for parse, number in [(parse_id_number, "11010519491231002²"), (parse_foreign_2023_number, "93158619800101002①"),
                          (parse_foreign_2017_number, "USA45031512345٥"),
                          (parse_foreign_2017_number, "usa450315123455".replace("u", "\u0131"))]:  # dotless i
        with pytest.raises(InvalidIdNumber) as error:
            parse(number)
        assert error.value.problem is IdNumberProblem.FORMAT, number


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(GOOD_NUMBERS), st.data())
def test_any_character_in_any_place_gives_the_same_number_or_an_invalid_id_number(number: str,
                                                                                 data: st.DataObject) -> None:
    """Never another exception, never a non-ASCII value, never a number other than the one typed."""
    positions = data.draw(st.sets(st.integers(min_value=0, max_value=len(number) - 1), min_size=1, max_size=4))
    chars = st.one_of(st.sampled_from("0123456789Xx９Ｘｘ²①٣"), st.characters(categories=("Nd", "No", "Nl", "L")))
    hostile = "".join(data.draw(chars) if index in positions else char for index, char in enumerate(number))
    try:
        parsed = parse_card_number(hostile)
    except InvalidIdNumber:
        return
    assert parsed.value.isascii() and len(parsed.value) == len(number)
    ascii_typed = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" or c in "Ｘｘ" else c for c in hostile).upper()
    assert parsed.value == ascii_typed


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=4, max_size=4), st.text(alphabet="0123456789", min_size=3, max_size=3),
       st.integers(min_value=0, max_value=17), st.sampled_from(NON_ASCII_DIGITS))
def test_a_lookalike_digit_in_any_valid_number_is_a_format_problem(region: str, sequence: str, position: int,
                                                                   digit: str) -> None:
    first17 = "11" + region + "19491231" + sequence
    number = first17 + check_character(first17)
    with pytest.raises(InvalidIdNumber) as error:
        parse_id_number(number[:position] + digit + number[position + 1:])
    assert error.value.problem is IdNumberProblem.FORMAT
