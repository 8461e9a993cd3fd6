"""Request and record signatures, enrolment codes and template encoding of the sync protocol (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import signing
from wire.template_codec import decode_template, encode_template

KEY = signing.new_signing_key()
PUBLIC = signing.public_key_text(KEY)


def test_a_signed_request_verifies_and_any_change_breaks_it() -> None:
    body = b'{"records":[]}'
    headers = signing.sign_request(KEY, "T1", "POST", "/v1/results", body, 1_700_000_000)
    assert signing.verify_request(PUBLIC, headers, "POST", "/v1/results") and signing.body_matches(headers, body)
    assert not signing.body_matches(headers, body + b" ")
    assert not signing.verify_request(signing.public_key_text(signing.new_signing_key()), headers, "POST", "/v1/results")
    assert not signing.verify_request(PUBLIC, headers, "GET", "/v1/results")
    assert not signing.verify_request(PUBLIC, headers, "POST", "/v1/roster")
    for change in ({"device_id": "T2"}, {"timestamp": headers.timestamp + 1}, {"nonce": signing.new_nonce()},
                   {"content_sha256": signing.body_digest(b"other")}, {"key_id": "0" * 16}):
        moved = signing.SignedHeaders(**{**headers.__dict__, **change})
        assert not signing.verify_request(PUBLIC, moved, "POST", "/v1/results"), change
    assert headers.key_id == signing.key_id(PUBLIC)
    assert signing.signed_headers_from(headers.as_dict()) == headers


def test_the_query_string_is_covered() -> None:
    headers = signing.sign_request(KEY, "T1", "GET", "/v1/roster?cursor=5&limit=10", b"", 1)
    assert not signing.verify_request(PUBLIC, headers, "GET", "/v1/roster?cursor=0&limit=10")


@pytest.mark.parametrize("change", [{"X-Kiosk-Nonce": "ABC"}, {"X-Kiosk-Key": "xyz"}, {"X-Kiosk-Content-SHA256": "0"},
                                    {"X-Kiosk-Timestamp": "soon"}, {"X-Kiosk-Signature": ""}])
def test_malformed_headers_are_named_not_echoed(change: dict) -> None:
    headers = {**signing.sign_request(KEY, "T1", "GET", "/v1/roster", b"", 1).as_dict(), **change}
    with pytest.raises(signing.HeadersInvalid) as info:
        signing.signed_headers_from(headers)
    assert all(value not in str(info.value) for value in change.values() if value)


def test_enrolment_codes_are_fresh_forgiving_and_hashed() -> None:
    codes = {signing.new_enrolment_code() for _ in range(50)}
    assert len(codes) == 50 and all(len(code) == 19 and code.count("-") == 3 for code in codes)
    code = next(iter(codes))
    assert signing.enrolment_code_hash(code) == signing.enrolment_code_hash(code.lower().replace("-", " "))
    assert code.replace("-", "") not in signing.enrolment_code_hash(code)
    with pytest.raises(ValueError):
        signing.normalise_enrolment_code(code[:-1])


def test_nonces_are_fresh_and_hex() -> None:
    nonces = {signing.new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == signing.NONCE_HEX_DIGITS and int(n, 16) >= 0 for n in nonces)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=20),
                                                                    st.floats(allow_nan=False, allow_infinity=False)),
                       max_size=6))
def test_record_signatures_cover_every_field(extra: dict) -> None:
    key = signing.new_signing_key()
    record = {"record_id": "r", "outcome": "certified", **{f"x_{k}": v for k, v in extra.items()}}
    record["signature"] = signing.sign_record(key, record)
    public = signing.public_key_text(key)
    assert signing.verify_record(public, record)
    tampered = dict(record, outcome="failed")
    assert not signing.verify_record(public, tampered)
    other = signing.public_key_text(signing.new_signing_key())
    assert not signing.verify_record(other, record)


def test_verify_record_never_raises_on_garbage() -> None:
    assert not signing.verify_record("not base64!", {"signature": "x"})
    assert not signing.verify_record(signing.public_key_text(signing.new_signing_key()), {"signature": "@@"})
    assert not signing.verify_record(signing.public_key_text(signing.new_signing_key()), {})


def test_private_keys_round_trip_and_key_ids_are_stable() -> None:
    key = signing.new_signing_key()
    text = signing.private_key_to_text(key)
    again = signing.private_key_from_text(text)
    assert signing.public_key_text(again) == signing.public_key_text(key)
    assert signing.key_id(signing.public_key_text(key)) == signing.key_id(signing.public_key_text(again))
    with pytest.raises(ValueError):
        signing.private_key_from_text("AAAA")


def test_templates_round_trip_within_float32_rounding() -> None:
    rng = np.random.default_rng(3)
    template = rng.normal(size=128) * 0.1
    decoded = decode_template(encode_template(template))
    assert decoded.dtype == np.float64 and decoded.shape == (128,)
    assert np.max(np.abs(decoded - template)) < 1e-7


@pytest.mark.parametrize("bad", [np.zeros(127), np.zeros((2, 64)) * np.nan, np.full(128, np.inf)])
def test_malformed_templates_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_template(bad)


@pytest.mark.parametrize("text", ["", "!!!", "AAAA", "A" * 684 + "=="])
def test_malformed_wire_templates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_template(text)
