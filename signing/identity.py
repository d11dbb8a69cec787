"""IIN and BIN: Kazakhstan's 12-digit individual and business identification numbers.

IIN: YYMMDD, a century-and-sex digit (1/2 for 1800s, 3/4 for 1900s, 5/6 for 2000s, odd male,
even female), a 4-digit serial, a check digit. BIN: YYMM of registration, a type digit (4 resident
legal entity, 5 non-resident, 6 individual entrepreneur), an attribute digit (0 head office,
1 branch, 2 representative office, 4 peasant farm), a 5-digit serial and the same check digit.
Check digit: weights 1..11 mod 11; if 10, weights 3..11,1,2 mod 11; if 10 again, the number is
never issued. No number is both a valid IIN and a valid BIN (the fifth digit: 0..3 or 4..6).
Error details never repeat the number: an IIN is personal data, and details reach logs.
"""

from __future__ import annotations

import re
from datetime import date

from cryptography import x509
from cryptography.x509.oid import NameOID

from signing.errors import InvalidIdentityNumber

_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# [0-9] rather than \d or str.isdigit(): both accept non-ASCII digits such as "٣" or "²".
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")

#: The BIN's type and attribute digits (see above).
BIN_ENTITY_TYPES = frozenset({4, 5, 6})
BIN_ATTRIBUTES = frozenset({0, 1, 2, 4})


def check_digit(first_eleven: str) -> int | None:
    """The check digit for 11 ASCII digits, or None when both passes give 10 (never issued).
    Raises InvalidIdentityNumber for anything but 11 ASCII digits."""
    if not isinstance(first_eleven, str) or not _ELEVEN_DIGITS.fullmatch(first_eleven):
        raise InvalidIdentityNumber("expected exactly 11 digits before the check digit")
    digits = [ord(c) - 48 for c in first_eleven]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        value = sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
        if value != 10:
            return value
    return None


def _require_twelve_digits(number: object, kind: str) -> str:
    if not isinstance(number, str):
        raise InvalidIdentityNumber(f"{kind} must be a string of 12 digits")
    if not _TWELVE_DIGITS.fullmatch(number):
        # Length is safe to report and is the most common mistake (a dropped or extra digit).
        if len(number) != 12:
            raise InvalidIdentityNumber(f"{kind} must be 12 digits, got {len(number)} characters")
        raise InvalidIdentityNumber(f"{kind} must contain only the digits 0-9")
    return number


def _require_check_digit(number: str, kind: str) -> None:
    expected = check_digit(number[:11])
    if expected is None:
        raise InvalidIdentityNumber(f"{kind} has a serial for which no check digit is defined")
    if expected != ord(number[11]) - 48:
        raise InvalidIdentityNumber(f"{kind} check digit does not match")


def validate_iin(iin: str) -> None:
    """Raise InvalidIdentityNumber unless iin is 12 digits, with a real date of birth, a
    century-and-sex digit 1..6 and a valid check digit. Caveats: the date is only checked to
    exist, not to be in the past; a valid checksum says nothing about issuance."""
    number = _require_twelve_digits(iin, "IIN")
    csd = ord(number[6]) - 48
    if not 1 <= csd <= 6:
        raise InvalidIdentityNumber("IIN century-and-sex digit (7th) must be 1..6")
    century = 1700 + 100 * ((csd + 1) // 2)  # 1 and 2: the 1800s, 3 and 4: the 1900s, ...
    try:
        date(century + int(number[0:2]), int(number[2:4]), int(number[4:6]))
    except ValueError:
        raise InvalidIdentityNumber("IIN does not start with a real date of birth") from None
    _require_check_digit(number, "IIN")


def is_valid_iin(iin: str) -> bool:
    """True iff validate_iin() would not raise (same caveats)."""
    try:
        validate_iin(iin)
    except InvalidIdentityNumber:
        return False
    return True


def iin_sex(iin: str) -> str:
    """'M' or 'F', from the parity of the seventh digit of a valid IIN. Raises
    InvalidIdentityNumber for an invalid one. This is the sex recorded at issue, nothing more."""
    validate_iin(iin)
    return "M" if int(iin[6]) % 2 else "F"


def century_sex_digit(birth_date: date, sex: str) -> int:
    """The seventh IIN digit for a date of birth and sex ('M' or 'F'). Raises ValueError for
    another sex or a year outside 1800..2099, which the scheme cannot encode."""
    if sex not in ("M", "F"):
        raise ValueError("sex must be 'M' or 'F'")
    if not 1800 <= birth_date.year <= 2099:
        raise ValueError("an IIN can only encode years 1800..2099")
    base = {18: 1, 19: 3, 20: 5}[birth_date.year // 100]
    return base if sex == "M" else base + 1


def make_iin(birth_date: date, sex: str, serial: int) -> str | None:
    """The IIN for that date, sex and 4-digit serial, or None when the serial has no defined check
    digit (never issued: pick the next). Raises ValueError for a serial outside 0..9999 and as
    century_sex_digit. Caveat: well-formed, not known to be issued to anyone.
    """
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial <= 9999:
        raise ValueError("serial must be an int in 0..9999")
    csd = century_sex_digit(birth_date, sex)
    # Explicit arithmetic rather than strftime("%y"): its handling of years before 1900 has
    # varied across platforms and C libraries.
    yymmdd = f"{birth_date.year % 100:02d}{birth_date.month:02d}{birth_date.day:02d}"
    first_eleven = f"{yymmdd}{csd}{serial:04d}"
    digit = check_digit(first_eleven)
    return None if digit is None else f"{first_eleven}{digit}"


def validate_bin(bin_: str) -> None:
    """Raise InvalidIdentityNumber unless bin_ is 12 digits with a registration month 01..12, a
    type digit 4/5/6, an attribute digit 0/1/2/4 and a valid check digit. Caveats: the two-digit
    year cannot be checked; a valid checksum proves no organisation."""
    number = _require_twelve_digits(bin_, "BIN")
    if not 1 <= int(number[2:4]) <= 12:
        raise InvalidIdentityNumber("BIN registration month (3rd-4th digits) must be 01..12")
    if ord(number[4]) - 48 not in BIN_ENTITY_TYPES:
        raise InvalidIdentityNumber("BIN type digit (5th) must be 4, 5 or 6")
    if ord(number[5]) - 48 not in BIN_ATTRIBUTES:
        raise InvalidIdentityNumber("BIN attribute digit (6th) must be 0, 1, 2 or 4")
    _require_check_digit(number, "BIN")


def _number_in(
    certificate: x509.Certificate, oid: x509.ObjectIdentifier, prefix: str
) -> str | None:
    for attribute in certificate.subject.get_attributes_for_oid(oid):
        value = attribute.value
        if isinstance(value, str) and value.startswith(prefix):
            number = value[len(prefix) :]
            if _TWELVE_DIGITS.fullmatch(number):
                return number
    return None


def signer_iin(certificate: x509.Certificate) -> str | None:
    """The IIN in the certificate's SERIALNUMBER=IIN<12 digits> (the national profile), or None.
    Caveats: the number is read, not validated (the national CA's own test certificates carry
    numbers that fail the checksum); it means something only once the certificate is trusted."""
    return _number_in(certificate, NameOID.SERIAL_NUMBER, "IIN")


def signer_bin(certificate: x509.Certificate) -> str | None:
    """The BIN in the certificate's OU=BIN<12 digits>, or None (the same caveats)."""
    return _number_in(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN")
