"""IIN and BIN: Kazakhstan's 12-digit individual and business identification numbers.

IIN: YYMMDD, a century-and-sex digit (1/2 for 1800s, 3/4 for 1900s, 5/6 for 2000s, odd male,
even female), a 4-digit serial, a check digit. BIN: YYMM of registration, a type digit (4 resident
legal entity, 5 non-resident, 6 individual entrepreneur), an attribute digit, a 5-digit serial and
the same check digit. Check digit: weights 1..11 mod 11; if 10, weights 3..11,1,2 mod 11; if 10
again, the number is never issued.
"""

from __future__ import annotations

from datetime import date


def check_digit(first_eleven: str) -> int | None:
    """The check digit for 11 digits, or None when both passes give 10 (never issued)."""
    raise NotImplementedError


def validate_iin(iin: str) -> None:
    """Raise InvalidIdentityNumber unless iin is 12 digits, with a real date of birth, a
    century-and-sex digit 1..6 and a valid check digit."""
    raise NotImplementedError


def is_valid_iin(iin: str) -> bool:
    raise NotImplementedError


def iin_birth_date(iin: str) -> date:
    raise NotImplementedError


def iin_sex(iin: str) -> str:
    """'M' or 'F'."""
    raise NotImplementedError


def century_sex_digit(birth_date: date, sex: str) -> int:
    raise NotImplementedError


def make_iin(birth_date: date, sex: str, serial: int) -> str | None:
    """The IIN for that date, sex and 4-digit serial, or None when the serial has no defined check
    digit (such serials are never issued). Raises ValueError for a serial outside 0..9999."""
    raise NotImplementedError


def validate_bin(bin_: str) -> None:
    raise NotImplementedError


def is_valid_bin(bin_: str) -> bool:
    raise NotImplementedError


def make_bin(registered: date, serial: int, *, entity_type: int = 4, attribute: int = 0) -> str | None:
    raise NotImplementedError
