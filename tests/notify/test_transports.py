"""What the transports take from a dossier and from the settings: only plain addresses and phone
numbers (nothing that could add a header or a recipient), and the documented URL forms."""

from __future__ import annotations

import pytest

from birthreg.notify.transports import SMSTransport, SMTPSettings, email_address, phone_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mother@example.kz", "mother@example.kz"),
        ("  Mother.Name+kz@mail.example.kz ", "Mother.Name+kz@mail.example.kz"),
        ("mother@example.kz\r\nBcc: someone@example.org", None),
        ("mother@example.kz, someone@example.org", None),
        ("Mother <mother@example.kz>", None),
        ("bad@@example.kz", None),
        ("@example.kz", None),
        ("mother@localhost", None),
        ("мама@example.kz", None),
        ("mother at example.kz", None),
        ("", None),
    ],
)
def test_email_addresses(text: str, expected: str | None) -> None:
    assert email_address(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+7 701 234 5678", "+77012345678"),
        ("8 (701) 234-56-78", "87012345678"),
        ("+7 701 234 5678; +7 702 000 0000", None),
        ("+7+701", None),
        ("12345", None),
        ("call me", None),
    ],
)
def test_phone_numbers(text: str, expected: str | None) -> None:
    assert phone_number(text) == expected


def test_the_smtp_url_forms() -> None:
    plain = SMTPSettings.from_url("smtp://mail.example.kz")
    assert (plain.host, plain.port, plain.starttls, plain.implicit_tls) == (
        "mail.example.kz", 25, False, False,
    )
    full = SMTPSettings.from_url(
        "smtp://user%40kz:p%3Ass@mail.example.kz:587?starttls=1&cafile=/etc/ca.pem&timeout=5"
    )
    assert (full.port, full.starttls, full.username, full.password, full.cafile, full.timeout) == (
        587, True, "user@kz", "p:ss", "/etc/ca.pem", 5.0,
    )
    implicit = SMTPSettings.from_url("smtps://mail.example.kz")
    assert (implicit.port, implicit.implicit_tls) == (465, True)
    for wrong in ("http://mail.example.kz", "smtp://", "smtp://mail.example.kz?tls=1"):
        with pytest.raises(ValueError, match="BIRTHREG_SMTP_URL"):
            SMTPSettings.from_url(wrong)


def test_the_sms_url_must_be_http() -> None:
    for wrong in ("ftp://sms.example.kz", "sms.example.kz"):
        with pytest.raises(ValueError, match="BIRTHREG_SMS_URL"):
            SMSTransport(wrong)
