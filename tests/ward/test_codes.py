"""Enrollment codes: alphabet, canonical form, lenient but strict parsing, the stored HMAC."""

from __future__ import annotations

import re

import pytest

from birthreg.ward import codes


def test_alphabet_has_no_lookalikes() -> None:
    assert not set(codes.ALPHABET) & set("0O1IL U")
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 30


def test_new_codes() -> None:
    seen = {codes.new_code().canonical for _ in range(200)}
    assert len(seen) == 200
    for code in seen:
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
        assert set(code.replace("-", "")) <= set(codes.ALPHABET)


@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN",
        "abcd-efgh-jkmn",
        " abcd efgh jkmn ",
        "ABCDEFGHJKMN",
        "AB-CD-EF-GH-JK-MN",
        "АВСD-ЕFGН-JКМN",  # Cyrillic А В С Е Н К М from a Kazakh or Russian keyboard
        "ABCD\u2013EFGH\u2013JKMN",
    ],
)
def test_lenient_parsing(typed: str) -> None:
    code = codes.parse_code(typed)
    assert code.canonical == "ABCD-EFGH-JKMN"
    assert (code.lookup, code.secret) == ("ABCD", "EFGHJKMN")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH-JKM",
        "ABCD-EFGH-JKMNP",
        "ABCD-EFGH-JKM0",
        "ABCD-EFGH-JKMI",
        "ABCD-EFGH-JKML",
        "ABCD_EFGH_JKMN",
        "ABCD-EFGH-JKMЖ",
        "A" * 100,
    ],
)
def test_strict_parsing(typed: str) -> None:
    with pytest.raises(codes.MalformedCode):
        codes.parse_code(typed)


def test_hmac_binds_lookup_and_secret_under_the_key() -> None:
    code = codes.parse_code("ABCD-EFGH-JKMN")
    stored = codes.secret_hmac("k" * 32, code)
    assert len(stored) == 64 and "EFGHJKMN" not in stored
    assert codes.secret_matches("k" * 32, code, stored)
    assert not codes.secret_matches("j" * 32, code, stored)
    assert not codes.secret_matches("k" * 32, codes.parse_code("ABCE-EFGH-JKMN"), stored)
    assert "EFGH" not in repr(code)


def test_url_and_qr() -> None:
    code = codes.parse_code("ABCD-EFGH-JKMN")
    url = codes.enrollment_url("https://ward.example/", code)
    assert url == "https://ward.example/enroll#code=ABCD-EFGH-JKMN"
    svg = codes.qr_svg(url)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<path" in svg
