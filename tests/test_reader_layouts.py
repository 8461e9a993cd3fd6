"""Card text: the four layouts, code tables, 长期, validation reasons, masking, expiry."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from reader.card import LONG_TERM, CardType, IdCard, mask_address
from reader.codes import GENDERS, NATIONS
from reader.errors import CardDataError, FrameError, ReaderReason
from reader.layouts import encode_text, parse_card, split_read_base
from reader.samples import sample_card_paths

KEYS = {
    CardType.RESIDENT: ["card_type", "name", "gender", "gender_code", "nation", "nation_code", "birth_date", "address",
                        "id_number", "issuing_authority", "valid_from", "valid_until"],
    CardType.HK_MO_TW_PERMIT: ["card_type", "name", "gender", "gender_code", "birth_date", "address", "id_number",
                               "issuing_authority", "valid_from", "valid_until", "pass_number", "issue_count"],
    CardType.FOREIGN_PERMANENT_2017: ["card_type", "name", "name_en", "gender", "gender_code", "birth_date", "id_number",
                                      "valid_from", "valid_until", "nationality", "card_version", "authority_code"],
    CardType.FOREIGN_PERMANENT_2023: ["card_type", "name", "name_en", "gender", "gender_code", "birth_date", "id_number",
                                      "valid_from", "valid_until", "nationality", "renewal_count", "previous_number_link"],
}
EXTRAS = {"appended_address", "fingerprints", "photo_wlt_base64", "iin_hex", "sn_hex"}


def _sample(name: str) -> dict:
    return json.loads(next(p for p in sample_card_paths() if p.stem == name).read_text(encoding="utf-8"))


def _card(fields: dict) -> IdCard:
    card_type = CardType(fields["card_type"])
    return parse_card(encode_text(card_type, fields), bytes(1024))


@pytest.mark.parametrize("path", sample_card_paths(), ids=lambda p: p.stem)
def test_every_sample_round_trips_through_the_text_block(path: Path) -> None:
    fields = json.loads(path.read_text(encoding="utf-8"))
    card = _card(fields)
    out = card.to_json(show_personal=True)
    assert list(out) == KEYS[card.card_type]
    for key, value in fields.items():
        if key not in EXTRAS:
            assert out[key] == value, key


def test_samples_cover_all_four_layouts() -> None:
    types = {json.loads(p.read_text(encoding="utf-8"))["card_type"] for p in sample_card_paths()}
    assert types == {t.value for t in CardType}


def test_type_flag_sits_at_byte_248() -> None:
    for card_type, flag in [(CardType.RESIDENT, b" \x00"), (CardType.HK_MO_TW_PERMIT, b"J\x00"),
                            (CardType.FOREIGN_PERMANENT_2017, b"I\x00"), (CardType.FOREIGN_PERMANENT_2023, b"Y\x00")]:
        assert encode_text(card_type, {})[248:250] == flag


def test_long_term_is_kept_and_encoded_as_on_the_card() -> None:
    fields = _sample("resident_long_term")
    text = encode_text(CardType.RESIDENT, fields)
    assert text[204:220] == bytes.fromhex("7F951F67") + b" \x00" * 6
    card = parse_card(text)
    assert card.valid_until == LONG_TERM and card.is_long_term
    assert not card.is_expired(date(2099, 1, 1))


def test_expiry_is_inclusive_of_the_end_date() -> None:
    card = _card(_sample("hk_mo_tw_permit"))
    assert card.valid_until == date(2026, 10, 1)
    assert not card.is_expired(date(2026, 10, 1))
    assert card.is_expired(date(2026, 10, 2))


def test_2023_english_name_continues_into_the_spare_field() -> None:
    fields = _sample("foreign_permanent_2023")
    text = encode_text(CardType.FOREIGN_PERMANENT_2023, fields)
    assert len(fields["name_en"]) > 35
    assert text[220:242].decode("utf-16-le").strip() == fields["name_en"][35:]
    assert _card(fields).name_en == fields["name_en"]


def test_masking_by_default() -> None:
    out = _card(_sample("resident_twenty_years")).to_json()
    assert out["name"] == "韦*"
    assert out["id_number"] == "450102**********39"
    assert out["address"] == "广西壮族自治区南宁市兴宁区****"
    permit = _card(_sample("hk_mo_tw_permit")).to_json()
    assert permit["pass_number"] == "*******78" and "H1234" not in json.dumps(permit)


@pytest.mark.parametrize(
    ("address", "masked"),
    [("北京市东城区示例路1号", "北京市东城区****"), ("浙江省义乌市稠城街道1号", "浙江省义乌市****"),
     ("四川省成都市双流县东升镇", "四川省成都市双流县****"), ("河北省某某路", "河北省****"), ("", "")],
)
def test_address_is_cut_after_the_district(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_repr_hides_personal_fields() -> None:
    card = _card(_sample("resident_long_term"))
    assert "王" not in repr(card) and "3101" not in repr(card) and "3101" not in str(card)


def test_gender_codes_0_and_9_are_not_female() -> None:
    assert GENDERS == {"0": "未知", "1": "男", "2": "女", "9": "未说明"}
    assert len(NATIONS) == 58 and NATIONS["97"] == "其他" and NATIONS["46"] == "德昂"
    fields = dict(_sample("resident_long_term"), gender_code="9")
    assert _card(fields).gender == "未说明"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"id_number": "310101194805120020"}, ReaderReason.ID_NUMBER_CHECK_DIGIT),
        ({"id_number": "31010119480512002"}, ReaderReason.ID_NUMBER_FORMAT),
        ({"id_number": "990101194805120025"}, ReaderReason.ID_NUMBER_REGION),
        # Characters Python takes for digits are not digits of an ID number (#13).
        ({"id_number": "310101194805120²2X"}, ReaderReason.ID_NUMBER_FORMAT),
        ({"id_number": "3101011948051200①X"}, ReaderReason.ID_NUMBER_FORMAT),
        ({"id_number": "3101011948051200٢X"}, ReaderReason.ID_NUMBER_FORMAT),
        ({"id_number": "810000194805120026"}, ReaderReason.ID_NUMBER_REGION),  # a permit number on a resident card
        ({"birth_date": "1948-05-13"}, ReaderReason.CARD_FIELDS_INCONSISTENT),
        ({"gender_code": "1"}, ReaderReason.CARD_FIELDS_INCONSISTENT),
        ({"gender_code": "3"}, ReaderReason.CARD_TEXT_INVALID),
        ({"nation_code": "57"}, ReaderReason.CARD_TEXT_INVALID),
        ({"valid_from": "2010-02-30"}, ReaderReason.CARD_TEXT_INVALID),
        ({"valid_until": "20X0101"}, ReaderReason.CARD_TEXT_INVALID),
    ],
)
def test_invalid_cards_are_rejected_with_a_reason(change: dict, code: ReaderReason) -> None:
    with pytest.raises(CardDataError) as info:
        _card(dict(_sample("resident_long_term"), **change))
    assert info.value.code == code
    assert "3101" not in str(info.value)  # no ID number in the message


def test_a_full_width_number_on_a_card_is_read_as_the_ascii_number() -> None:
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in "31010119480512002X")
    assert _card(dict(_sample("resident_long_term"), id_number=full_width)).id_number == "31010119480512002X"
    foreign = _sample("foreign_permanent_2017")
    number = foreign["id_number"][:3] + "".join(chr(ord(char) + 0xFEE0) for char in foreign["id_number"][3:])
    assert _card(dict(foreign, id_number=number)).id_number == foreign["id_number"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["resident_long_term", "hk_mo_tw_permit", "foreign_permanent_2017", "foreign_permanent_2023"]),
       st.data())
def test_any_character_in_the_number_gives_a_card_with_an_ascii_number_or_a_card_data_error(
        sample: str, data: st.DataObject) -> None:
    """The parser raises nothing but CardDataError, whatever character the number holds: anything else
    would reach the reader service as a backend bug (a lost reader, reconnected, the card read again)."""
    fields = _sample(sample)
    number = fields["id_number"]
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    char = data.draw(st.one_of(st.sampled_from("0123456789X２Ｘ²①٣"),
                               st.characters(categories=("Nd", "No", "Nl", "L"), max_codepoint=0xFFFF)))
    try:
        card = _card(dict(fields, id_number=number[:position] + char + number[position + 1:]))
    except CardDataError:
        return
    assert card.id_number.isascii() and len(card.id_number) == len(number)


def test_foreign_numbers_are_checked() -> None:
    with pytest.raises(CardDataError) as info:
        _card(dict(_sample("foreign_permanent_2017"), id_number="USA110058070418"))
    assert info.value.code == ReaderReason.ID_NUMBER_CHECK_DIGIT
    with pytest.raises(CardDataError) as info:
        _card(dict(_sample("foreign_permanent_2023"), id_number="130840196111230029"))
    assert info.value.code == ReaderReason.ID_NUMBER_REGION


def test_unknown_type_flag_and_bad_ucs2() -> None:
    text = bytearray(encode_text(CardType.RESIDENT, _sample("resident_long_term")))
    text[248] = ord("Z")
    with pytest.raises(CardDataError) as info:
        parse_card(bytes(text))
    assert info.value.code == ReaderReason.CARD_TYPE_UNSUPPORTED
    text[248] = 0x20
    text[0:2] = b"\x00\xd8"  # a lone surrogate
    with pytest.raises(CardDataError) as info:
        parse_card(bytes(text))
    assert info.value.code == ReaderReason.CARD_TEXT_INVALID
    with pytest.raises(CardDataError):
        parse_card(bytes(100))


def test_read_answer_lengths_are_honoured() -> None:
    text, photo, fp = bytes(range(256)), bytes(1024), bytes(512)
    assert split_read_base(bytes.fromhex("01000400") + text + photo, with_fingerprint=False) == (text, photo, b"")
    body = bytes.fromhex("010004000200") + text + photo + fp
    assert split_read_base(body, with_fingerprint=True) == (text, photo, fp)
    # 30 10 without fingerprints: 1297-byte frame, FpLen 0 (not the 1295-byte 30 01 shape).
    assert split_read_base(bytes.fromhex("010004000000") + text + photo, with_fingerprint=True)[2] == b""
    with pytest.raises(FrameError) as info:
        split_read_base(bytes.fromhex("01000400") + text + photo[:-1], with_fingerprint=False)
    assert info.value.code == ReaderReason.FRAME_LENGTH


def test_encode_refuses_a_value_too_long_for_its_field() -> None:
    with pytest.raises(ValueError, match="name"):
        encode_text(CardType.RESIDENT, {"name": "长" * 16})
