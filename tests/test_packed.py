"""`birthreg.packed.Packer`: a kind's dictionary is checked against plain DEFLATE for every text
in the service, and for one text in `check_every` where asked (`birthreg seed`)."""

from __future__ import annotations

import random

from sqlalchemy import Connection

from birthreg.packed import ID_BYTES, WITH_DICTIONARY, Packer, unpack


def _no_database() -> Connection:
    raise AssertionError("the dictionaries made here are in the cache")


def _texts(seed: int, count: int) -> list[str]:
    """Texts that share nothing with another seed's (random words of their own)."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
             for _ in range(60)]
    return [" ".join(rng.choice(words) for _ in range(400)) for _ in range(count)]


def _dictionary_of(value: bytes) -> bytes:
    assert value[0] == WITH_DICTIONARY
    return value[1:1 + ID_BYTES]


def test_the_service_checks_every_text_and_renews_a_poor_dictionary() -> None:
    packer = Packer(None)
    first, unlike = _texts(1, 1)[0], _texts(2, 1)[0]
    values = [packer.pack("kind", first), packer.pack("kind", unlike)]
    assert _dictionary_of(values[0]) != _dictionary_of(values[1])
    assert len(packer.made) == 2
    assert [unpack(_no_database, v) for v in values] == [first, unlike]


def test_check_every_checks_one_text_in_so_many() -> None:
    packer = Packer(None, check_every=3)
    texts = _texts(3, 1) + _texts(4, 3)
    values = [packer.pack("kind", text) for text in texts]
    dictionaries = [_dictionary_of(value) for value in values]
    # The second and third texts are packed with the first one's dictionary unchecked, poor
    # as it is for them; the fourth is checked and gets a dictionary of its own.
    assert dictionaries[0] == dictionaries[1] == dictionaries[2] != dictionaries[3]
    assert len(packer.made) == 2
    assert [unpack(_no_database, value) for value in values] == texts
    # Kinds are counted apart: another kind's first text is checked (and made a dictionary).
    packer.pack("other", texts[1])
    assert len(packer.made) == 3
