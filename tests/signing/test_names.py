"""Person-name letter rules (signing.names)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signing.errors import InvalidName, SigningError
from signing.names import MAX_NAME_LENGTH, validate_person_name

RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
KAZAKH_EXTRA = "әғқңөұүһі"
CYRILLIC = RUSSIAN + RUSSIAN.upper() + KAZAKH_EXTRA + KAZAKH_EXTRA.upper()
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATORS = "-'’ "
ALLOWED = frozenset(CYRILLIC + LATIN + SEPARATORS)


def is_valid_person_name(name: str) -> bool:
    try:
        validate_person_name(name, field="name")
    except InvalidName:
        return False
    return True


@pytest.mark.parametrize(
    "name",
    [
        "Әлихан",
        "Нұрсұлтан",
        "Ғалымжан",
        "Қайрат",
        "Өмірзақ",
        "Үміт",
        "Һ",
        "Іңкәр",
        "Айгерім",
        "Ёлкин",
        "Иванов-Петров",
        "Нұрланұлы",
        "Серік-ұлы",
        "Әлия қызы",
        "Д'Артаньян",
        "Д’Артаньян",
        "O'Neil",
        "Mary Jane",
        "Smith Иванов",
        "a",
        "Я",
    ],
)
def test_accepted_names(name: str) -> None:
    assert validate_person_name(name, field="surname") == name
    assert is_valid_person_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        (" ", "start and end"),
        ("-Иван", "start and end"),
        ("Иван-", "start and end"),
        ("'Иван", "start and end"),
        ("Иван ", "start and end"),
        ("Иван  Петров", "in a row"),
        ("Иван--Петров", "in a row"),
        ("Иван- Петров", "in a row"),
        ("Д''Артаньян", "in a row"),
        ("José", "U\\+00E9"),
        ("Müller", "U\\+00FC"),
        ("Иван\tПетров", "U\\+0009"),
        ("Иван\u00a0Петров", "U\\+00A0"),
        ("Иван\u2010Петров", "U\\+2010"),  # Unicode hyphen, not the ASCII one
        ("Иван–Петров", "U\\+2013"),
        ("Іван2", "U\\+0032"),
        ("Ivan\u200bov", "U\\+200B"),  # zero-width space
        ("Иван\u0301", "U\\+0301"),  # a combining accent that composes with nothing here
        ("Ivan\u0301", "U\\+0144"),  # NFC first: n + acute is ń
        ("Ї", "U\\+0407"),  # Ukrainian yi is not Kazakh
        ("Ўзбек", "U\\+040E"),
        ("Ivan.", "U\\+002E"),
        ("Аlex", "mixes"),  # Cyrillic А
        ("Ivаnov", "mixes"),  # Cyrillic а
        ("Pаul-Smith", "mixes"),
        ("Smith-Иванов", "mixes"),
        ("Nurlan-ұлы", "mixes"),
        ("Д'Artagnan", "mixes"),
        ("Аsаn і", "mixes"),
    ],
)
def test_refused_names(name: str, message: str) -> None:
    with pytest.raises(InvalidName, match=message) as caught:
        validate_person_name(name, field="child.given_name")
    error = caught.value
    assert isinstance(error, SigningError)
    assert error.code == "invalid_name"
    assert error.field == "child.given_name"
    assert error.detail.startswith("child.given_name: ")
    if len(name) > 1:
        assert name not in error.detail
    assert not is_valid_person_name(name)


def test_refuses_non_strings() -> None:
    with pytest.raises(InvalidName):
        validate_person_name(None, field="surname")  # type: ignore[arg-type]
    assert not is_valid_person_name(b"Ivan")  # type: ignore[arg-type]


def test_decomposed_letters_are_returned_composed() -> None:
    decomposed = "И\u0306ван Е\u0308лкин"
    assert validate_person_name(decomposed, field="surname") == "Йван Ёлкин"


def test_length_is_counted_after_nfc() -> None:
    assert validate_person_name("а" * MAX_NAME_LENGTH, field="f") == "а" * MAX_NAME_LENGTH
    assert not is_valid_person_name("а" * (MAX_NAME_LENGTH + 1))
    # 128 code points that compose into 64 letters.
    decomposed = "и\u0306" * MAX_NAME_LENGTH
    assert validate_person_name(decomposed, field="f") == "й" * MAX_NAME_LENGTH
    with pytest.raises(InvalidName, match="longer than 64"):
        validate_person_name("и\u0306" * (MAX_NAME_LENGTH + 1), field="f")


def test_huge_input_is_refused_before_normalising() -> None:
    with pytest.raises(InvalidName, match="longer than 64"):
        validate_person_name("и\u0306" * 1_000_000, field="f")


def words(alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=1, max_size=8)


def one_script_word() -> st.SearchStrategy[str]:
    """Letters of one script, joined by single hyphens/apostrophes."""
    return st.sampled_from([CYRILLIC, LATIN]).flatmap(
        lambda alphabet: st.lists(words(alphabet), min_size=1, max_size=3).flatmap(
            lambda parts: st.lists(
                st.sampled_from("-'’"), min_size=len(parts) - 1, max_size=len(parts) - 1
            ).map(
                lambda seps: parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=True))
            )
        )
    )


well_formed_names = (
    st.lists(one_script_word(), min_size=1, max_size=3)
    .map(" ".join)
    .filter(lambda name: len(name) <= MAX_NAME_LENGTH)
)


@given(well_formed_names)
def test_well_formed_names_are_accepted(name: str) -> None:
    assert validate_person_name(name, field="f") == name


@given(st.text(max_size=80))
def test_result_is_nfc_and_only_allowed_characters(name: str) -> None:
    try:
        result = validate_person_name(name, field="f")
    except InvalidName:
        return
    assert unicodedata.is_normalized("NFC", result)
    assert set(result) <= ALLOWED
    assert 1 <= len(result) <= MAX_NAME_LENGTH
    assert result[0] not in SEPARATORS and result[-1] not in SEPARATORS
    assert validate_person_name(result, field="f") == result


@given(well_formed_names, st.integers(min_value=0), st.characters())
def test_any_foreign_character_is_refused(name: str, index: int, char: str) -> None:
    normalised = unicodedata.normalize("NFC", char)
    if len(normalised) != 1 or normalised in ALLOWED or unicodedata.combining(char):
        return
    position = index % (len(name) + 1)
    assert not is_valid_person_name(name[:position] + char + name[position:])
