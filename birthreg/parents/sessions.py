"""The parents' key-holder sessions: sign-in challenges, session tokens, the holder a session
names, CSRF, and the signature objects parents send (the application itself: `service`).

Who may see what. Parents are not staff and have no password: a parent's session is opened by a
signature of the key the ward enrolled for her (or him) over a fresh sign-in challenge, and is
bound to that certificate's serial. Everything a session reaches is found through the birth that
the serial was enrolled for (`Enrollment.certificate_serial` → `birth_id`); the application ids in
URLs are UUIDs and every lookup is filtered by that birth (and, for a father, by his serial), so
changing an id in a URL finds nothing. A revoked certificate ends its sessions at once: each
request checks the CA's records.

The challenge, the session and the father's invitation are itsdangerous tokens
(`birthreg.tokens`), each of its own purpose and so under its own key: a staff token is never a
parent's session, a challenge never a session, nor the other way round.

Sign-in challenges are stateless: `nonce` is a token over a random value, signed at the time in
`issued_at` and valid for CHALLENGE_LIFETIME, and it must equal the `birthreg_parent_challenge`
cookie of the browser that asked for it (so a challenge signed elsewhere cannot log this browser
into another person's session). A spent challenge is remembered (`ParentChallengeUse`) so that
it opens one session only.

Session tokens name the certificate's serial and carry a random CSRF value that every
state-changing request must send back (`X-CSRF-Token` or the form field `csrf_token`); they live
30 minutes (their max_age); the cookie is HttpOnly and SameSite=Strict.

The father's invitation names the application and a random salt kept with it until the father
has signed: a copy of the database gives no usable invitation (it takes the service's key), and
a spent or replaced invitation names a salt that is gone.

Routes call these functions with the request session; they add and flush. Functions that verify a
signature first end the session's transaction (`release`): revocation is read through the CA's
own records in a session of its own, which on SQLite would wait for ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from birthreg import audit, tokens
from birthreg.config import Settings
from birthreg.errors import DomainError
from birthreg.models import (
    Enrollment,
    EnrollmentRole,
    IssuedCertificate,
    ParentChallengeUse,
)
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.pki.service import certification_authority
from birthreg.services import Services
from signing.ca import CertificationAuthority
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.report import SignatureReport, SubIndication
from signing.trust import TrustAnchors, Validator

SESSION_COOKIE = "birthreg_parent"
CHALLENGE_COOKIE = "birthreg_parent_challenge"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(minutes=30)
CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_TYPE = "birthreg.session-challenge/1"
CHALLENGE_PURPOSE = "parents-session"
#: Longest sign-in token or invitation read at all.
MAX_TOKEN_LENGTH = tokens.MAX_TOKEN_LENGTH

# -- errors ------------------------------------------------------------------------------------


class ParentsError(DomainError):
    """A refusal with a machine code; `extra` is more of the error body (e.g. a report)."""

    def __init__(
        self, code: str, detail: str, status: int = 400, *, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(code, detail, status)
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class NotSignedIn(DomainError):
    """No valid key-holder session: 401 for the API, the sign-in page for pages."""

    def __init__(self, detail: str = "sign in with your key first", code: str = "not_signed_in"):
        super().__init__(code, detail, 401)


# -- context -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentsContext:
    settings: Settings
    ca: CertificationAuthority
    engine: Engine

    @property
    def secure_cookies(self) -> bool:
        return self.settings.base_url.lower().startswith("https://")

    def validator(self) -> Validator:
        """A fresh validator (no cached revocation answers): a key revoked a moment ago is
        refused now, not when a cache expires."""
        return Validator(
            TrustAnchors([self.ca.root_certificate], [self.ca.issuing_certificate]),
            InProcessRevocationFetcher(self.engine, self.ca),
        )


def parents_context(services: Services) -> ParentsContext:
    return ParentsContext(services.settings, certification_authority(services), services.engine)


def _time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def release(session: Session) -> None:
    """End the session's transaction before a signature is verified (see the module text)."""
    session.commit()


# -- sign-in challenges and sessions -----------------------------------------------------------


def new_challenge(settings: Settings, moment: datetime) -> dict[str, str]:
    """A fresh sign-in challenge document (its `nonce` goes into the challenge cookie too)."""
    nonce = tokens.sign(
        settings, tokens.Purpose.PARENT_CHALLENGE, secrets.token_urlsafe(18), moment=moment
    )
    return {
        "type": CHALLENGE_TYPE,
        "purpose": CHALLENGE_PURPOSE,
        "nonce": nonce,
        "issued_at": _time_text(moment),
        "audience": settings.base_url,
    }


def check_challenge(
    settings: Settings, challenge: Mapping[str, Any], cookie_nonce: str | None, moment: datetime
) -> str:
    """The challenge's nonce, when the challenge is one we issued to this browser and is fresh.
    Raises ParentsError 400 invalid_challenge / challenge_mismatch, 410 challenge_expired."""
    invalid = ParentsError("invalid_challenge", "this is not a sign-in challenge we gave you")
    if set(challenge) != {"type", "purpose", "nonce", "issued_at", "audience"}:
        raise invalid
    if (
        challenge["type"] != CHALLENGE_TYPE
        or challenge["purpose"] != CHALLENGE_PURPOSE
        or challenge["audience"] != settings.base_url
    ):
        raise invalid
    nonce = challenge["nonce"]
    if not isinstance(nonce, str) or len(nonce) > 200:
        raise invalid
    try:
        signed = tokens.unsign(
            settings,
            tokens.Purpose.PARENT_CHALLENGE,
            nonce,
            max_age=CHALLENGE_LIFETIME,
            moment=moment,
        )
    except tokens.ExpiredToken:
        raise ParentsError(
            "challenge_expired", "the sign-in challenge expired; try again", 410
        ) from None
    except tokens.InvalidToken:
        raise invalid from None
    if challenge["issued_at"] != _time_text(signed.signed_at):
        raise invalid
    if not cookie_nonce or not hmac.compare_digest(cookie_nonce.encode(), nonce.encode()):
        raise ParentsError(
            "challenge_mismatch", "this challenge was given to another browser; ask for a new one"
        )
    return nonce


@dataclass(frozen=True)
class SessionClaims:
    serial: str
    csrf: str
    exp: int


def issue_session_token(
    settings: Settings, serial: str, moment: datetime
) -> tuple[str, SessionClaims]:
    claims = SessionClaims(
        serial, secrets.token_urlsafe(32), int((moment + SESSION_LIFETIME).timestamp())
    )
    token = tokens.sign(
        settings,
        tokens.Purpose.PARENT_SESSION,
        {"serial": serial, "csrf": claims.csrf},
        moment=moment,
    )
    return token, claims


def read_session_token(
    settings: Settings, token: str | None, moment: datetime
) -> SessionClaims | None:
    """The claims of a genuine, unexpired parent's session token, else None."""
    try:
        signed = tokens.unsign(
            settings, tokens.Purpose.PARENT_SESSION, token, max_age=SESSION_LIFETIME, moment=moment
        )
    except tokens.InvalidToken:
        return None
    payload = signed.payload
    if not isinstance(payload, dict):
        return None
    serial, csrf = payload.get("serial"), payload.get("csrf")
    if not isinstance(serial, str) or not isinstance(csrf, str):
        return None
    return SessionClaims(serial, csrf, int((signed.signed_at + SESSION_LIFETIME).timestamp()))


@dataclass(frozen=True)
class Holder:
    """The key holder of a session: whose key, for which birth, in which role."""

    serial: str
    birth_id: str
    role: Literal["mother", "father"]
    iin: str
    surname: str
    given_name: str
    patronymic: str | None
    csrf: str
    not_after: datetime

    @property
    def is_mother(self) -> bool:
        return self.role == EnrollmentRole.MOTHER.value

    @property
    def actor(self) -> str:
        return f"holder:{self.serial}"


def _enrollment_of(session: Session, serial: str) -> Enrollment | None:
    return session.exec(select(Enrollment).where(Enrollment.certificate_serial == serial)).first()


def holder_for_claims(session: Session, claims: SessionClaims) -> Holder:
    """The holder a session names, after checking that the certificate is not revoked and that
    the ward enrolled it for a birth. Raises NotSignedIn (key_revoked when it was revoked)."""
    certificate = session.get(IssuedCertificate, claims.serial)
    if certificate is None:
        raise NotSignedIn()
    if certificate.revoked_at is not None:
        raise NotSignedIn("this key was revoked; enroll a new one at the ward", "key_revoked")
    enrollment = _enrollment_of(session, claims.serial)
    if enrollment is None:
        raise NotSignedIn()
    role: Literal["mother", "father"] = (
        "mother" if enrollment.role == EnrollmentRole.MOTHER.value else "father"
    )
    return Holder(
        serial=claims.serial,
        birth_id=enrollment.birth_id,
        role=role,
        iin=enrollment.iin,
        surname=enrollment.surname,
        given_name=enrollment.given_name,
        patronymic=enrollment.patronymic,
        csrf=claims.csrf,
        not_after=certificate.not_after,
    )


def signature_refusal(report: SignatureReport, what: str) -> ParentsError:
    if report.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE):
        return ParentsError(
            "key_revoked",
            "this key was revoked: it cannot sign any more; enroll a new one at the ward",
            403,
        )
    return ParentsError(
        "invalid_signature",
        f"the signature over the {what} does not pass",
        extra={"report": report.to_json()},
    )


def signature_object(signature: Mapping[str, Any]) -> dict[str, str]:
    fmt, value = signature.get("format"), signature.get("value")
    if fmt not in ("cms", "jws") or not isinstance(value, str) or not value:
        raise ParentsError(
            "invalid_signature", 'a signature is {"format": "cms" or "jws", "value": text}'
        )
    return {"format": fmt, "value": value}


def open_session(
    session: Session,
    context: ParentsContext,
    *,
    challenge: Mapping[str, Any],
    signature: Mapping[str, Any],
    cookie_nonce: str | None,
    moment: datetime,
) -> tuple[str, Holder]:
    """Open a key-holder session: the challenge must be ours, fresh and this browser's, and the
    signature over its RFC 8785 form must pass in full (chain to the TEST root, individual
    policy, not revoked) with a certificate the ward enrolled. Returns the session token and the
    holder. Raises ParentsError (400 invalid_challenge / challenge_mismatch / invalid_signature,
    410 challenge_expired, 403 key_revoked / not_a_parent_key, 409 challenge_used)."""
    nonce = check_challenge(context.settings, challenge, cookie_nonce, moment)
    signature = signature_object(signature)
    content = canonicalize(dict(challenge))
    release(session)
    report = verify_signature(
        signature, content, validator=context.validator(), moment=moment, purpose="individual"
    )
    if not report.passed or report.signer_serial is None:
        raise signature_refusal(report, "sign-in challenge")
    serial = report.signer_serial
    if _enrollment_of(session, serial) is None:
        raise ParentsError(
            "not_a_parent_key", "this key was not enrolled at a maternity ward for a birth", 403
        )
    try:
        with session.begin_nested():
            session.add(
                ParentChallengeUse(
                    nonce_sha256=hashlib.sha256(nonce.encode("ascii")).hexdigest(), used_at=moment
                )
            )
    except IntegrityError:
        raise ParentsError(
            "challenge_used", "this sign-in challenge was used already; ask for a new one", 409
        ) from None
    token, claims = issue_session_token(context.settings, serial, moment)
    holder = holder_for_claims(session, claims)
    audit.record(
        session,
        actor=holder.actor,
        role=holder.role,
        action="parents.signed_in",
        object_type="certificate",
        object_id=serial,
        at=moment,
    )
    return token, holder


def key_file_signature(text: str) -> dict[str, str]:
    """The signature object in what a key-file user uploaded or pasted: the output of `birthreg
    sign` ({"format", "value"}), or a bare base64 CMS value."""
    text = text.strip()
    if not text:
        raise ParentsError("invalid_signature", "no signature was given")
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ParentsError("invalid_signature", "the signature file is not JSON") from None
        if not isinstance(parsed, dict):
            raise ParentsError("invalid_signature", "the signature file is not a JSON object")
        return signature_object(parsed)
    compact = "".join(text.split())
    if compact.count(".") == 2:
        return {"format": "jws", "value": compact}
    return {"format": "cms", "value": compact}


def check_csrf(holder: Holder, sent: str | None) -> None:
    """Refuse (403 csrf_failed) a state-changing request without the session's CSRF value."""
    if not sent or not hmac.compare_digest(sent.encode(), holder.csrf.encode()):
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)
