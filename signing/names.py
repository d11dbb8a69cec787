"""Letters allowed in a person's name on a birth registration.

Kazakh Cyrillic (the Russian alphabet plus ә ғ қ ң ө ұ ү һ і) and basic Latin letters, joined by
single hyphens, apostrophes (' or ’) or spaces; the letters only, not how a name was formed. A
word (a run between spaces) must be in one script: Cyrillic а, е, о, р, с, х, і look exactly like
Latin letters, so "Ivаnov" with a Cyrillic а would display as another string's name.
"""

from __future__ import annotations

import unicodedata

from signing.errors import InvalidName

MAX_NAME_LENGTH = 64
"""Longest name accepted, in code points after NFC."""

_RUSSIAN = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_KAZAKH_EXTRA = "ӘәҒғҚқҢңӨөҰұҮүҺһІі"
_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_SCRIPT_OF: dict[str, str] = {c: "Cyrillic" for c in _RUSSIAN + _KAZAKH_EXTRA}
_SCRIPT_OF.update({c: "Latin" for c in _LATIN})

_SEPARATORS = frozenset("-'’ ")

# Every allowed letter decomposes into at most two code points (й, ё), so nothing longer than twice
# the limit can normalise into a valid name: refused before an NFC pass over a hostile megabyte.
_MAX_RAW_LENGTH = 2 * MAX_NAME_LENGTH


def validate_person_name(name: str, *, field: str) -> str:
    """Return the NFC form of `name` (1..64 code points, the rules above; no separator first,
    last or next to another), or raise InvalidName naming `field` (and the position and code
    point of a bad character, never the name: details reach logs).

    Caveats: é, ü, ş, other whitespace and other dashes are refused; "O'Neil" and "O’Neil" stay
    different strings; case is not checked or changed.
    """
    if not isinstance(name, str):
        raise InvalidName(field, "must be a string")
    if len(name) > _MAX_RAW_LENGTH:
        raise InvalidName(field, f"longer than {MAX_NAME_LENGTH} characters")
    normalised = unicodedata.normalize("NFC", name)
    if not normalised:
        raise InvalidName(field, "must not be empty")
    if len(normalised) > MAX_NAME_LENGTH:
        raise InvalidName(field, f"longer than {MAX_NAME_LENGTH} characters")

    for position, char in enumerate(normalised, start=1):
        if char not in _SCRIPT_OF and char not in _SEPARATORS:
            problem = f"character U+{ord(char):04X} at position {position} is not allowed"
            raise InvalidName(field, problem)
    if normalised[0] in _SEPARATORS or normalised[-1] in _SEPARATORS:
        raise InvalidName(field, "must start and end with a letter")
    for position in range(1, len(normalised)):
        if normalised[position] in _SEPARATORS and normalised[position - 1] in _SEPARATORS:
            raise InvalidName(field, f"two separators in a row from position {position}")
    for word in normalised.split(" "):
        scripts = {_SCRIPT_OF[c] for c in word if c in _SCRIPT_OF}
        if len(scripts) > 1:
            raise InvalidName(field, "a word mixes Cyrillic and Latin letters")
    return normalised

