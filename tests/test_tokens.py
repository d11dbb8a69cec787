"""birthreg.tokens: itsdangerous tokens, one key per purpose, checked at a given moment."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from birthreg import tokens
from birthreg.config import Settings
from birthreg.tokens import Purpose

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key=SecretStr("q8W1nS0vLk3ZrT7yPb2XcM9d"),
        _env_file=None,  # type: ignore[call-arg]
    )


def test_a_token_reads_back_with_its_signing_time(settings: Settings) -> None:
    token = tokens.sign(settings, Purpose.STAFF_API, {"sub": "1"}, moment=MOMENT)
    signed = tokens.unsign(
        settings, Purpose.STAFF_API, token, max_age=timedelta(minutes=15), moment=MOMENT
    )
    assert signed.payload == {"sub": "1"}
    assert signed.signed_at == MOMENT
    # itsdangerous's compact form: payload . timestamp . HMAC-SHA256 tag (base64url, 43 chars).
    payload, _timestamp, tag = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {"sub": "1"}
    assert len(tag) == 43


def test_no_token_passes_as_another_purpose(settings: Settings) -> None:
    for made_for in Purpose:
        token = tokens.sign(settings, made_for, "the same payload", moment=MOMENT)
        for read_as in Purpose:
            if read_as is made_for:
                continue
            with pytest.raises(tokens.InvalidToken):
                tokens.unsign(settings, read_as, token, max_age=None, moment=MOMENT)


def test_max_age_is_checked_at_the_moment(settings: Settings) -> None:
    token = tokens.sign(settings, Purpose.PARENT_SESSION, "x", moment=MOMENT)
    age = timedelta(minutes=30)
    tokens.unsign(settings, Purpose.PARENT_SESSION, token, max_age=age, moment=MOMENT + age)
    with pytest.raises(tokens.ExpiredToken):
        tokens.unsign(
            settings, Purpose.PARENT_SESSION, token, max_age=age,
            moment=MOMENT + age + timedelta(seconds=1),
        )
    # Signed after the moment it is read at: refused too.
    with pytest.raises(tokens.ExpiredToken):
        tokens.unsign(
            settings, Purpose.PARENT_SESSION, token, max_age=age,
            moment=MOMENT - timedelta(seconds=1),
        )
    # No max_age: a token bound to a state that ends it.
    later = MOMENT + timedelta(days=400)
    assert tokens.unsign(
        settings, Purpose.PARENT_SESSION, token, max_age=None, moment=later
    ).payload == "x"


def test_another_secret_makes_another_key(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another secret 0123456789AB")})
    token = tokens.sign(other, Purpose.STAFF_API, "x", moment=MOMENT)
    with pytest.raises(tokens.InvalidToken):
        tokens.unsign(settings, Purpose.STAFF_API, token, max_age=None, moment=MOMENT)


@pytest.mark.parametrize(
    "garbage",
    ["", "a", "a.b", "a.b.c", "é.é.é", "A" * 3000, "e30.AAAA.AAAA", "..", "\x00.\x00.\x00"],
)
def test_garbage_is_refused(settings: Settings, garbage: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.unsign(settings, Purpose.STAFF_API, garbage, max_age=None, moment=MOMENT)


def test_a_changed_payload_fails_the_tag(settings: Settings) -> None:
    token = tokens.sign(settings, Purpose.STAFF_API, {"role": "ward"}, moment=MOMENT)
    _payload, timestamp, tag = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"role":"admin"}').rstrip(b"=").decode()
    with pytest.raises(tokens.InvalidToken):
        tokens.unsign(
            settings, Purpose.STAFF_API, f"{forged}.{timestamp}.{tag}", max_age=None,
            moment=MOMENT,
        )
