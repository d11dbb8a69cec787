"""IIN and BIN validation and construction (signing.identity)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from signing.errors import InvalidIdentityNumber
from signing.identity import (
    century_sex_digit,
    check_digit,
    iin_sex,
    is_valid_iin,
    make_iin,
    signer_bin,
    signer_iin,
    validate_bin,
    validate_iin,
)

if TYPE_CHECKING:
    from conftest import PKI

FIRST_WEIGHTS = range(1, 12)

birth_dates = st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31))
sexes = st.sampled_from(["M", "F"])
iin_serials = st.integers(min_value=0, max_value=9999)
bin_serials = st.integers(min_value=0, max_value=99999)
entity_types = st.sampled_from([4, 5, 6])
attributes = st.sampled_from([0, 1, 2, 4])


def first_pass(number: str) -> int:
    return sum(w * int(d) for w, d in zip(FIRST_WEIGHTS, number[:11], strict=True)) % 11


# --- known numbers (FIELD-NOTES.md, "Kazakh identity numbers") ---


@pytest.mark.parametrize("iin", ["921029350851", "990101300122", "170315600602"])
def test_known_valid_iins(iin: str) -> None:
    validate_iin(iin)
    assert is_valid_iin(iin)


def test_known_second_pass_iin_needs_the_second_pass() -> None:
    assert first_pass("170315600602") == 10
    assert check_digit("17031560060") == 2


def test_known_invalid_iin() -> None:
    assert not is_valid_iin("921029350852")
    with pytest.raises(InvalidIdentityNumber, match="check digit does not match"):
        validate_iin("921029350852")


def test_national_ca_test_iin_fails_the_checksum() -> None:
    # FIELD-NOTES: the national CA's own test certificates carry this one.
    assert not is_valid_iin("123456789011")


@pytest.mark.parametrize(
    ("iin", "born", "sex"),
    [
        ("921029350851", date(1992, 10, 29), "M"),
        ("990101300122", date(1999, 1, 1), "M"),
        ("170315600602", date(2017, 3, 15), "F"),
    ],
)
def test_birth_date_and_sex_of_known_iins(iin: str, born: date, sex: str) -> None:
    validate_iin(iin)
    assert iin.startswith(f"{born:%y%m%d}")
    assert iin_sex(iin) == sex


def test_check_digit_undefined_on_both_passes() -> None:
    first_eleven = "24051760260"
    assert check_digit(first_eleven) is None
    assert make_iin(date(2024, 5, 17), "F", 260) is None
    for last in "0123456789":
        assert not is_valid_iin(first_eleven + last)
    with pytest.raises(InvalidIdentityNumber, match="no check digit"):
        validate_iin(first_eleven + "0")


@pytest.mark.parametrize("bad", ["", "1234567890", "123456789012345", "abcdefghijk", "1234567890 "])
def test_check_digit_refuses_anything_but_eleven_digits(bad: str) -> None:
    with pytest.raises(InvalidIdentityNumber):
        check_digit(bad)


# --- validation errors ---


@pytest.mark.parametrize(
    ("iin", "message"),
    [
        ("92102935085", "12 digits"),
        ("9210293508511", "12 digits"),
        (" 921029350851", "12 digits"),
        ("92102935085a", "only the digits"),
        ("92102935085١", "only the digits"),  # ARABIC-INDIC DIGIT ONE: str.isdigit() says True
        ("92102935085²", "only the digits"),
        ("921029050851", "century-and-sex"),
        ("921029750851", "century-and-sex"),
        ("921329350851", "real date"),
        ("920230350851", "real date"),
        ("000229350851", "real date"),  # 1900 was not a leap year
    ],
)
def test_validate_iin_says_what_is_wrong(iin: str, message: str) -> None:
    with pytest.raises(InvalidIdentityNumber, match=message) as caught:
        validate_iin(iin)
    assert caught.value.code == "invalid_identity_number"
    assert iin.strip() not in caught.value.detail
    assert not is_valid_iin(iin)


def test_validate_iin_refuses_non_strings() -> None:
    with pytest.raises(InvalidIdentityNumber):
        validate_iin(921029350851)  # type: ignore[arg-type]
    assert not is_valid_iin(None)  # type: ignore[arg-type]


def test_leap_day_in_2000_is_a_real_date() -> None:
    iin = make_iin(date(2000, 2, 29), "M", 1)
    assert iin is not None and iin.startswith("0002295")
    validate_iin(iin)


def test_error_detail_never_contains_the_number() -> None:
    for bad in ["921029350852", "921029950851", "921329350851"]:
        with pytest.raises(InvalidIdentityNumber) as caught:
            validate_iin(bad)
        assert bad not in caught.value.detail
        assert bad[:6] not in caught.value.detail


def test_birth_date_and_sex_refuse_invalid_iins() -> None:
    with pytest.raises(InvalidIdentityNumber):
        iin_sex("921029350852")


# --- construction ---


@pytest.mark.parametrize(
    ("year", "sex", "digit"),
    [
        (1800, "M", 1),
        (1899, "F", 2),
        (1900, "M", 3),
        (1999, "F", 4),
        (2000, "M", 5),
        (2099, "F", 6),
    ],
)
def test_century_sex_digit(year: int, sex: str, digit: int) -> None:
    assert century_sex_digit(date(year, 6, 1), sex) == digit


@pytest.mark.parametrize(("born", "sex"), [(date(1799, 12, 31), "M"), (date(2100, 1, 1), "F")])
def test_century_sex_digit_refuses_unencodable_years(born: date, sex: str) -> None:
    with pytest.raises(ValueError):
        century_sex_digit(born, sex)


@pytest.mark.parametrize("sex", ["m", "X", "", "male"])
def test_century_sex_digit_refuses_other_sexes(sex: str) -> None:
    with pytest.raises(ValueError):
        century_sex_digit(date(2024, 1, 1), sex)


@pytest.mark.parametrize("serial", [-1, 10000, True])
def test_make_iin_refuses_serials_out_of_range(serial: int) -> None:
    with pytest.raises(ValueError):
        make_iin(date(2024, 1, 1), "F", serial)


def test_make_iin_reproduces_known_numbers() -> None:
    assert make_iin(date(1992, 10, 29), "M", 5085) == "921029350851"
    assert make_iin(date(2017, 3, 15), "F", 60) == "170315600602"


@given(birth_dates, sexes, iin_serials)
def test_every_made_iin_validates_and_round_trips(born: date, sex: str, serial: int) -> None:
    iin = make_iin(born, sex, serial)
    first_eleven = (
        f"{born.year % 100:02d}{born.month:02d}{born.day:02d}"
        f"{century_sex_digit(born, sex)}{serial:04d}"
    )
    if check_digit(first_eleven) is None:
        # Serials with no defined check digit are never produced.
        assert iin is None
        return
    assert iin is not None
    validate_iin(iin)
    assert iin[:11] == first_eleven
    validate_iin(iin)
    assert iin.startswith(f"{born:%y%m%d}")
    assert iin_sex(iin) == sex
    assert not is_valid_bin(iin)


@given(birth_dates, sexes)
def test_make_iin_never_produces_an_undefined_serial(born: date, sex: str) -> None:
    for serial in range(0, 10000, 37):
        iin = make_iin(born, sex, serial)
        assert iin is None or is_valid_iin(iin)


# --- what the check digit detects ---
#
# "Any single-digit change is detected" is FALSE for this scheme, in two ways (checked
# exhaustively over 60,000 serials while writing these tests):
#
# 1. The first-pass weight of the 11th digit is 11, i.e. 0 mod 11: when a number's check digit
#    comes from the first pass (about 91% of them), changing its 11th digit (the last digit of
#    the serial) is never detected.
# 2. Positions 1..10 have non-zero first-pass weights, so a substitution there always changes the
#    first-pass sum; but when exactly one of the two numbers falls through to the second pass,
#    its second-pass digit can coincide with the other's first-pass digit (about 1 in 15 of those
#    cases).
#
# What IS true is tested below. Changing the check digit itself is always detected.


def test_a_change_of_the_eleventh_digit_goes_undetected() -> None:
    assert is_valid_iin("000101500001") and is_valid_iin("000101500011")


def test_a_change_across_the_two_passes_can_go_undetected() -> None:
    original, altered = "240517600009", "240519600009"
    assert is_valid_iin(original) and is_valid_iin(altered)
    assert first_pass(original) != 10 and first_pass(altered) == 10


substitutions = st.tuples(
    birth_dates,
    sexes,
    iin_serials,
    st.integers(min_value=0, max_value=11),
    st.integers(min_value=1, max_value=9),
)


@given(substitutions)
def test_what_a_single_substitution_does(case: tuple[date, str, int, int, int]) -> None:
    born, sex, serial, position, delta = case
    iin = make_iin(born, sex, serial)
    if iin is None:
        return
    new_digit = (int(iin[position]) + delta) % 10
    altered = iin[:position] + str(new_digit) + iin[position + 1 :]
    if position == 11:
        # The check digit itself: always detected, the expected digit is unique.
        assert not is_valid_iin(altered)
    elif position == 10:
        # Weight 11 = 0 mod 11 on the first pass; weight 2 on the second.
        assert first_pass(altered) == first_pass(iin)
        assert is_valid_iin(altered) == (first_pass(iin) != 10)
    else:
        # Non-zero weight: the first-pass sums differ, so both cannot need the second pass...
        assert first_pass(altered) != first_pass(iin)
        # ...and when neither does, the change is detected.
        if first_pass(iin) != 10 and first_pass(altered) != 10:
            assert not is_valid_iin(altered)


# --- BIN ---


def is_valid_bin(number: str) -> bool:
    try:
        validate_bin(number)
    except InvalidIdentityNumber:
        return False
    return True


@given(st.dates(), bin_serials, entity_types, attributes)
def test_every_well_formed_bin_validates(
    registered: date, serial: int, kind: int, attribute: int
) -> None:
    first_eleven = f"{registered.year % 100:02d}{registered.month:02d}{kind}{attribute}{serial:05d}"
    if check_digit(first_eleven) is None:
        return
    bin_ = _with_check_digit(first_eleven)
    validate_bin(bin_)
    assert not is_valid_iin(bin_)


def _with_check_digit(first_eleven: str) -> str:
    digit = check_digit(first_eleven)
    assert digit is not None
    return f"{first_eleven}{digit}"


@pytest.mark.parametrize(
    ("first_eleven", "message"),
    [
        ("21004012345", "month"),
        ("21134012345", "month"),
        ("21033012345", "type digit"),
        ("21037012345", "type digit"),
        ("21034312345", "attribute digit"),
        ("21034512345", "attribute digit"),
    ],
)
def test_validate_bin_says_what_is_wrong(first_eleven: str, message: str) -> None:
    bin_ = _with_check_digit(first_eleven)
    with pytest.raises(InvalidIdentityNumber, match=message) as caught:
        validate_bin(bin_)
    assert bin_ not in caught.value.detail
    assert not is_valid_bin(bin_)


def test_validate_bin_check_digit() -> None:
    assert is_valid_bin("210340123455")
    with pytest.raises(InvalidIdentityNumber, match="check digit does not match"):
        validate_bin("210340123456")
    with pytest.raises(InvalidIdentityNumber, match="12 digits"):
        validate_bin("21034012345")


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_no_number_is_both_an_iin_and_a_bin(number: str) -> None:
    assert not (is_valid_iin(number) and is_valid_bin(number))


# -- in certificates ----------------------------------------------------------------------------


def _certificate(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    moment = datetime(2026, 6, 1, tzinfo=UTC)
    return (
        x509.CertificateBuilder(
            issuer_name=name, subject_name=name, public_key=key.public_key(), serial_number=1,
            not_valid_before=moment, not_valid_after=moment + timedelta(days=1),
        )
        .sign(key, hashes.SHA256())
    )


def test_numbers_are_read_where_the_national_profile_puts_them(pki: PKI) -> None:
    assert signer_iin(pki.mother.certificate) == pki.mother.iin
    assert signer_bin(pki.mother.certificate) is None
    # The organisation's OU=BIN… beside OU=TEST - NOT FOR PRODUCTION.
    assert signer_bin(pki.facility.certificate) == pki.facility.bin
    assert signer_iin(pki.facility.certificate) is None


@pytest.mark.parametrize(
    "value",
    ["IIN94031540001", "IIN9403154000145", "IIN94031540001X", "940315400014", "iin940315400014"],
)
def test_anything_else_in_serialnumber_is_no_iin(value: str) -> None:
    assert signer_iin(_certificate((NameOID.SERIAL_NUMBER, value))) is None


def test_a_checksum_is_not_asked_of_a_certificate() -> None:
    # The national CA's own test certificates carry IIN123456789011, which fails the checksum.
    certificate = _certificate((NameOID.SERIAL_NUMBER, "IIN123456789011"))
    assert not is_valid_iin("123456789011")
    assert signer_iin(certificate) == "123456789011"
