"""The parents' applications: drafts, signatures (JWS from the phone, CMS from a key file), the
father's invitation.

Who may see what (see `birthreg.parents.sessions`): everything is found through the birth the
holder's certificate was enrolled for; the application ids in URLs are UUIDs and every lookup is
filtered by that birth (and, for a father, by his serial), so changing an id in a URL finds
nothing.

The father's invitation names the application and a random salt kept with it until the father
has signed: a copy of the database gives no usable invitation (it takes the service's key), and
a spent or replaced invitation names a salt that is gone.

Routes call these functions with the request session; they add and flush. Functions that verify a
signature first end the session's transaction (`sessions.release`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from birthreg import audit, tokens
from birthreg.config import Settings
from birthreg.errors import NotFound
from birthreg.models import (
    ApplicationState,
    Birth,
    Enrollment,
    EnrollmentRole,
    IssuedCertificate,
    ParentApplication,
)
from birthreg.packed import pack_for
from birthreg.parents.sessions import (
    Holder,
    NotSignedIn,
    ParentsContext,
    ParentsError,
    release,
    signature_object,
    signature_refusal,
)
from birthreg.parents.validation import application_document
from signing.canonical import canonicalize
from signing.dossier import verify_signature

#: The dictionary kind of the parents' signatures (`birthreg.packed`: the CA chain is in each).
SIGNATURE_KIND = "application_signature"
OPEN_STATES = (
    ApplicationState.DRAFT.value,
    ApplicationState.AWAITING_FATHER.value,
    ApplicationState.READY.value,
)



def _not_found() -> NotFound:
    return NotFound("application_not_found", "no application with that id for this key")



def father_enrollment(session: Session, birth_id: str) -> Enrollment | None:
    """The latest father's enrollment for this birth that produced a certificate."""
    return session.exec(
        select(Enrollment)
        .where(Enrollment.birth_id == birth_id)
        .where(Enrollment.role == EnrollmentRole.FATHER.value)
        .where(col(Enrollment.certificate_serial).is_not(None))
        .order_by(col(Enrollment.used_at).desc())
    ).first()



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


def _update_draft(
    session: Session,
    holder: Holder,
    birth: Birth,
    application_id: str,
    parts: Mapping[str, Any],
    moment: datetime,
) -> ParentApplication:
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


def _supersede_open(
    session: Session, holder: Holder, previous_id: str | None, moment: datetime
) -> ParentApplication | None:
    """Supersede the birth's open applications; the one a new application follows."""
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
    return previous


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
        return _update_draft(session, holder, birth, application_id, parts, moment)
    previous = _supersede_open(session, holder, previous_id, moment)
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


def certificate_revoked(session: Session, serial: str | None) -> bool:
    if serial is None:
        return False
    row = session.get(IssuedCertificate, serial)
    return row is None or row.revoked_at is not None


def _keep_signature(application: ParentApplication, holder: Holder, text: str) -> None:
    """Store the holder's signature and move the application on: the mother's signature on a
    joint application makes the father's invitation; the last signature makes it ready."""
    if holder.is_mother:
        application.mother_serial = holder.serial
        application.mother_signature = pack_for(application, SIGNATURE_KIND, text)
        if is_joint(application):
            application.state = ApplicationState.AWAITING_FATHER.value
            application.invitation_salt = secrets.token_hex(16)
        else:
            application.state = ApplicationState.READY.value
    else:
        father = document_of(application).get("father") or {}
        if father.get("iin") != holder.iin:  # bound by `join`, checked again
            raise ParentsError("signer_mismatch", "this application names another father", 403)
        application.father_signature = pack_for(application, SIGNATURE_KIND, text)
        application.state = ApplicationState.READY.value
        application.invitation_salt = None


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
    signature = signature_object(signature)
    application = get_application(session, holder, application_id)
    expected_state = (
        ApplicationState.DRAFT if holder.is_mother else ApplicationState.AWAITING_FATHER
    )
    if application.state != expected_state:
        raise ParentsError("wrong_state", "this application is not waiting for your signature", 409)
    content = canonical_bytes(application)
    release(session)
    report = verify_signature(
        signature, content, validator=context.validator(), moment=moment, purpose="individual"
    )
    if not report.passed:
        raise signature_refusal(report, "application")
    if report.signer_serial != holder.serial or report.signer_iin != holder.iin:
        raise ParentsError(
            "signer_mismatch", "sign with the key of this session (your own key)", 403
        )

    application = get_application(session, holder, application_id, for_update=True)
    if application.state != expected_state or canonical_bytes(application) != content:
        raise ParentsError("wrong_state", "the application changed meanwhile; look again", 409)
    _keep_signature(application, holder, json.dumps(signature, separators=(",", ":")))
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
