"""`birthreg.packed`: a kind's dictionary is checked against none for every text in the service,
and for one text in `check_every` where asked (`birthreg seed`); values are Zstandard frames, and
the DEFLATE values written before still read."""

from __future__ import annotations

import random
import zlib

import pytest
import zstandard
from sqlalchemy import Connection

from birthreg.packed import (
    _CACHE,
    DEFLATED,
    ID_BYTES,
    LEVEL,
    WITH_DICTIONARY,
    ZSTANDARD,
    ZSTANDARD_WITH_DICTIONARY,
    PackedError,
    Packer,
    dictionary_id,
    unpack,
)


def _no_database() -> Connection:
    raise AssertionError("the dictionaries made here are in the cache")


def _texts(seed: int, count: int) -> list[str]:
    """Texts that share nothing with another seed's (random words of their own)."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
             for _ in range(60)]
    return [" ".join(rng.choice(words) for _ in range(400)) for _ in range(count)]


def _dictionary_of(value: bytes) -> bytes:
    assert value[0] == ZSTANDARD_WITH_DICTIONARY
    return value[1:1 + ID_BYTES]


def _zstd(text: str, level: int, dictionary: bytes | None) -> bytes:
    """A new compressor's frame of text (the dictionary as raw content)."""
    dict_data = None if dictionary is None else zstandard.ZstdCompressionDict(
        dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    compressor = zstandard.ZstdCompressor(level=level, dict_data=dict_data, write_checksum=False,
                                          write_content_size=True, write_dict_id=False)
    return compressor.compress(text.encode())


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


def test_each_text_is_packed_as_a_new_compressor_packs_it_alone() -> None:
    """Texts packed in turn with one dictionary (by a compressor a Packer keeps) come out as a
    new compressor given only that dictionary makes each, in whatever order: nothing of one
    text reaches the next. The level is the service's unless given, and it is what is used."""
    rng = random.Random(5)
    texts = [" ".join(f"{word}{rng.randrange(10**4)}" for word in text.split()[:300])
             for text in _texts(5, 4)]  # here levels 3 and 19 write different bytes
    assert Packer(None).level == LEVEL == 3
    for level in (LEVEL, 19):
        packer = Packer(None, check_every=100, level=level)
        values = [packer.pack("kind", text) for text in texts]
        again = [packer.pack("kind", text) for text in reversed(texts)][::-1]
        assert values[1:] == again[1:]
        assert [unpack(_no_database, value) for value in values] == texts
        for text, value in zip(texts[1:], values[1:], strict=True):
            dictionary = _CACHE[_dictionary_of(value)]
            assert value[1 + ID_BYTES:] == _zstd(text, level, dictionary)
            assert value[1 + ID_BYTES:] != _zstd(text, 22 - level, dictionary)


def test_a_text_no_dictionary_helps_is_one_frame_and_a_tiny_one_is_kept_as_it_is() -> None:
    packer = Packer(None)
    for seed in range(100, 164):  # a kind's dictionaries are at most MAX_PER_KIND (64)
        packer.pack("kind", _texts(seed, 1)[0])
    assert len(packer.made) == 64
    text = _texts(164, 1)[0]
    value = packer.pack("kind", text)
    assert value[0] == ZSTANDARD and value[1:] == _zstd(text, LEVEL, None)
    assert unpack(_no_database, value) == text
    assert packer.pack("kind", "short") == b"\x00short"


def test_a_dictionary_is_raw_content_whatever_its_first_bytes() -> None:
    """A stored dictionary beginning as a trained Zstandard dictionary does (its magic number:
    no UTF-8 text does) is still read as raw content."""
    text = _texts(8, 1)[0]
    dictionary = bytes.fromhex("37a430ec") + text[:3000].encode()
    ident = dictionary_id(dictionary)
    _CACHE[ident] = dictionary
    value = bytes([ZSTANDARD_WITH_DICTIONARY]) + ident + _zstd(text, LEVEL, dictionary)
    assert unpack(_no_database, value) == text


def test_values_written_before_as_deflate_still_read() -> None:
    text = _texts(9, 1)[0]
    dictionary = text[:2000].encode()
    ident = dictionary_id(dictionary)
    _CACHE[ident] = dictionary
    plain = zlib.compressobj(9, zlib.DEFLATED, -15)
    with_dictionary = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=dictionary)
    values = [bytes([DEFLATED]) + plain.compress(text.encode()) + plain.flush(),
              bytes([WITH_DICTIONARY]) + ident + with_dictionary.compress(text.encode())
              + with_dictionary.flush()]
    assert [unpack(_no_database, value) for value in values] == [text, text]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "unknown form", "empty"])
def test_a_damaged_value_is_a_packed_error(damage: str) -> None:
    packer = Packer(None)
    texts = _texts(10, 2)
    value = [packer.pack("kind", text) for text in texts][1]
    damaged = {
        "truncated": value[:-5],
        "flipped": value[:1 + ID_BYTES] + bytes([value[1 + ID_BYTES] ^ 0xFF])
        + value[2 + ID_BYTES:],
        "unknown form": b"\x09" + value[1:],
        "empty": b"",
    }[damage]
    with pytest.raises(PackedError):
        unpack(_no_database, damaged)
