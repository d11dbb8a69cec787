"""The glossary (birthreg/locales/GLOSSARY.md) held in the catalogs: a birth merely recorded by
the ward is never called registered, and registered and rejected use their one word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "birthreg" / "locales"

#: (English pattern, stem that must be in the translation, stem that must not be), per language.
RULES = {
    "kk": [
        (r"\brecorded\b(?!.*regist)", None, "тіркел"),
        (r"\bregistered\b", "тірке", None),
        (r"\brejected\b", "қабылда", None),
    ],
    "ru": [
        (r"\brecorded\b(?!.*regist)", None, "регистр"),
        (r"\bregistered\b", "регистр", None),
        (r"\brejected\b", "отклон", None),
    ],
}


@pytest.mark.parametrize("language", sorted(RULES))
def test_the_domain_words_follow_the_glossary(language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "birthreg.po").open("rb") as file:
        catalog = read_po(file)
    problems = []
    for message in catalog:
        if not isinstance(message.id, str) or not message.id:
            continue
        translation = str(message.string or "").lower()
        for pattern, required, forbidden in RULES[language]:
            if not re.search(pattern, message.id, re.IGNORECASE):
                continue
            if required and required not in translation:
                problems.append(f"{message.id!r}: {translation!r} lacks {required!r}")
            if forbidden and forbidden in translation:
                problems.append(f"{message.id!r}: {translation!r} says {forbidden!r}")
    assert not problems, "\n".join(problems)


def test_the_rule_catches_the_reported_mistake() -> None:
    pattern, _, forbidden = RULES["kk"][0]
    assert re.search(pattern, "The birth is recorded and sealed by the facility.")
    assert forbidden in "туу тіркелді және мекеменің мөрімен бекітілді."
