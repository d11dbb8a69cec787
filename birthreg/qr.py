"""QR codes of the texts the services show: one place that decides how a text is encoded.

A certificate's QR text is a URL whose fragment is the seal in Base45 (`signing.seal.qr_text`).
Base45 is made of QR's alphanumeric characters, which a QR code holds at 5.5 bits each; the URL
before it has lower-case letters and needs byte mode, 8 bits a character. Encoded as one piece,
the whole text would be bytes: the longest names' seal needed version 18 or 19 at level M. In
two segments (ISO/IEC 18004 mixed modes, which every reader decodes) it fits version 15 as a
rule and 16 at worst, so the modules printed in the certificate's 40 mm are 14 to 19%
larger (77 + 8 modules across instead of 89 or 93 + 8).
"""

from __future__ import annotations

import re

import segno

#: QR's alphanumeric mode: digits, capitals and nine signs (ISO/IEC 18004, 7.4.4).
_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")
#: Level M (15% of the code may be damaged), never a Micro QR code.
ERROR_LEVEL = "m"


def segments(text: str) -> list[str]:
    """`text` in the pieces a QR code holds most compactly: a URL up to and with its "#",
    then a fragment made only of alphanumeric characters (a Base45 seal, percent-encoded).
    Any other text is one piece (segno picks its mode)."""
    head, mark, fragment = text.partition("#")
    if mark and head and _ALPHANUMERIC.fullmatch(fragment):
        return [head + mark, fragment]
    return [text]


def make(text: str) -> segno.QRCode:
    """The QR code of `text`, at level M or better at the same size."""
    # segno takes a list of segments (segno.encoder.prepare_data); its stub names only one.
    return segno.make(segments(text), error=ERROR_LEVEL, micro=False)  # type: ignore[arg-type]
