"""signing.fields: the one rule for free text on a document (no control, format or bidi
characters), and the field collector's time bounds."""

from __future__ import annotations

import pytest

from signing.fields import Fields, free_text_problem

_NOT_TEXT = [
    "\x00", "\x07", "\t", "\n", "\x7f", "\x85", "\u200b", "\u200d", "\u00ad", "\ufeff",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
    "\u2069", "\u2028", "\u2029", "\ue000",
]


@pytest.mark.parametrize("char", _NOT_TEXT)
def test_free_text_refuses_controls_and_format_characters(char: str) -> None:
    problem = free_text_problem(f"Өскемен{char}көшесі")
    assert problem is not None
    assert f"U+{ord(char):04X} at position 8" in problem
    assert "Өскемен" not in problem


@pytest.mark.parametrize("text", ["Қазақстан көшесі 12/5", "O'Neil-Smith", "№ 7, кв. «5»", "ä€😀"])
def test_free_text_allows_printable_text(text: str) -> None:
    assert free_text_problem(text) is None


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1899-12-31T00:00:00Z"]
)
def test_times_far_from_any_birth_are_refused(value: str) -> None:
    fields = Fields()
    assert fields.time({"at": value}, "at", "child") is None
    assert fields.problems == {"document_fields": ["child.at must be a time from 1900 to 2999"]}


def test_every_string_is_free_text_member_names_too() -> None:
    fields = Fields()
    fields.free_text({"a\u202e": ["ok", {"b": "x\x00"}]}, "doc")
    assert sorted(fields.problems["document_fields"]) == [
        "doc (a member name): character U+202E at position 2 is not printable text",
        "doc.?[1].b: character U+0000 at position 2 is not printable text",
    ]
