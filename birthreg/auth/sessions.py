"""Staff tokens: the API bearer token, the page session cookie and the CSRF tokens of forms.

All are itsdangerous tokens (`birthreg.tokens`), each kind with its own purpose and so its own
key: an API token is never accepted as a session cookie, nor a session as an API token, nor
either as a CSRF token. API tokens live 15 minutes, sessions 8 hours (a ward shift), both
checked as `max_age` when read. A token names the account, its role and a fingerprint of its
password hash; every request reads the account again (`staff_for_token`), so a disabled account,
a changed role or a reset password refuses the token at once. Sessions are otherwise stateless:
logging out clears the cookie in this browser.

CSRF. A session carries a random `sid`; the forms' CSRF token is a token of its own purpose
over that `sid`, signed when the session was (`page_csrf_token`), which every state-changing
request on the session cookie must send back. Before a session exists the login form uses a
signed double-submit token: the `birthreg_csrf` cookie holds a random nonce, and the form's
token is a token over that nonce, valid for LOGIN_CSRF_LIFETIME.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlmodel import Session

from birthreg import tokens
from birthreg.auth.accounts import credential_fingerprint
from birthreg.config import Settings
from birthreg.models import StaffUser
from birthreg.tokens import Purpose

TokenKind = Literal["api", "session"]

API_TOKEN_LIFETIME: Final = timedelta(minutes=15)
SESSION_LIFETIME: Final = timedelta(hours=8)
LOGIN_CSRF_LIFETIME: Final = timedelta(hours=2)
TOKEN_LIFETIMES: Final[dict[str, timedelta]] = {
    "api": API_TOKEN_LIFETIME,
    "session": SESSION_LIFETIME,
}
_PURPOSES: Final[dict[str, Purpose]] = {"api": Purpose.STAFF_API, "session": Purpose.STAFF_SESSION}
_NONCE: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class TokenClaims:
    sub: str  # the staff user's id
    role: str
    kind: str
    iat: int
    exp: int
    credential: str
    sid: str | None = None  # sessions only
    csrf: str | None = None  # sessions only: the forms' CSRF token

    @property
    def user_id(self) -> int:
        return int(self.sub)


def issue_token(
    settings: Settings, user: StaffUser, *, kind: TokenKind, issued_at: datetime | None = None
) -> str:
    """A signed token for user: an API bearer token or a page session."""
    if kind not in _PURPOSES:
        raise ValueError(f"unknown token kind: {kind!r}")
    if user.id is None:
        raise ValueError("the user has no id yet (flush it first)")
    payload = {"sub": str(user.id), "role": user.role, "cred": credential_fingerprint(user)}
    if kind == "session":
        payload["sid"] = secrets.token_urlsafe(24)
    return tokens.sign(settings, _PURPOSES[kind], payload, moment=issued_at)


def read_token(
    settings: Settings, token: str | None, *, kind: TokenKind, moment: datetime | None = None
) -> TokenClaims | None:
    """The claims of a genuine, unexpired token of this kind, else None."""
    if kind not in _PURPOSES:
        return None
    try:
        signed = tokens.unsign(
            settings, _PURPOSES[kind], token, max_age=TOKEN_LIFETIMES[kind], moment=moment
        )
    except tokens.InvalidToken:
        return None
    payload = signed.payload
    if not isinstance(payload, dict):
        return None
    sub, role, credential = payload.get("sub"), payload.get("role"), payload.get("cred")
    sid = payload.get("sid") if kind == "session" else None
    if not (isinstance(sub, str) and sub.isdigit() and isinstance(role, str)):
        return None
    if not isinstance(credential, str) or (kind == "session" and not isinstance(sid, str)):
        return None
    issued = int(signed.signed_at.timestamp())
    return TokenClaims(
        sub=sub,
        role=role,
        kind=kind,
        iat=issued,
        exp=issued + int(TOKEN_LIFETIMES[kind].total_seconds()),
        credential=credential,
        sid=sid,
        csrf=page_csrf_token(settings, sid, moment=signed.signed_at) if sid else None,
    )


def staff_for_token(session: Session, claims: TokenClaims) -> StaffUser | None:
    """The staff user a token names, if it still exists, is enabled, has the same role and the
    same password as when the token was issued."""
    user = session.get(StaffUser, claims.user_id)
    if user is None or user.disabled or user.role != claims.role:
        return None
    if not hmac.compare_digest(credential_fingerprint(user), claims.credential):
        return None
    return user


def page_csrf_token(settings: Settings, sid: str, *, moment: datetime | None = None) -> str:
    """The forms' CSRF token for the session with this sid. Signed at the moment the session
    was, it is the same on every page of the session and ends with it."""
    return tokens.sign(settings, Purpose.STAFF_CSRF, sid, moment=moment)


def page_csrf_matches(settings: Settings, claims: TokenClaims, sent: str | None) -> bool:
    """True when sent is a CSRF token made for this session."""
    if not sent or claims.sid is None:
        return False
    try:
        signed = tokens.unsign(settings, Purpose.STAFF_CSRF, sent, max_age=SESSION_LIFETIME)
    except tokens.InvalidToken:
        return False
    return isinstance(signed.payload, str) and hmac.compare_digest(
        signed.payload.encode(), claims.sid.encode()
    )


def new_login_nonce() -> str:
    return secrets.token_urlsafe(32)


def valid_login_nonce(nonce: str | None) -> bool:
    return bool(nonce and _NONCE.match(nonce))


def login_csrf_token(settings: Settings, nonce: str) -> str:
    """The login form's CSRF token for a `birthreg_csrf` nonce."""
    return tokens.sign(settings, Purpose.LOGIN_CSRF, nonce)


def login_csrf_matches(settings: Settings, nonce: str | None, sent: str | None) -> bool:
    """True when sent is a fresh login CSRF token for this (well-formed) nonce."""
    if not (sent and nonce and valid_login_nonce(nonce)):
        return False
    try:
        signed = tokens.unsign(settings, Purpose.LOGIN_CSRF, sent, max_age=LOGIN_CSRF_LIFETIME)
    except tokens.InvalidToken:
        return False
    return isinstance(signed.payload, str) and hmac.compare_digest(
        signed.payload.encode(), nonce.encode()
    )
