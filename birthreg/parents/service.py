"""The parents' side: key-holder sessions, the application, its signatures, the father's
invitation, the submission through the registry client, and what the registry says since.

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
signature first end the session's transaction (`_release`): revocation is read through the CA's
own records in a session of its own, which on SQLite would wait for ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from birthreg import audit, tokens
from birthreg.config import Settings
from birthreg.errors import DomainError, NotFound
from birthreg.i18n import gettext
from birthreg.models import (
    ApplicationState,
    Birth,
    Enrollment,
    EnrollmentRole,
    IssuedCertificate,
    ParentApplication,
    ParentChallengeUse,
    Progress,
)
from birthreg.parents.schemas import ApplicationForm
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.pki.service import certification_authority
from birthreg.ward.service import advance_progress, signed_medical_record
from signing.application import APPLICATION_TYPE
from signing.ca import CertificationAuthority
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.errors import InvalidIdentityNumber, InvalidName
from signing.identity import iin_sex, validate_iin
from signing.names import validate_person_name
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
MAX_ADDRESS_LENGTH = 200
PHONE_PATTERN = re.compile(r"\+?[0-9 ()-]{6,20}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
LANGUAGES = ("kk", "ru", "en")
FATHER_BASES = ("none", "marriage", "joint_application")
OPEN_STATES = (
    ApplicationState.DRAFT.value,
    ApplicationState.AWAITING_FATHER.value,
    ApplicationState.READY.value,
)


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


def _not_found() -> NotFound:
    return NotFound("application_not_found", "no application with that id for this key")


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


def parents_context(app: Any) -> ParentsContext:
    return ParentsContext(app.state.settings, certification_authority(app), app.state.engine)


def _time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _release(session: Session) -> None:
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


def _signature_refusal(report: SignatureReport, what: str) -> ParentsError:
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


def _signature_object(signature: Mapping[str, Any]) -> dict[str, str]:
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
    signature = _signature_object(signature)
    content = canonicalize(dict(challenge))
    _release(session)
    report = verify_signature(
        signature, content, validator=context.validator(), moment=moment, purpose="individual"
    )
    if not report.passed or report.signer_serial is None:
        raise _signature_refusal(report, "sign-in challenge")
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
        return _signature_object(parsed)
    compact = "".join(text.split())
    if compact.count(".") == 2:
        return {"format": "jws", "value": compact}
    return {"format": "cms", "value": compact}


# -- the application form ----------------------------------------------------------------------


@dataclass(frozen=True)
class FormResult:
    """A validated form: the document parts, or a translated message per field in error."""

    parts: dict[str, Any]
    errors: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors


def _clean_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def _name(value: str, field: str, errors: dict[str, str], *, optional: bool = False) -> str | None:
    if not value and optional:
        return None
    if not value:
        errors[field] = gettext("Please fill this in.")
        return None
    try:
        return validate_person_name(value, field=field)
    except InvalidName:
        errors[field] = gettext(
            "Use Kazakh, Russian or Latin letters only, with a hyphen, an apostrophe or single "
            "spaces between words."
        )
        return None


def father_enrollment(session: Session, birth_id: str) -> Enrollment | None:
    """The latest father's enrollment for this birth that produced a certificate."""
    return session.exec(
        select(Enrollment)
        .where(Enrollment.birth_id == birth_id)
        .where(Enrollment.role == EnrollmentRole.FATHER.value)
        .where(col(Enrollment.certificate_serial).is_not(None))
        .order_by(col(Enrollment.used_at).desc())
    ).first()


def _names(form: ApplicationForm, person: str, errors: dict[str, str]) -> dict[str, Any]:
    """The person's surname, given name and patronymic (optional) from the form fields
    `{person}_surname` and so on; problems go into `errors` under those field names."""
    names: dict[str, Any] = {}
    for key in ("surname", "given_name", "patronymic"):
        field = f"{person}_{key}"
        value = _name(
            _clean_text(getattr(form, field)), field, errors, optional=key == "patronymic"
        )
        if value is not None:
            names[key] = value
    return names


def validate_application_form(
    form: ApplicationForm, *, mother_iin: str, enrolled_father_iin: str | None
) -> FormResult:
    """Check what she typed; messages are in the current language, keyed by form field."""
    errors: dict[str, str] = {}
    child: dict[str, Any] = _names(form, "child", errors)

    basis = form.father_basis
    father: dict[str, Any] | None = None
    if basis not in FATHER_BASES:
        errors["father_basis"] = gettext("Choose one of the options.")
    elif basis != "none":
        father = {}
        iin = "".join(form.father_iin.split())
        try:
            validate_iin(iin)
            if iin_sex(iin) != "M":
                errors["father_iin"] = gettext("This IIN belongs to a woman.")
            elif iin == mother_iin:
                errors["father_iin"] = gettext("This is the mother's IIN.")
            elif (
                basis == "joint_application"
                and enrolled_father_iin is not None
                and iin != enrolled_father_iin
            ):
                errors["father_iin"] = gettext(
                    "This is not the IIN of the father whom the ward enrolled."
                )
            else:
                father["iin"] = iin
        except InvalidIdentityNumber:
            errors["father_iin"] = gettext("An IIN has 12 digits; check it against the document.")
        father.update(_names(form, "father", errors))
        father["basis"] = basis

    address: dict[str, str] = {}
    for key in ("region", "locality", "street", "building", "flat"):
        value = _clean_text(getattr(form, key))
        if not value:
            if key != "flat":
                errors[key] = gettext("Please fill this in.")
            continue
        if len(value) > MAX_ADDRESS_LENGTH or not value.isprintable():
            errors[key] = gettext("This is too long or has characters that cannot be printed.")
            continue
        address[key] = value

    contact: dict[str, str] = {}
    phone = _clean_text(form.phone)
    email = form.email.strip()
    if phone:
        if PHONE_PATTERN.fullmatch(phone):
            contact["phone"] = phone
        else:
            errors["phone"] = gettext("Write the number with digits, e.g. +7 701 234 5678.")
    if email:
        if EMAIL_PATTERN.fullmatch(email) and len(email) <= 254:
            contact["email"] = email
        else:
            errors["email"] = gettext("This is not an e-mail address.")
    if not phone and not email:
        errors["phone"] = gettext("Give a phone number or an e-mail address.")

    language = form.language
    if language not in LANGUAGES:
        errors["language"] = gettext("Choose one of the options.")

    parts = {
        "child": child,
        "father": father,
        "address": address,
        "contact": contact,
        "language": language,
    }
    return FormResult(parts, errors)


def application_document(
    application_id: str, birth: Birth, parts: Mapping[str, Any]
) -> dict[str, Any]:
    """The registration application of DESIGN.md, exactly its fields."""
    record = json.loads(birth.medical_record)
    return {
        "type": APPLICATION_TYPE,
        "id": application_id,
        "medical_record_sha256": birth.medical_record_sha256,
        "child": dict(parts["child"]),
        "mother": {"iin": record["mother"]["iin"]},
        "father": dict(parts["father"]) if parts["father"] is not None else None,
        "address": dict(parts["address"]),
        "contact": dict(parts["contact"]),
        "language": parts["language"],
    }


# -- applications ------------------------------------------------------------------------------


def birth_of(session: Session, holder: Holder) -> Birth:
    birth = session.get(Birth, holder.birth_id)
    if birth is None:  # pragma: no cover - an enrollment always names a birth (foreign key)
        raise NotSignedIn()
    return birth


def _query_for(holder: Holder) -> SelectOfScalar[ParentApplication]:
    statement = select(ParentApplication).where(ParentApplication.birth_id == holder.birth_id)
    if not holder.is_mother:
        statement = statement.where(ParentApplication.father_serial == holder.serial)
    return statement


def get_application(
    session: Session, holder: Holder, application_id: str, *, for_update: bool = False
) -> ParentApplication:
    """An application this holder may see (404 application_not_found for any other id)."""
    try:
        uuid.UUID(application_id)
    except ValueError:
        raise _not_found() from None
    statement = _query_for(holder).where(ParentApplication.id == application_id)
    if for_update:
        statement = statement.with_for_update()
    application = session.exec(statement).first()
    if application is None:
        raise _not_found()
    return application


def list_applications(session: Session, holder: Holder) -> list[ParentApplication]:
    """The holder's applications, newest first."""
    return list(
        session.exec(
            _query_for(holder).order_by(col(ParentApplication.created_at).desc())
        ).all()
    )


def current_application(session: Session, holder: Holder) -> ParentApplication | None:
    applications = [
        a for a in list_applications(session, holder) if a.state != ApplicationState.SUPERSEDED
    ]
    return applications[0] if applications else None


def _require_mother(holder: Holder) -> None:
    if not holder.is_mother:
        raise ParentsError("mother_only", "only the mother fills in the application", 403)


def save_draft(
    session: Session,
    holder: Holder,
    *,
    parts: Mapping[str, Any],
    application_id: str | None,
    previous_id: str | None,
    moment: datetime,
) -> ParentApplication:
    """Store a validated form: update the mother's draft, or start a new application (a new
    document id). A new one supersedes any open application of the birth that was not
    submitted, and links to `previous_id` (a rejected or superseded one: a correction)."""
    _require_mother(holder)
    birth = birth_of(session, holder)
    if application_id:
        application = get_application(session, holder, application_id, for_update=True)
        if application.state != ApplicationState.DRAFT:
            raise ParentsError(
                "already_signed", "this application is signed; start a new one to change it", 409
            )
        document = application_document(application.id, birth, parts)
        application.document = canonicalize(document).decode("utf-8")
        application.updated_at = moment
        session.add(application)
        session.flush()
        return application

    previous: ParentApplication | None = None
    if previous_id:
        previous = get_application(session, holder, previous_id)
    elif current_application(session, holder) is not None:
        raise ParentsError(
            "application_exists",
            "there is an application already: correct it, or start from it",
            409,
        )
    for open_application in session.exec(
        select(ParentApplication)
        .where(ParentApplication.birth_id == holder.birth_id)
        .where(col(ParentApplication.state).in_(OPEN_STATES))
        .with_for_update()
    ).all():
        open_application.state = ApplicationState.SUPERSEDED.value
        open_application.invitation_salt = None
        open_application.updated_at = moment
        session.add(open_application)
        previous = previous or open_application
    if previous is None:
        previous = session.exec(
            select(ParentApplication)
            .where(ParentApplication.birth_id == holder.birth_id)
            .order_by(col(ParentApplication.created_at).desc())
        ).first()
    new_id = str(uuid.uuid4())
    document = application_document(new_id, birth, parts)
    application = ParentApplication(
        id=new_id,
        birth_id=holder.birth_id,
        previous_id=previous.id if previous else None,
        state=ApplicationState.DRAFT.value,
        document=canonicalize(document).decode("utf-8"),
        created_by_serial=holder.serial,
        created_at=moment,
        updated_at=moment,
    )
    session.add(application)
    session.flush()
    audit.record(
        session,
        actor=holder.actor,
        role=holder.role,
        action="application.drafted",
        object_type="application",
        object_id=new_id,
        details={"previous_id": application.previous_id},
        at=moment,
    )
    return application


def document_of(application: ParentApplication) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(application.document)
    return document


def canonical_bytes(application: ParentApplication) -> bytes:
    """The bytes every signature covers: the stored document's RFC 8785 form (the stored text
    is that form already; it is recomputed so that a row edited by hand cannot pass)."""
    return canonicalize(document_of(application))


def fingerprint(application: ParentApplication) -> str:
    return hashlib.sha256(canonical_bytes(application)).hexdigest()


def is_joint(application: ParentApplication) -> bool:
    father = document_of(application).get("father")
    return isinstance(father, dict) and father.get("basis") == "joint_application"


def invitation_token(settings: Settings, application: ParentApplication) -> str | None:
    """What the father's link carries (None when there is no invitation): a token over the
    application id and its invitation salt. It has no age limit: it ends when the salt does
    (the father signed, or the mother replaced the application). Signed at the application's
    creation, so that the link and its QR code stay the same from page to page."""
    if application.invitation_salt is None:
        return None
    return tokens.sign(
        settings,
        tokens.Purpose.PARENT_INVITATION,
        [application.id, application.invitation_salt],
        moment=application.created_at,
    )


def invitation_url(settings: Settings, application: ParentApplication) -> str | None:
    token = invitation_token(settings, application)
    if token is None:
        return None
    return f"{settings.base_url.rstrip('/')}/parents/join#invite={token}"


def _certificate_revoked(session: Session, serial: str | None) -> bool:
    if serial is None:
        return False
    row = session.get(IssuedCertificate, serial)
    return row is None or row.revoked_at is not None


def add_signature(
    session: Session,
    context: ParentsContext,
    holder: Holder,
    application_id: str,
    signature: Mapping[str, Any],
    *,
    moment: datetime,
) -> ParentApplication:
    """Add the holder's signature (JWS from the phone or CMS from a key file) to an application.

    The signature must be over the RFC 8785 form of the stored document, pass in full at
    `moment` (not revoked now), and be made with the holder's own certificate, whose IIN is the
    mother's (draft) or the father's on a joint application (awaiting the father). The mother's
    signature on a joint application makes an invitation for the father; the last signature
    makes it ready to send. Raises ParentsError: 400 invalid_signature (with the report), 403
    key_revoked / signer_mismatch, 409 wrong_state; 404 for another holder's application."""
    signature = _signature_object(signature)
    application = get_application(session, holder, application_id)
    expected_state = (
        ApplicationState.DRAFT if holder.is_mother else ApplicationState.AWAITING_FATHER
    )
    if application.state != expected_state:
        raise ParentsError("wrong_state", "this application is not waiting for your signature", 409)
    content = canonical_bytes(application)
    _release(session)
    report = verify_signature(
        signature, content, validator=context.validator(), moment=moment, purpose="individual"
    )
    if not report.passed:
        raise _signature_refusal(report, "application")
    if report.signer_serial != holder.serial or report.signer_iin != holder.iin:
        raise ParentsError(
            "signer_mismatch", "sign with the key of this session (your own key)", 403
        )

    application = get_application(session, holder, application_id, for_update=True)
    if application.state != expected_state or canonical_bytes(application) != content:
        raise ParentsError("wrong_state", "the application changed meanwhile; look again", 409)
    document = document_of(application)
    text = json.dumps(signature, separators=(",", ":"))
    if holder.is_mother:
        application.mother_serial = holder.serial
        application.mother_signature = text
        if is_joint(application):
            application.state = ApplicationState.AWAITING_FATHER.value
            application.invitation_salt = secrets.token_hex(16)
        else:
            application.state = ApplicationState.READY.value
    else:
        father = document.get("father") or {}
        if father.get("iin") != holder.iin:  # bound by `join`, checked again
            raise ParentsError("signer_mismatch", "this application names another father", 403)
        application.father_signature = text
        application.state = ApplicationState.READY.value
        application.invitation_salt = None
    application.updated_at = moment
    session.add(application)
    audit.record(
        session,
        actor=holder.actor,
        role=holder.role,
        action="application.signed",
        object_type="application",
        object_id=application.id,
        details={"format": signature["format"], "sha256": hashlib.sha256(content).hexdigest()},
        at=moment,
    )
    session.flush()
    return application


def join(
    session: Session, settings: Settings, holder: Holder, invitation: str, *, moment: datetime
) -> ParentApplication:
    """The father opens the application his invitation names: he must hold a key enrolled for
    the same birth whose IIN is the father's on the application. Raises 404 invitation_not_found
    (also for a wrong or used token), 403 father_only / not_the_father."""
    not_found = NotFound("invitation_not_found", "this invitation is not valid (any more)")
    if holder.is_mother:
        raise ParentsError("father_only", "the invitation is for the father's own phone", 403)
    try:
        named = tokens.unsign(
            settings, tokens.Purpose.PARENT_INVITATION, invitation, max_age=None
        ).payload
    except tokens.InvalidToken:
        raise not_found from None
    if not (
        isinstance(named, list)
        and len(named) == 2
        and all(isinstance(part, str) for part in named)
    ):
        raise not_found
    application_id, salt = named
    try:
        uuid.UUID(application_id)
    except ValueError:
        raise not_found from None
    application = session.exec(
        select(ParentApplication)
        .where(ParentApplication.id == application_id)
        .where(ParentApplication.birth_id == holder.birth_id)
        .with_for_update()
    ).first()
    if (
        application is None
        or application.invitation_salt is None
        or not hmac.compare_digest(application.invitation_salt.encode(), salt.encode())
        or application.state != ApplicationState.AWAITING_FATHER
    ):
        raise not_found
    father = document_of(application).get("father") or {}
    if father.get("iin") != holder.iin:
        raise ParentsError("not_the_father", "this application names another father", 403)
    application.father_serial = holder.serial
    application.updated_at = moment
    session.add(application)
    audit.record(
        session,
        actor=holder.actor,
        role=holder.role,
        action="application.joined",
        object_type="application",
        object_id=application.id,
        at=moment,
    )
    session.flush()
    return application


# -- submission ----------------------------------------------------------------------------------


def dossier(session: Session, application: ParentApplication) -> dict[str, Any]:
    """The dossier of DESIGN.md for a signed application."""
    birth = session.get(Birth, application.birth_id)
    assert birth is not None
    signatures = [json.loads(application.mother_signature or "null")]
    if application.father_signature:
        signatures.append(json.loads(application.father_signature))
    return {
        "medical_record": signed_medical_record(birth).to_json(),
        "application": {"document": document_of(application), "signatures": signatures},
    }


def prepare_submission(
    session: Session, holder: Holder, application_id: str
) -> tuple[str, dict[str, Any]]:
    """(birth id, dossier) of a ready application. Refuses (403 key_revoked) when a signer's key
    was revoked since it signed: the registry would refuse it, so she signs again instead."""
    application = get_application(session, holder, application_id)
    if application.state != ApplicationState.READY:
        raise ParentsError("wrong_state", "this application is not ready to send", 409)
    for serial in (application.mother_serial, application.father_serial):
        if _certificate_revoked(session, serial):
            raise ParentsError(
                "key_revoked",
                "a key that signed this application was revoked; sign a new one",
                403,
            )
    return application.birth_id, dossier(session, application)


def record_submission(
    session: Session,
    holder: Holder,
    application_id: str,
    *,
    accepted: bool,
    submission_id: str | None,
    receipt: Mapping[str, Any] | None,
    error: str | None,
    moment: datetime,
) -> ParentApplication:
    """Keep what the registry answered: its receipt (state submitted, the ward's progress
    application_signed) or the reason it refused (the application stays ready)."""
    application = get_application(session, holder, application_id, for_update=True)
    if application.state != ApplicationState.READY:
        return application
    if accepted and submission_id:
        application.state = ApplicationState.SUBMITTED.value
        application.submission_id = submission_id
        application.receipt = json.dumps(receipt or {}, ensure_ascii=False)
        application.submission_error = None
        application.submitted_at = moment
        advance_progress(session, application.birth_id, Progress.APPLICATION_SIGNED)
        audit.record(
            session,
            actor=holder.actor,
            role=holder.role,
            action="application.submitted",
            object_type="application",
            object_id=application.id,
            details={"submission_id": submission_id},
            at=moment,
        )
    else:
        application.submission_error = (error or "registry_unavailable")[:1000]
    application.updated_at = moment
    session.add(application)
    session.flush()
    return application


def note_registered(session: Session, birth_id: str) -> None:
    """The registry registered the birth: the ward's list says so."""
    advance_progress(session, birth_id, Progress.REGISTERED)


# -- what pages show ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationView:
    """An application as plain data (safe after the session's transaction ended)."""

    id: str
    birth_id: str
    state: str
    previous_id: str | None
    document: dict[str, Any]
    canonical: bytes
    fingerprint: str
    joint: bool
    mother_signed: bool
    father_signed: bool
    father_joined: bool
    submission_id: str | None
    receipt: dict[str, Any] | None
    submission_error: str | None
    submitted_at: datetime | None
    created_at: datetime
    invitation_url: str | None
    signer_revoked: bool


def view(session: Session, settings: Settings, application: ParentApplication) -> ApplicationView:
    content = canonical_bytes(application)
    return ApplicationView(
        id=application.id,
        birth_id=application.birth_id,
        state=application.state,
        previous_id=application.previous_id,
        document=document_of(application),
        canonical=content,
        fingerprint=hashlib.sha256(content).hexdigest(),
        joint=is_joint(application),
        mother_signed=application.mother_signature is not None,
        father_signed=application.father_signature is not None,
        father_joined=application.father_serial is not None,
        submission_id=application.submission_id,
        receipt=json.loads(application.receipt) if application.receipt else None,
        submission_error=application.submission_error,
        submitted_at=application.submitted_at,
        created_at=application.created_at,
        invitation_url=invitation_url(settings, application),
        signer_revoked=application.state != ApplicationState.SUBMITTED
        and any(
            _certificate_revoked(session, serial)
            for serial in (application.mother_serial, application.father_serial)
            if serial
        ),
    )


def medical_record_summary(session: Session, holder: Holder) -> dict[str, Any]:
    """The sealed medical record's fields that the form shows read-only."""
    document: dict[str, Any] = json.loads(birth_of(session, holder).medical_record)
    return document


def holder_certificate(session: Session, holder: Holder) -> x509.Certificate:
    row = session.get(IssuedCertificate, holder.serial)
    assert row is not None
    return x509.load_der_x509_certificate(row.der)


def check_csrf(holder: Holder, sent: str | None) -> None:
    """Refuse (403 csrf_failed) a state-changing request without the session's CSRF value."""
    if not sent or not hmac.compare_digest(sent.encode(), holder.csrf.encode()):
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)


#: Refusals a page may name in its `error` parameter (anything else is not shown).
KNOWN_REFUSALS = frozenset(
    {"key_revoked", "invalid_signature", "signer_mismatch", "wrong_state", "registry_unavailable"}
)


def signature_error_text(code: str) -> str:
    """A sentence for people about a refused signature or submission (in their language)."""
    messages = {
        "key_revoked": gettext(
            "Your key was revoked, so it cannot sign. Ask the ward for a new key and sign again."
        ),
        "invalid_signature": gettext(
            "The signature does not match the document shown. Nothing was sent."
        ),
        "signer_mismatch": gettext("This signature was made with someone else's key."),
        "wrong_state": gettext("This application is not waiting for this signature."),
        "registry_unavailable": gettext(
            "The registry could not be reached. Your signed application is kept: try again."
        ),
    }
    return messages.get(code, gettext("The registry refused the application: %(reason)s") % {
        "reason": code
    })


def decode_signature_upload(data: bytes) -> str:
    """An uploaded signature file as text (UTF-8); refuses binaries and huge files."""
    if len(data) > 64 * 1024:
        raise ParentsError("invalid_signature", "the signature file is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParentsError(
            "invalid_signature", "upload the text that `birthreg sign` printed"
        ) from None

