"""birthreg.qr: which texts are split into a byte and an alphanumeric segment (the certificate's
QR code is checked whole in tests/registry/test_certificate.py, scanned by zbar and jsQR)."""

from __future__ import annotations

import pytest
import segno

from birthreg import qr


def test_a_seal_url_is_split_after_its_hash() -> None:
    text = "https://registry.example.kz/verify#6BFOXN%20TSMAHN-H3O"
    assert qr.segments(text) == ["https://registry.example.kz/verify#", "6BFOXN%20TSMAHN-H3O"]
    # Alphanumeric mode: 5.5 bits a character instead of 8, so the code is smaller.
    long = "https://registry.example.kz/verify#" + "6BFOXN%20TSMAHN-H3O" * 20
    assert qr.make(long).version < segno.make(long, error="m", micro=False).version


@pytest.mark.parametrize("text", [
    "https://ward.example.kz/enroll#code=ABCD-EFGH-JKMN",  # a fragment with lower case
    "https://registry.example.kz/verify",  # no fragment
    "https://registry.example.kz/verify#",  # an empty one
    "#ABC",  # nothing before it
    "ABCD-EFGH-JKMN",
])
def test_other_texts_stay_one_piece(text: str) -> None:
    assert qr.segments(text) == [text]
    assert qr.make(text).version >= 1
