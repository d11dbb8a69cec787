"""One-time enrollment codes: how they look, how they are parsed, how their secret is kept.

A code is `LLLL-SSSS-SSSS`: a 4-character public *lookup* that finds the enrollment row and an
8-character *secret*. Both come from `ALPHABET`, which leaves out characters that are easily
mistaken for one another when read off a screen or a slip of paper (0/O, 1/I/L, U/V). With 30
symbols the secret carries 8·log2(30) ≈ 39 bits for the 30 minutes a code lives, and every try
is counted against the client's address (birthreg.ward.service.ENROLL_ADDRESS: twenty, then
waits that double), so guessing is hopeless. Wrong secrets never lock the code itself: a
stranger who learnt a mother's lookup could otherwise lock her out.

The *canonical form* is exactly `LLLL-SSSS-SSSS` in capitals with the two hyphens. It is what
is shown to people and what a phone key signs for proof of possession
(`signing.ca.enrollment_challenge(canonical_code)`, i.e. the UTF-8 bytes of
`birthreg-enroll:LLLL-SSSS-SSSS`). Typed codes are parsed leniently (any case, spaces and
hyphens anywhere, Cyrillic letters that look like Latin ones) but strictly by alphabet and
length.

The secret is never stored: it is derived from the enrollment's id and lookup under the
service's secret key (`derived_code`), so that the ward can show the same code again while it
lives (a reload, a second look) without keeping it; the row holds only an HMAC of it. A copy of
the database alone does not give usable codes.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

from birthreg import qr

ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LOOKUP_LENGTH = 4
SECRET_LENGTH = 8
#: The canonical form's length: 4 + 1 + 4 + 1 + 4.
CODE_LENGTH = LOOKUP_LENGTH + SECRET_LENGTH + 2

# A Kazakh or Russian phone keyboard gives Cyrillic letters that look exactly like Latin ones;
# reading them as the Latin letter they show is what the person meant. (Cyrillic letters with
# no Latin twin stay invalid.)
_LOOKALIKES = str.maketrans(
    {
        "А": "A",
        "В": "B",
        "С": "C",
        "Е": "E",
        "Н": "H",
        "К": "K",
        "М": "M",
        "Р": "P",
        "Т": "T",
        "Х": "X",
        "У": "Y",
        "Ѕ": "S",
    }
)
_IGNORED = frozenset(" -\t\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
_HMAC_LABEL = b"birthreg enrollment code v1:"
_SECRET_LABEL = b"birthreg enrollment secret v1:"


class MalformedCode(ValueError):
    """Text that cannot be an enrollment code (wrong characters or length)."""


@dataclass(frozen=True)
class EnrollmentCode:
    lookup: str
    secret: str

    @property
    def canonical(self) -> str:
        """`LLLL-SSSS-SSSS`: what people see and what a proof of possession signs."""
        return f"{self.lookup}-{self.secret[:4]}-{self.secret[4:]}"

    def __str__(self) -> str:
        return self.canonical

    def __repr__(self) -> str:  # never the secret, not even in a traceback
        return f"EnrollmentCode(lookup={self.lookup!r}, secret=<hidden>)"


def random_lookup() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LOOKUP_LENGTH))


def new_code(lookup: str | None = None) -> EnrollmentCode:
    """A fresh code (the secret from `secrets`); `lookup` when the caller already chose one."""
    lookup = lookup or random_lookup()
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    return EnrollmentCode(lookup, secret)


def derived_code(secret_key: str, enrollment_id: str, lookup: str) -> EnrollmentCode:
    """The code of the enrollment with this id and lookup: its secret is HMAC-SHA256 under the
    service's secret key, read as a number in base 30 (the bias of 2^256 mod 30 is nil)."""
    message = _SECRET_LABEL + f"{enrollment_id}:{lookup}".encode("ascii")
    number = int.from_bytes(hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).digest())
    symbols = []
    for _ in range(SECRET_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        symbols.append(ALPHABET[index])
    return EnrollmentCode(lookup, "".join(symbols))


def parse_code(text: str) -> EnrollmentCode:
    """The code in `text`, typed or scanned. Raises MalformedCode."""
    if not isinstance(text, str) or len(text) > 4 * CODE_LENGTH:
        raise MalformedCode("an enrollment code has 12 characters")
    symbols = "".join(c for c in text.upper().translate(_LOOKALIKES) if c not in _IGNORED)
    if len(symbols) != LOOKUP_LENGTH + SECRET_LENGTH:
        raise MalformedCode("an enrollment code has 12 characters")
    if any(c not in ALPHABET for c in symbols):
        raise MalformedCode("an enrollment code has only letters and digits from its alphabet")
    return EnrollmentCode(symbols[:LOOKUP_LENGTH], symbols[LOOKUP_LENGTH:])


def normalise_lookup(text: str) -> str | None:
    """The lookup part of a typed code or lookup, or None when it cannot be one."""
    try:
        return parse_code(text).lookup
    except MalformedCode:
        return None


def secret_hmac(secret_key: str, code: EnrollmentCode) -> str:
    """HMAC-SHA256 (hex) under the service's secret key of the code's lookup and secret."""
    message = _HMAC_LABEL + (code.lookup + code.secret).encode("ascii")
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def secret_matches(secret_key: str, code: EnrollmentCode, stored_hmac: str) -> bool:
    """Constant-time comparison of the code's HMAC with the stored one."""
    return hmac.compare_digest(secret_hmac(secret_key, code), stored_hmac)


def enrollment_url(base_url: str, code: EnrollmentCode) -> str:
    """The phone page's link. The code rides in the fragment, which browsers never send, so it
    stays out of server and proxy logs."""
    return f"{base_url.rstrip('/')}/enroll#code={code.canonical}"


def qr_svg(url: str) -> str:
    """An SVG QR code (error correction M, a 2-module quiet zone) of `url`, as text ready to be
    put inline in a page (no XML declaration; sized by the stylesheet). segno (birthreg.qr), as the
    certificate's: qrcode's path image took 60-80 ms a code, which was two thirds of a parent's
    page."""
    code = qr.make(url)
    return str(code.svg_inline(border=2, omitsize=True, lineclass=None))


def qr_svg_image(text: str) -> bytes:
    """The same QR code as an SVG file of its own, for an `<img>` (with its namespace and no
    XML declaration)."""
    out = io.BytesIO()
    qr.make(text).save(
        out, kind="svg", xmldecl=False, border=2, omitsize=True, lineclass=None
    )
    return out.getvalue()
