"""The tracking number of a submission: short, read over the phone, and revealing nothing alone.

`K7M-4QX-9RT`: eight random characters and a check character, shown in three groups of three.

- The alphabet has 23 characters and none of the look-alike pairs (0/O, 1/I/L, 2/Z, 5/S, 8/B,
  6/G, U/V): digits 3 4 6 7 9 and the letters A C D E F H J K M N P Q R T U W X Y. Letters that
  sound alike on a bad line (M/N, D/T) are not all avoided, which would leave too few; the check
  character catches one misheard character instead.
- The check character makes the weighted sum of the nine values, weights 1 to 9, divisible by
  23 (the ISBN-10 construction over a prime-sized alphabet). Every weight is non-zero modulo 23,
  so any single wrong character changes the sum; neighbours have weights that differ by 1, so
  swapping two different neighbours changes it too (so does any other swap, as no two weights
  are equal). tests/notify/test_tracking.py checks both exhaustively.
- The eight characters come from `secrets`: nothing about the IIN, the date or the order of
  arrival is in them. 23**8 is about 7.8e10 numbers; a unique index keeps them apart, and the
  intake draws again on the rare collision (`insert_unless_taken`).

Stored compact (nine characters, upper case); shown grouped (`format_tracking_number`). People's
input is forgiving (`parse_tracking_number`): lower case, spaces, dashes, and Cyrillic letters
that look like the Latin ones (a Kazakh or Russian keyboard), are all read.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from birthreg.errors import DomainError

ALPHABET: Final = "34679ACDEFHJKMNPQRTUWXY"
MODULUS: Final = len(ALPHABET)  # 23, a prime
DATA_LENGTH: Final = 8
LENGTH: Final = DATA_LENGTH + 1
GROUP: Final = 3
_VALUE: Final = {character: value for value, character in enumerate(ALPHABET)}
# The inverse of the check character's weight (9) modulo 23: 9 * 18 = 162 = 7 * 23 + 1.
_INVERSE_OF_LAST_WEIGHT: Final = pow(LENGTH, -1, MODULUS)

#: What people may type for a character of the alphabet: Cyrillic letters drawn like Latin ones.
_LOOK_ALIKES: Final = str.maketrans("АСЕНКМРТХУҮ", "ACEHKMPTXYY")
#: Separators people put between the groups.
_SEPARATORS: Final = str.maketrans("", "", " \t-‐‑‒–—_.")


class InvalidTrackingNumber(DomainError):
    """The text is not a tracking number (400 invalid_tracking_number)."""

    def __init__(self, detail: str) -> None:
        super().__init__("invalid_tracking_number", detail, 400)


def _weighted_sum(values: list[int]) -> int:
    return sum(weight * value for weight, value in enumerate(values, start=1)) % MODULUS


def check_character(data: str) -> str:
    """The check character for eight characters of the alphabet."""
    if len(data) != DATA_LENGTH or any(character not in _VALUE for character in data):
        raise ValueError("eight characters of the tracking alphabet are needed")
    total = _weighted_sum([_VALUE[character] for character in data])
    return ALPHABET[(-total * _INVERSE_OF_LAST_WEIGHT) % MODULUS]


def is_valid(compact: str) -> bool:
    """True for nine characters of the alphabet whose check character is right."""
    if len(compact) != LENGTH or any(character not in _VALUE for character in compact):
        return False
    return _weighted_sum([_VALUE[character] for character in compact]) == 0


def new_tracking_number() -> str:
    """A fresh random tracking number, compact (nine characters): one uniform draw below
    23**8 from `secrets`, written in the alphabet's eight digits (one read of the system's
    random source instead of one a character)."""
    number = secrets.randbelow(MODULUS**DATA_LENGTH)
    digits = []
    for _ in range(DATA_LENGTH):
        number, digit = divmod(number, MODULUS)
        digits.append(ALPHABET[digit])
    data = "".join(digits)
    return data + check_character(data)


def format_tracking_number(compact: str) -> str:
    """`K7M4QX9RT` → `K7M-4QX-9RT` (anything else is returned as it is)."""
    if len(compact) != LENGTH:
        return compact
    return "-".join(compact[start : start + GROUP] for start in range(0, LENGTH, GROUP))


def normalise(text: str) -> str:
    """Upper case, separators dropped, Cyrillic look-alikes read as Latin (not checked)."""
    return text.strip().upper().translate(_SEPARATORS).translate(_LOOK_ALIKES)


def parse_tracking_number(text: str) -> str:
    """The compact tracking number that a person typed or read out. Raises
    InvalidTrackingNumber when it has the wrong length, a character outside the alphabet, or a
    wrong check character (a typo)."""
    compact = normalise(text)
    if len(compact) != LENGTH:
        raise InvalidTrackingNumber(f"a tracking number has {LENGTH} characters")
    if any(character not in _VALUE for character in compact):
        raise InvalidTrackingNumber("a tracking number has a character it never contains")
    if not is_valid(compact):
        raise InvalidTrackingNumber("the tracking number has a typo: its check character fails")
    return compact


# -- storing a row with a fresh number ----------------------------------------------------------

def insert_unless_taken(connection: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert `values` (with its `tracking_number`) into `table`; False, inserting nothing, when
    another row has that tracking number already (draw another and call again).

    The conflict is resolved by the insert itself (ON CONFLICT on the unique index, no look-up
    first): on PostgreSQL a failed INSERT would abort the caller's whole transaction. Any other
    unique key that is violated still raises.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=["tracking_number"])
        .returning(table.c.tracking_number)
    )
    return connection.execute(statement, values).first() is not None
