"""signing.jws.b64url_decode: strict, canonical base64url without padding, checked against
the plain definition (decode, then re-encode and compare the whole)."""

from __future__ import annotations

import base64
import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from signing.jws import b64url_decode, b64url_encode


def reference(text: str) -> bytes:
    """What b64url_decode accepts, by definition: only the one encoding of some bytes."""
    try:
        encoded = text.encode("ascii")
        data = base64.urlsafe_b64decode(encoded + b"=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as error:
        raise ValueError("not base64url") from error
    if b64url_encode(data) != text:
        raise ValueError("not the canonical encoding")
    return data


def outcome(text: str) -> bytes | None:
    try:
        return b64url_decode(text)
    except ValueError:
        return None


def expected(text: str) -> bytes | None:
    try:
        return reference(text)
    except ValueError:
        return None


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=2000, deadline=None)
@given(st.text(st.sampled_from(_ALPHABET + "=+/ \n.é"), max_size=13))
def test_decoding_accepts_exactly_the_canonical_encodings(text: str) -> None:
    assert outcome(text) == expected(text)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 63))
def test_any_change_to_the_last_character_is_refused(data: bytes, replacement: int) -> None:
    text = b64url_encode(data)
    assert b64url_decode(text) == data
    if text:
        changed = text[:-1] + _ALPHABET[replacement]
        assert outcome(changed) == expected(changed)
        if changed != text:
            assert outcome(changed) != data
