"""Every kind of message in every language: translated, with the tracking number, no IIN and no
name (not even one a clerk quoted in a reason), and links only to the parent's own page and to the
certificate page."""

from __future__ import annotations

import re

import pytest

from birthreg.i18n import LANGUAGES
from birthreg.models import EventKind
from birthreg.notify.messages import TEXTS, hide, language_of, render

MOTHER = {"iin": "940315400014", "surname": "Әбілқасымова", "given_name": "Гүлнұр",
          "patronymic": "Серікқызы"}
CHILD = {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"}
FATHER = {"iin": "910802300013", "surname": "Әбілқасымов", "given_name": "Ерлан",
          "patronymic": "Болатұлы"}
NAMES = [value for person in (MOTHER, CHILD, FATHER) for key, value in person.items()
         if key != "iin"]
CERTIFICATE_ID = "qETSnDU3naH15kwTImAqSYgn3woyGsCr"
STATUS_URL = "https://birthreg.test/parents"
CERTIFICATE_URL = f"https://birthreg.test/registry/certificates/{CERTIFICATE_ID}/print"
# A reason as a careless clerk might write it: the mother's IIN, spaced, and the child's name in
# other cases ("Айаруға" is the dative), the father's in capitals.
REASON = (
    "ИИН матери 940315 400014 не совпадает; имя Айаруға написано иначе; ЕРЛАН 910802300013 "
    "не указан как отец"
)
PARAMS = {"act_record_number": 412, "year": 2026, "certificate_id": CERTIFICATE_ID,
          "reason": REASON}
TWELVE_DIGITS = re.compile(r"\d(?:[\s-]?\d){11}")
URL = re.compile(r"https?://\S+")


def _message(kind: EventKind, language: str) -> tuple[str, str, str]:
    message = render(
        kind,
        language,
        tracking_number="K7M-4QX-9RT",
        params=PARAMS,
        status_url=STATUS_URL,
        certificate_url=CERTIFICATE_URL,
        hidden_names=NAMES,
    )
    assert message.language == language
    return message.subject, message.text, message.sms


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(EventKind))
def test_no_identity_number_no_name_only_safe_links(kind: EventKind, language: str) -> None:
    for text in _message(kind, language):
        assert not TWELVE_DIGITS.search(text), text
        for name in NAMES:
            assert name.casefold() not in text.casefold(), (name, text)
        assert "K7M-4QX-9RT" in text
        for url in URL.findall(text):
            assert url.rstrip(".,)") in (STATUS_URL, CERTIFICATE_URL), url
    assert len(_message(kind, language)[2]) <= 300  # an SMS of a few parts at most


@pytest.mark.parametrize("kind", list(EventKind))
def test_each_language_has_its_own_text(kind: EventKind) -> None:
    texts = {language: _message(kind, language) for language in LANGUAGES}
    assert texts["kk"] != texts["en"] and texts["ru"] != texts["en"]
    assert texts["kk"] != texts["ru"]
    # Russian and Kazakh are written in Cyrillic (beyond the links and the TEST mark).
    for language in ("kk", "ru"):
        assert re.search("[а-яё]{4}", texts[language][0] + texts[language][1], re.IGNORECASE)


def test_what_each_kind_says() -> None:
    registered = _message(EventKind.REGISTERED, "en")
    assert "412" in registered[1] and "2026" in registered[1] and CERTIFICATE_URL in registered[1]
    assert CERTIFICATE_URL in registered[2]
    rejected = _message(EventKind.REJECTED, "ru")[1]
    assert "не совпадает" in rejected and "…" in rejected  # the reason, with the names taken out
    assert STATUS_URL in _message(EventKind.RECEIVED, "kk")[2]
    assert set(TEXTS) == set(EventKind)


def test_hide_takes_out_numbers_and_names_in_any_case() -> None:
    assert hide("940315400014 and 9403-1540-0014, 123", []) == "… and …, 123"
    assert hide("АЙАРУ, айаруға", ["Айару"]) == "…, …ға"
    assert hide("nothing here", ["", " ", "A"]) == "nothing here"


def test_an_unsupported_language_falls_back_to_kazakh() -> None:
    assert language_of({"language": "de"}) == "kk"
    assert language_of({"language": "ru"}) == "ru"
    message = render(
        EventKind.RECEIVED, "de", tracking_number="K7M-4QX-9RT", params={},
        status_url=STATUS_URL, certificate_url=None,
    )
    assert message.language == "kk"
