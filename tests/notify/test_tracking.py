"""The tracking number: its alphabet, its check character (every single-character error and every
adjacent transposition caught, checked exhaustively), its randomness, forgiving input, and the
intake's retry when a drawn number is taken."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from typing import Any

import pytest
from registry import factories as f
from sqlmodel import Session, select

from birthreg.models import Submission
from birthreg.notify import tracking
from birthreg.notify.tracking import (
    ALPHABET,
    LENGTH,
    InvalidTrackingNumber,
    check_character,
    format_tracking_number,
    is_valid,
    new_tracking_number,
    parse_tracking_number,
)
from birthreg.registry.intake import receipt_payload
from birthreg.registry.stored import receipt_text
from signing import jws

#: Characters read one for another; at most one of each group may be in the alphabet.
LOOK_ALIKES = ("0O", "1IL", "2Z", "5S", "8B", "6G", "UV")


def test_the_alphabet_has_no_look_alikes_and_a_prime_size() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 23
    assert all(len(ALPHABET) % d for d in range(2, len(ALPHABET)))
    # Neither side of the pairs people confuse most.
    assert not set("0O1IL2Z5S8B") & set(ALPHABET)
    for group in LOOK_ALIKES:
        assert len(set(group) & set(ALPHABET)) <= 1, group
    assert ALPHABET.upper() == ALPHABET


def _bases(count: int) -> list[str]:
    rng = random.Random(20261207)
    data = ["".join(rng.choice(ALPHABET) for _ in range(8)) for _ in range(count)]
    return [d + check_character(d) for d in ["3" * 8, "Y" * 8, *data]]


@pytest.mark.parametrize("base", _bases(6))
def test_every_single_character_error_is_caught(base: str) -> None:
    assert is_valid(base)
    for position, replacement in itertools.product(range(LENGTH), ALPHABET):
        if replacement == base[position]:
            continue
        wrong = base[:position] + replacement + base[position + 1 :]
        assert not is_valid(wrong), (base, position, replacement)


def test_every_adjacent_transposition_is_caught() -> None:
    """Every pair of different characters, swapped at every pair of neighbouring positions, in
    numbers that are otherwise valid."""
    rng = random.Random(7)
    for position in range(LENGTH - 1):
        for first, second in itertools.permutations(ALPHABET, 2):
            # A valid number with `first` then `second` at `position`: fix the check character
            # last (or, when the pair takes its place, a free data character).
            data = [rng.choice(ALPHABET) for _ in range(LENGTH)]
            data[position], data[position + 1] = first, second
            free = LENGTH - 1 if position + 1 < LENGTH - 1 else 0
            for candidate in ALPHABET:
                data[free] = candidate
                if is_valid("".join(data)):
                    break
            number = "".join(data)
            assert is_valid(number)
            swapped = data.copy()
            swapped[position], swapped[position + 1] = second, first
            assert not is_valid("".join(swapped)), (number, position)


def test_numbers_are_random_valid_and_spread_over_the_alphabet() -> None:
    numbers = [new_tracking_number() for _ in range(5000)]
    assert all(is_valid(n) and len(n) == LENGTH for n in numbers)
    assert len(set(numbers)) == len(numbers)
    counts = Counter(c for n in numbers for c in n[:-1])
    assert set(counts) == set(ALPHABET)
    # 40,000 draws, 23 characters: about 1,739 each; a skewed generator falls far outside.
    assert all(1450 < count < 2050 for count in counts.values()), counts
    # And each place on its own (about 217 each of 5,000): no place favours some characters.
    for place in range(LENGTH - 1):
        at_place = Counter(n[place] for n in numbers)
        assert set(at_place) == set(ALPHABET) and all(
            140 < count < 300 for count in at_place.values()), (place, at_place)


def test_input_is_forgiving_and_typos_are_refused() -> None:
    number = new_tracking_number()
    grouped = format_tracking_number(number)
    assert grouped.count("-") == 2 and grouped.replace("-", "") == number
    for typed in (grouped, grouped.lower(), f"  {number[:3]} {number[3:6]} {number[6:]} ",
                  number.lower().replace("", " ").strip(), grouped.replace("-", "–")):
        assert parse_tracking_number(typed) == number
    # A Kazakh or Russian keyboard: Cyrillic letters drawn like the Latin ones, in lower case.
    data = "AC3EHKMP"
    number = data + check_character(data)
    assert parse_tracking_number(number.translate(str.maketrans("ACEHKMP", "асенкмр"))) == number
    typo = number[:-1] + ("3" if number[-1] != "3" else "4")
    for wrong in ("", "ABC", grouped + "X", "0" * 9, typo):
        with pytest.raises(InvalidTrackingNumber) as refused:
            parse_tracking_number(wrong)
        assert refused.value.status == 400 and refused.value.code == "invalid_tracking_number"


def test_a_taken_number_is_drawn_again_on_a_new_signed_receipt(
    app: Any, client: Any, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.post(
        "/api/v1/registry/submissions",
        json=f.good_dossier(app, f.issue_person(app, f.person(10))),
    )
    assert first.status_code == 201, first.text
    taken = db.exec(select(Submission.tracking_number)).one()
    fresh = new_tracking_number()
    draws = iter([taken, taken, fresh])
    monkeypatch.setattr(tracking, "new_tracking_number", lambda: next(draws))

    second = client.post(
        "/api/v1/registry/submissions",
        json=f.good_dossier(app, f.issue_person(app, f.person(20))),
    )
    assert second.status_code == 201, second.text
    stored = db.get(Submission, second.json()["id"])
    assert stored is not None and stored.tracking_number == fresh
    receipt = second.json()["receipt"]
    assert receipt["tracking_number"] == format_tracking_number(fresh)
    assert json.loads(receipt_text(stored)) == receipt
    jws.verify_detached(receipt["signature"], receipt_payload(receipt))
    numbers = db.exec(select(Submission.tracking_number)).all()
    assert sorted(numbers) == sorted([taken, fresh])
