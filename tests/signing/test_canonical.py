"""RFC 8785 canonicalization and the strict JSON parser (signing.canonical)."""

from __future__ import annotations

import enum
import hashlib
import json
import math
import struct
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from signing.canonical import (
    MAX_SAFE_INTEGER,
    canonicalize,
    parse_json,
    sha256_hex,
)
from signing.errors import CanonicalizationError

# --- RFC 8785 examples ---

# Section 3.2.2 (the input is shown in the RFC with this exact escaping).
RFC_3_2_2_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_3_2_2_OUTPUT = (
    '{"literals":[null,true,false],'
    '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
).encode()

# Section 3.2.3: property names are sorted by their UTF-16 code units.
RFC_3_2_3_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_3_2_3_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign",'
    '"😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
).encode()

# Appendix B: IEEE 754 bit patterns and their canonical text.
RFC_APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def from_bits(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


def test_rfc_3_2_2_sample() -> None:
    assert canonicalize(parse_json(RFC_3_2_2_INPUT)) == RFC_3_2_2_OUTPUT
    assert is_canonical(RFC_3_2_2_OUTPUT)
    assert not is_canonical(RFC_3_2_2_INPUT.encode())


def test_rfc_3_2_3_sorting() -> None:
    assert canonicalize(parse_json(RFC_3_2_3_INPUT)) == RFC_3_2_3_OUTPUT
    assert is_canonical(RFC_3_2_3_OUTPUT)


def test_sorting_is_by_utf16_not_by_code_point() -> None:
    # U+FB33 > U+1F600 as code points, but its UTF-16 unit 0xFB33 > the high surrogate 0xD83D.
    assert canonicalize({"\ufb33": 1, "\U0001f600": 2}) == '{"😀":2,"\ufb33":1}'.encode()


@pytest.mark.parametrize(("bits", "expected"), RFC_APPENDIX_B)
def test_rfc_appendix_b_numbers(bits: str, expected: str) -> None:
    assert canonicalize(from_bits(bits)) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_rfc_appendix_b_non_finite_numbers_are_refused(bits: str) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(from_bits(bits))


# Vectors from the reference implementation's test data (cyberphone/json-canonicalization).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[56, {"d": true, "10": null, "1": [ ]}]',
            '[56,{"1":[],"10":null,"d":true}]',
        ),
        (
            '{"peach": "This sorting order", "péché": "is wrong according to French",'
            ' "pêche": "but canonicalization MUST", "sin": "ignore locale"}',
            '{"peach":"This sorting order","péché":"is wrong according to French",'
            '"pêche":"but canonicalization MUST","sin":"ignore locale"}',
        ),
        (
            r'{"\u20ac": "Euro Sign", "1": "One", "\u0080": "Control\u007f",'
            r' "\ud83d\ude02": "Smiley", "\u00f6": "Latin Small Letter O With Diaeresis",'
            r' "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}',
            '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
            '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😂":"Smiley",'
            '"\ufb33":"Hebrew Letter Dalet With Dagesh"}',
        ),
    ],
)
def test_reference_implementation_vectors(text: str, expected: str) -> None:
    assert canonicalize(parse_json(text)) == expected.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-0.0, "0"),
        (0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (4.5, "4.5"),
        (0.1, "0.1"),
        (123e-10, "1.23e-8"),
        (MAX_SAFE_INTEGER, "9007199254740991"),
        (-MAX_SAFE_INTEGER, "-9007199254740991"),
        (float(2**53), "9007199254740992"),
    ],
)
def test_number_serialisation(value: float, expected: str) -> None:
    assert canonicalize(value) == expected.encode()


@pytest.mark.parametrize(
    ("text", "expected"), [("-0", "0"), ("-0.0", "0"), ("1.0", "1"), ("1E2", "100")]
)
def test_number_literals_normalised(text: str, expected: str) -> None:
    assert canonicalize(parse_json(text)) == expected.encode()


def test_strings_escape_only_what_rfc_8785_requires() -> None:
    value = "\x00\x1f\b\f\n\r\t\"\\/\x7f<>&'é€😀"
    assert canonicalize(value) == '"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/\x7f<>&\'é€😀"'.encode()


# --- canonicalize refusals ---


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, math.nan],
        {"a": {"b": math.inf}},
        2**53,
        -(2**53),
        10**400,
        {1: "non-string key"},
        {("a",): 1},
        {"\ud800": 1},
        "\udfff",
        ["ok", "\ud83d"],
        {1, 2},
        b"bytes",
        Decimal("1.5"),
        object(),
    ],
)
def test_canonicalize_refuses(value: Any) -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(value)
    assert caught.value.code == "not_canonicalizable"


def test_canonicalize_refusal_does_not_quote_the_value() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize({"iin": 921029350851921029})
    assert "921029350851" not in caught.value.detail


def test_canonicalize_refuses_self_reference_and_deep_nesting() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalizationError):
        canonicalize(loop)
    deep: Any = 1
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(CanonicalizationError):
        canonicalize(deep)


def test_canonicalize_accepts_tuples_and_str_enums() -> None:
    class Sex(enum.StrEnum):
        F = "F"

    assert canonicalize({"sex": Sex.F, "pair": (1, 2)}) == b'{"pair":[1,2],"sex":"F"}'


def test_sha256_hex() -> None:
    digest = sha256_hex({"b": 1, "a": [True, None]})
    assert digest == hashlib.sha256(b'{"a":[true,null],"b":1}').hexdigest()
    assert digest == digest.lower() and len(digest) == 64
    with pytest.raises(CanonicalizationError):
        sha256_hex(math.nan)


# --- parse_json ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": 1, "\\u0061": 2}', "duplicate key"),
        ('[{"x": {"y": 1, "y": 1}}]', "duplicate key"),
        ("NaN", "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ("[-Infinity]", "-Infinity"),
        ('"\\ud800"', "surrogate"),
        ('["\\udc00\\ud800"]', "surrogate"),
        ('{"\\ud83d": 1}', "surrogate"),
        ("1" * 5000, "too large"),
        ("1e400", "too large"),
        ("-1e400", "too large"),
        ("[1,]", "not JSON"),
        ("{'a': 1}", "not JSON"),
        ("", "not JSON"),
        ("[1] [2]", "not JSON"),
        ('"\t"', "not JSON"),  # raw control character in a string
        ("\ufeff[]", "not JSON"),
        ("01", "not JSON"),
    ],
)
def test_parse_json_refuses(text: str, message: str) -> None:
    with pytest.raises(CanonicalizationError, match=message):
        parse_json(text)
    with pytest.raises(CanonicalizationError):
        parse_json(text.encode("utf-8", "surrogatepass"))
    assert not is_canonical(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "data",
    [
        b'["\xff"]',
        b'["\xc3"]',
        b'["\xed\xa0\x80"]',  # a UTF-8-encoded surrogate is not UTF-8
        b'["\xc0\xaf"]',  # overlong encoding of "/"
        '["é"]'.encode("utf-16"),
        b"\xef\xbb\xbf[]",  # a byte-order mark
    ],
)
def test_parse_json_refuses_bytes_that_are_not_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalizationError):
        parse_json(data)


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("9007199254740991", 9007199254740991, "9007199254740991"),
        ("-9007199254740991", -9007199254740991, "-9007199254740991"),
        ("9007199254740992", 9007199254740992.0, "9007199254740992"),
        ("9007199254740993", 9007199254740992.0, "9007199254740992"),  # rounds, as in JavaScript
        ("295147905179352830000", 2.0**68, "295147905179352830000"),
        ("1" + "0" * 300, 1e300, "1e+300"),
    ],
)
def test_integer_literals_beyond_2_53_are_read_as_doubles(
    text: str, value: float, canonical: str
) -> None:
    parsed = parse_json(text)
    assert parsed == value and type(parsed) is type(value)
    assert canonicalize(parsed) == canonical.encode()


def test_parse_json_accepts_surrogate_pairs_and_floats() -> None:
    assert parse_json('["\\ud83d\\ude00", 1.5, 2.5e-3, 1e308]') == ["😀", 1.5, 0.0025, 1e308]
    assert parse_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_depth_limit_is_exact() -> None:
    assert parse_json("[" * 32 + "]" * 32) is not None
    with pytest.raises(CanonicalizationError, match="deeper than 32"):
        parse_json("[" * 33 + "]" * 33)
    assert parse_json('{"a":' * 32 + "1" + "}" * 32, max_depth=32) is not None
    with pytest.raises(CanonicalizationError, match="deeper than 3"):
        parse_json('{"a": [{"b": [1]}]}', max_depth=3)
    assert parse_json("1", max_depth=0) == 1
    with pytest.raises(CanonicalizationError):
        parse_json("[]", max_depth=0)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '["' + "[" * 1000 + '\\"' + "{" * 1000 + '"]'
    assert parse_json(text) == ["[" * 1000 + '"' + "{" * 1000]


@pytest.mark.parametrize(
    "bomb",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000,
        "[{" * 50_000,
        '"\\' * 200_000 + "[" * 100_000,
        '"' + "[" * 100_000,
    ],
)
def test_depth_bombs_are_refused(bomb: str) -> None:
    # CPython's decoder stops at the recursion limit; the depth is then counted on the result.
    with pytest.raises(CanonicalizationError, match=r"deeper|not JSON"):
        parse_json(bomb)


def test_parse_json_refuses_other_types() -> None:
    with pytest.raises(CanonicalizationError):
        parse_json(42)  # type: ignore[arg-type]


# --- is_canonical ---


def is_canonical(text: bytes) -> bool:
    """Whether text is exactly the RFC 8785 form of the value it carries."""
    try:
        return text == canonicalize(parse_json(text))
    except CanonicalizationError:
        return False


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (b'{"a":1,"b":[true,null,"x"]}', True),
        (b"[]", True),
        (b'"\\u001f"', True),
        (b'{"b":1,"a":2}', False),
        (b'{"a": 1}', False),
        (b'{"a":1.0}', False),
        (b'"\\u001F"', False),
        (b'"\\u00e9"', False),
        (b'"\\/"', False),
        (b"[1e21]", False),
        (b"[1e+21]", True),
        (b"[1]\n", False),
        (b'{"a":1,"a":1}', False),
        (b"\xff", False),
    ],
)
def test_is_canonical(text: bytes, canonical: bool) -> None:
    assert is_canonical(text) is canonical


# --- properties ---

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_form_round_trips_and_is_a_fixed_point(value: Any) -> None:
    canonical = canonicalize(value)
    parsed = parse_json(canonical)
    assert parsed == value
    assert canonicalize(parsed) == canonical
    assert is_canonical(canonical)
    # (Plain json.loads would not do: it reads "41027132151554620", the canonical form of the
    # double 4.102713215155462e+16, as a different, exact int.)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(value: float) -> None:
    parsed = parse_json(canonicalize(value))
    assert parsed == value
    assert float(parsed) == value


@given(st.dictionaries(st.text(), st.integers(min_value=0, max_value=9), min_size=1, max_size=8))
def test_keys_come_out_in_utf16_order(value: dict[str, int]) -> None:
    keys = list(parse_json(canonicalize(value)))
    assert keys == sorted(value, key=lambda key: key.encode("utf-16-be"))


@given(json_values)
def test_pretty_printed_text_canonicalises_to_the_same_bytes(value: Any) -> None:
    pretty = json.dumps(value, indent=2, ensure_ascii=True)
    assert canonicalize(parse_json(pretty, max_depth=64)) == canonicalize(value)


# canonicalize must give the very bytes of the `rfc8785` package. The text strategy favours the
# characters where a JSON encoder could differ from RFC 8785: controls, quotes, backslashes,
# U+2028/U+2029, DEL, the U+E000-U+FFFF block, and characters beyond the BMP.
_tricky_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "/", "\x7f", "\u2028", "\u2029", "\ue000", "\uffff", "😀"]),
        st.characters(max_codepoint=0x1F),
        st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, exclude_categories=["Cs"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=8,
)
_plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | _tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_tricky_text, children, max_size=5)
    ),
    max_leaves=25,
)


@given(_plain_values)
def test_canonicalize_gives_the_rfc8785_packages_bytes(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


def test_keys_beyond_the_bmp_are_sorted_by_utf16_code_units() -> None:
    # By code point "\ue000" < "😀" (U+1F600); by UTF-16 code unit 0xD83D < 0xE000.
    value = {"\ue000": 1, "😀": 2, "a": 3}
    assert canonicalize(value) == '{"a":3,"😀":2,"\ue000":1}'.encode()
    assert canonicalize(value) == rfc8785.dumps(value)
