"""`birthreg.packed.Packer`: a kind's dictionary is checked against plain DEFLATE for every text
in the service, and for one text in `check_every` where asked (`birthreg seed`)."""

from __future__ import annotations

import random
import zlib

from sqlalchemy import Connection
from zlib_ng import zlib_ng

from birthreg.packed import _CACHE, ID_BYTES, LEVEL, WITH_DICTIONARY, Packer, unpack


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


def test_the_service_packs_at_level_9_and_a_lower_level_unpacks_the_same() -> None:
    rng = random.Random(5)
    texts = [" ".join(f"{word}{rng.randrange(10**4)}" for word in text.split()[:300])
             for text in _texts(5, 4)]  # here levels 3 and 9 write different bytes
    service, fast = Packer(None, check_every=100), Packer(None, check_every=100, level=3)
    assert service.level == LEVEL == 9
    for packer, level in [(service, 9), (fast, 3)]:
        values = [packer.pack("kind", text) for text in texts]
        assert [unpack(_no_database, value) for value in values] == texts
        for text, value in zip(texts[1:], values[1:], strict=True):
            deflate = zlib.compressobj(level, zlib.DEFLATED, -15,
                                       zdict=_CACHE[_dictionary_of(value)])
            assert value[1 + ID_BYTES:] == deflate.compress(text.encode()) + deflate.flush()
        deflate = zlib.compressobj(12 - level, zlib.DEFLATED, -15,
                                   zdict=_CACHE[_dictionary_of(values[-1])])
        assert values[-1][1 + ID_BYTES:] != (
            deflate.compress(texts[-1].encode()) + deflate.flush()
        )


def test_values_packed_by_zlib_ng_unpack_with_the_standard_zlib() -> None:
    """`birthreg seed` packs with zlib-ng (faster); the service reads with Python's zlib."""
    texts = [*_texts(6, 3), "Қазақстан Республикасы " * 40]
    packer = Packer(None, check_every=100, level=3, compressobj=zlib_ng.compressobj)
    values = [packer.pack("kind", text) for text in texts]
    assert {value[0] for value in values[:3]} == {WITH_DICTIONARY}
    assert [unpack(_no_database, value) for value in values] == texts
    # zlib-ng wrote them: the standard zlib writes other bytes at that level.
    standard = Packer(None, check_every=100, level=3)
    assert [standard.pack("kind", text) for text in texts] != values
