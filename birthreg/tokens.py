"""Signed, timed tokens: one itsdangerous serializer per purpose, keyed from the settings' secret.

Every token the service hands out is made here: the staff bearer token and session cookie, the
login form's CSRF token, the staff pages' CSRF token, and the parents' sign-in challenge, session
and invitation (`Purpose`). A token is itsdangerous's `URLSafeTimedSerializer` output: the
payload (compact JSON, base64url), the time it was signed, and an HMAC-SHA256 tag.

Each purpose is its own salt, from which itsdangerous derives a key of its own (HMAC of the base
key and the salt), so a token made for one purpose fails the signature check of every other: a
staff API token is never a session, a parent's session never a staff one, a CSRF token never a
login. The base key is HMAC-SHA256 of the settings' secret under a fixed label, so the secret
itself keys nothing here (it also keys the enrollment codes' stored digests).

Times. itsdangerous stamps a token with the current time and checks `max_age` against the
current time; both come from its signer's `get_timestamp`, the hook it provides for this, which
here returns the `moment` given (the service passes `now()`, tests a moment of their choosing,
as everywhere else). A token signed after the moment it is checked at is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from birthreg.config import Settings
from birthreg.models import now

#: Longer text is refused before any parsing.
MAX_TOKEN_LENGTH: Final = 2048
_LABEL: Final = b"birthreg itsdangerous tokens v1"


class Purpose(StrEnum):
    """What a token is for; each is its own itsdangerous salt (and so its own key)."""

    STAFF_API = "birthreg staff api token"
    STAFF_SESSION = "birthreg staff session"
    STAFF_CSRF = "birthreg staff page csrf"
    LOGIN_CSRF = "birthreg staff login csrf"
    PARENT_CHALLENGE = "birthreg parents sign-in challenge"
    PARENT_SESSION = "birthreg parents session"
    PARENT_INVITATION = "birthreg parents invitation"


class InvalidToken(Exception):
    """Not a token of this purpose signed with this service's key (or not well-formed)."""


class ExpiredToken(InvalidToken):
    """A genuine token of this purpose, older than its max_age (or signed after the moment)."""


@dataclass(frozen=True)
class Signed:
    payload: Any
    signed_at: datetime


class _MomentSigner(TimestampSigner):
    """itsdangerous's TimestampSigner, with the clock given as `moment`."""

    def __init__(self, *args: Any, moment: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._moment = moment

    def get_timestamp(self) -> int:
        return int((self._moment or now()).timestamp())


def _base_key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def _serializer(
    settings: Settings, purpose: Purpose, moment: datetime | None
) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        _base_key(settings.secret_key_value()),
        salt=purpose.value,
        signer=_MomentSigner,
        signer_kwargs={
            "key_derivation": "hmac",
            "digest_method": hashlib.sha256,
            "moment": moment,
        },
    )


def sign(
    settings: Settings, purpose: Purpose, payload: Any, *, moment: datetime | None = None
) -> str:
    """A token carrying `payload` (JSON-able), signed at `moment` (default now)."""
    return _serializer(settings, purpose, moment).dumps(payload)


def unsign(
    settings: Settings,
    purpose: Purpose,
    token: str | None,
    *,
    max_age: timedelta | None,
    moment: datetime | None = None,
) -> Signed:
    """The payload of a genuine token of this purpose, signed at most `max_age` before `moment`
    (None: no age limit, for tokens bound to a state that ends them). Raises InvalidToken,
    ExpiredToken."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("not a token")
    seconds = None if max_age is None else int(max_age.total_seconds())
    try:
        payload, signed_at = _serializer(settings, purpose, moment).loads(
            token, max_age=seconds, return_timestamp=True
        )
    except SignatureExpired:
        raise ExpiredToken("the token has expired") from None
    except (BadData, ValueError, OverflowError):
        raise InvalidToken("not a token of this purpose") from None
    return Signed(payload, signed_at)
