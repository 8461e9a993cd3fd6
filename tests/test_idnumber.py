"""GB 11643 ID numbers: known-good numbers from the protocol report, and each kind of problem."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from reader.idnumber import IdNumberProblem, InvalidIdNumber, check_character, parse_id_number


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
