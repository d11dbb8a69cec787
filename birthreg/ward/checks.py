"""The ward's checks on what staff type: the registry's business rules (the same constants as
`signing.medical_record`), every problem collected, so that a form can show them all at once.

A refusal is one WardError: its code, detail and field are the first problem's (what the API
always answered), and its body's `errors` lists every problem, each with its own code, detail and
field, in the order of the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal, TypeVar

from birthreg.ward.context import WardError
from birthreg.ward.schemas import BirthIn, PersonIn
from signing.errors import InvalidIdentityNumber, InvalidName
from signing.identity import iin_sex, validate_iin
from signing.medical_record import (
    LENGTH_RANGE_CM,
    MAX_PLURALITY,
    MAX_RECORDING_DELAY,
    WEIGHT_RANGE_G,
)
from signing.names import validate_person_name
from signing.signature import CLOCK_SKEW

MAX_ATTENDANT_LENGTH = 200

T = TypeVar("T")


class Problems:
    """Problems found so far; `raise_any` refuses with all of them."""

    def __init__(self) -> None:
        self.errors: list[WardError] = []

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except WardError as error:
            self.errors.extend(error.problems())

    def value(self, check: Callable[[], T], fallback: T) -> T:
        """The checked value, or `fallback` when the check found a problem (now collected)."""
        with self.collect():
            return check()
        return fallback

    def raise_any(self) -> None:
        if not self.errors:
            return
        first = self.errors[0]
        raise WardError(
            first.code,
            first.detail,
            first.status,
            field=first.field,
            extra={"errors": [error.body() for error in self.errors]},
        )


def check_iin(iin: str, where: str, sex: Literal["F", "M"]) -> str:
    try:
        validate_iin(iin)
    except InvalidIdentityNumber as error:
        raise WardError("invalid_iin", f"{where}: {error.detail}", field=where) from None
    if iin_sex(iin) != sex:
        who = "a mother's" if sex == "F" else "a father's"
        digit = "female (even)" if sex == "F" else "male (odd)"
        raise WardError(
            "iin_sex_mismatch",
            f"{where}: {who} IIN has a {digit} century-and-sex digit",
            field=where,
        )
    return iin


def check_name(value: str | None, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    try:
        return validate_person_name(value or "", field=where)
    except InvalidName as error:
        raise WardError("invalid_name", error.detail, field=where) from None


def person(person: PersonIn, where: str, sex: Literal["F", "M"]) -> dict[str, str]:
    """The person's checked IIN and names; raises with every problem in them."""
    problems = Problems()
    iin = problems.value(lambda: check_iin(person.iin, f"{where}.iin", sex), "")
    surname = problems.value(lambda: check_name(person.surname, f"{where}.surname"), None)
    given_name = problems.value(lambda: check_name(person.given_name, f"{where}.given_name"), None)
    result = {"iin": iin, "surname": surname or "", "given_name": given_name or ""}
    patronymic = problems.value(
        lambda: check_name(person.patronymic, f"{where}.patronymic", optional=True), None
    )
    problems.raise_any()
    if patronymic is not None:
        result["patronymic"] = patronymic
    return result


def _check_range(value: int, bounds: tuple[int, int], code: str, where: str, unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise WardError(code, f"{where} must be between {low} and {high} {unit}", field=where)


def _check_born_at(born_at: datetime, moment: datetime) -> None:
    if born_at > moment + CLOCK_SKEW:
        raise WardError(
            "birth_in_future", "the time of birth is in the future", field="child.born_at"
        )
    if moment - born_at > MAX_RECORDING_DELAY:
        raise WardError(
            "birth_too_old",
            f"a birth is recorded within {MAX_RECORDING_DELAY.days} days",
            field="child.born_at",
        )


def _check_plurality(plurality: int) -> None:
    if not 1 <= plurality <= MAX_PLURALITY:
        raise WardError(
            "invalid_birth_order",
            f"plurality must be between 1 and {MAX_PLURALITY}",
            field="child.plurality",
        )


def _check_birth_order(plurality: int, birth_order: int) -> None:
    if not 1 <= birth_order <= max(1, min(plurality, MAX_PLURALITY)):
        raise WardError(
            "invalid_birth_order",
            "birth order must be between 1 and the plurality",
            field="child.birth_order",
        )


def _check_attendant(attendant: str) -> str:
    attendant = attendant.strip()
    if not attendant or len(attendant) > MAX_ATTENDANT_LENGTH or not attendant.isprintable():
        raise WardError(
            "invalid_attendant",
            f"the attendant is 1 to {MAX_ATTENDANT_LENGTH} printable characters",
            field="attendant",
        )
    return attendant


def birth_record(record: BirthIn, moment: datetime) -> tuple[dict[str, str], str]:
    """The mother's checked identity and the attendant, after every rule on the record; raises
    one WardError listing every problem, in the order of the form."""
    problems = Problems()
    empty: dict[str, str] = {}
    mother = problems.value(lambda: person(record.mother, "mother", "F"), empty)
    child = record.child
    with problems.collect():
        _check_born_at(child.born_at, moment)
    with problems.collect():
        _check_range(child.weight_g, WEIGHT_RANGE_G, "weight_out_of_range", "child.weight_g", "g")
    with problems.collect():
        _check_range(
            child.length_cm, LENGTH_RANGE_CM, "length_out_of_range", "child.length_cm", "cm"
        )
    with problems.collect():
        _check_plurality(child.plurality)
    with problems.collect():
        _check_birth_order(child.plurality, child.birth_order)
    attendant = problems.value(lambda: _check_attendant(record.attendant), "")
    problems.raise_any()
    return mother, attendant
