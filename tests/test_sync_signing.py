"""Request HMACs, record signatures and template encoding of the sync protocol (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import signing
from wire.template_codec import decode_template, encode_template

SECRET = "ab" * 32


def test_a_signed_request_verifies_and_any_change_breaks_it() -> None:
    body = b'{"records":[]}'
    headers = signing.sign_request(SECRET, "T1", "POST", "/v1/results", body, 1_700_000_000)
    assert signing.verify_request(SECRET, headers, "POST", "/v1/results", body)
    assert not signing.verify_request("cd" * 32, headers, "POST", "/v1/results", body)
    assert not signing.verify_request(SECRET, headers, "GET", "/v1/results", body)
    assert not signing.verify_request(SECRET, headers, "POST", "/v1/roster", body)
    assert not signing.verify_request(SECRET, headers, "POST", "/v1/results", body + b" ")
    moved = signing.SignedHeaders("T2", headers.timestamp, headers.nonce, headers.signature)
    assert not signing.verify_request(SECRET, moved, "POST", "/v1/results", body)
    later = signing.SignedHeaders("T1", headers.timestamp + 1, headers.nonce, headers.signature)
    assert not signing.verify_request(SECRET, later, "POST", "/v1/results", body)


def test_the_query_string_is_covered() -> None:
    headers = signing.sign_request(SECRET, "T1", "GET", "/v1/roster?cursor=5&limit=10", b"", 1)
    assert not signing.verify_request(SECRET, headers, "GET", "/v1/roster?cursor=0&limit=10", b"")


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
