"""The registry's work: intake of dossiers, the clerk's queue, registration and rejection.

Routes (JSON and HTML) are thin and call these functions. Each function works in the caller's
session and only adds and flushes; the request session commits when the route returns (a
`DomainError` rolls everything back). Functions that must keep something although they fail
(`receive_dossier` audits a refused dossier) say so, and their routes return the error instead of
raising it.

Per app there is one `Registry` (`registry_for(app)`): the trust anchors, the one `Validator`
(so that its revocation cache serves every request), the office and its seal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, or_, select

from birthreg import audit
from birthreg.config import Settings
from birthreg.dates import parse_moment
from birthreg.db import reading
from birthreg.errors import DomainError, NotFound, ServiceNotInitialised
from birthreg.models import (
    AuditEntry,
    BirthCertificate,
    EventKind,
    Registration,
    RegistryOffice,
    Submission,
    SubmissionStatus,
    now,
)
from birthreg.notify import outbox, tracking
from birthreg.pki.fetch import HTTPRevocationFetcher, InProcessRevocationFetcher
from birthreg.pki.seals import Seal
from birthreg.pki.service import certification_authority
from birthreg.pki.service_seal import registry_seal
from birthreg.registry import certificate as certificates
from birthreg.registry.numbering import (
    LOCAL_TIME_ZONE,
    IINRangeExhausted,
    give_back_act_record_number,
    iin_registered,
    local_date,
    next_act_record_number,
    next_child_iin,
)
from birthreg.registry.schemas import (
    ChildSummary,
    HistoryEntry,
    OfficePublic,
    Person,
    RegistrationDetail,
    RegistrationPublic,
    SubmissionDetail,
    SubmissionPage,
    SubmissionStatusPublic,
    SubmissionSummary,
)
from signing import jws
from signing.canonical import canonicalize
from signing.dossier import DossierError, DossierTooLarge, parse_dossier, verify_dossier
from signing.errors import CanonicalizationError
from signing.report import VerificationReport
from signing.revocation import RevocationFetcher
from signing.trust import TrustAnchors, Validator

RECEIPT_TYPE = "birthreg.receipt/1"
#: Children of the same mother, sex and birth order born this close are likely the same child.
DUPLICATE_WINDOW = timedelta(days=3)
#: The queue's page size: default and largest.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

PENDING = (SubmissionStatus.RECEIVED.value, SubmissionStatus.IN_REVIEW.value)
OBJECT_TYPE = "submission"


# -- errors -----------------------------------------------------------------------------------


class DossierRefused(DomainError):
    """The dossier failed verification (422 with the report). Nothing was stored, but the
    refusal was audited in the caller's session: the route returns this error, it does not
    raise it, so that the audit entry is committed."""

    def __init__(self, report: VerificationReport) -> None:
        names = sorted({check.name for check in report.failed_checks}) or ["dossier"]
        super().__init__(
            "dossier_refused",
            "the dossier failed verification: " + ", ".join(names),
            422,
        )
        self.report = report


class DuplicateMedicalRecord(DomainError):
    """Another application for the medical record is registered or pending (409)."""

    def __init__(self, existing_status: str) -> None:
        super().__init__(
            "duplicate_medical_record",
            "an application for this medical record is already "
            + existing_status.replace("_", " "),
            409,
        )
        self.existing_status = existing_status


def _not_found() -> NotFound:
    return NotFound("submission_not_found", "no submission with that id")


def _invalid_state(submission: Submission | ToRegister, action: str) -> DomainError:
    return DomainError(
        "invalid_state",
        f"a submission that is {submission.status.replace('_', ' ')} cannot be {action}",
        409,
    )


# -- the registry of an app ---------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    """The registry office that receives and registers, with its seal (receipts, certificates)."""

    id: int
    code: str
    bin: str
    name: str
    seal: Seal


class Registry:
    """One per app: what intake and registration need besides the database session."""

    def __init__(self, app: Any, *, validator: Validator, auto_register: bool) -> None:
        self.app = app
        self.validator = validator
        self.auto_register = auto_register
        self._office: Office | None = None
        self._lock = threading.Lock()

    def office(self, session: Session) -> Office:
        """The registry office (the first one `birthreg init` made) and its seal, loaded once."""
        office = self._office
        if office is None:
            with self._lock:
                office = self._office
                if office is None:
                    office = self._office = load_office(session, self.app.state.settings)
        return office


_registry_lock = threading.Lock()


def registry_for(app: Any) -> Registry:
    """The app's `Registry`, made on first use (after `birthreg init` and the lifespan)."""
    registry: Registry | None = getattr(app.state, "registry", None)
    if registry is None:
        with _registry_lock:
            registry = getattr(app.state, "registry", None)
            if registry is None:
                validator = Validator(registry_trust_anchors(app), revocation_fetcher(app))
                registry = Registry(
                    app,
                    validator=validator,
                    auto_register=auto_register_setting(app.state.settings),
                )
                app.state.registry = registry
    return registry


def revocation_fetcher(app: Any) -> RevocationFetcher:
    """Where the registry reads revocations: from the CA's records in this process (role all),
    else over HTTP from the CRL and OCSP addresses in the certificates (role registry)."""
    if app.state.settings.holds_ca:
        return InProcessRevocationFetcher(app.state.engine, certification_authority(app))
    return HTTPRevocationFetcher()


def registry_trust_anchors(app: Any) -> TrustAnchors:
    """The roots the registry trusts, and nothing else.

    By default: the TEST root of this service's own CA (its issuing CA is known as an
    intermediate). A deployment that must trust other roots points the settings field
    `registry_roots` (environment `BIRTHREG_REGISTRY_ROOTS`) at a PEM bundle: its self-issued
    certificates become the roots, the others known intermediates, and the service's own CA is
    then trusted only if the bundle holds its root. Revocation of
    other CAs' certificates is fetched over HTTP from the pointers in their certificates.
    """
    bundle = app.state.settings.registry_roots_path
    if bundle:
        certificates = x509.load_pem_x509_certificates(Path(bundle).read_bytes())
        return TrustAnchors(
            [c for c in certificates if c.subject == c.issuer],
            [c for c in certificates if c.subject != c.issuer],
        )
    ca = certification_authority(app)
    return TrustAnchors([ca.root_certificate], [ca.issuing_certificate])


def auto_register_setting(settings: Any) -> bool:
    """Whether clean dossiers are registered at once (`BIRTHREG_REGISTRY_AUTO_REGISTER`)."""
    return bool(settings.registry_auto_register)


def load_office(session: Session, settings: Settings) -> Office:
    """The registry office (the first one `birthreg init` made) and its seal, from the database
    and the data dir (outside an app too: the CLI)."""
    row = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
    if row is None or row.id is None:
        raise ServiceNotInitialised("no registry office yet: run `birthreg init`")
    seal = registry_seal(settings, row.bin)
    return Office(id=row.id, code=row.code, bin=row.bin, name=row.name, seal=seal)


# -- intake -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    """A received dossier: `created` is False when the same dossier was already here.

    `report_text` and `receipt_text` are the JSON texts as stored, so that the answer is
    written without serialising the report again."""

    submission_id: str
    status: str
    created: bool
    report_text: str
    receipt_text: str
    duplicate_candidates: list[str]

    def body(self) -> bytes:
        """The API's answer (UTF-8 JSON): id, status, receipt, report, duplicate_candidates."""
        return (
            f'{{"id":{json.dumps(self.submission_id)},"status":{json.dumps(self.status)},'
            f'"receipt":{self.receipt_text},"report":{self.report_text},'
            f'"duplicate_candidates":{json.dumps(self.duplicate_candidates)}}}'
        ).encode()


def dossier_sha256(dossier: Any) -> str:
    """The SHA-256 of the dossier's RFC 8785 form: the same dossier however it was spaced."""
    return hashlib.sha256(canonicalize(dossier)).hexdigest()


def receive_dossier(
    session: Session, registry: Registry, body: bytes, *, moment: datetime | None = None
) -> Intake:
    """Take a dossier (JSON bytes): verify it at the moment of receipt and store it.

    The same dossier again (however spaced) returns the stored submission unchanged, with the
    report made when it first arrived. Raises DomainError 413 dossier_too_large, 400
    malformed_dossier, 409 DuplicateMedicalRecord, and DossierRefused (422) after auditing
    the refusal in `session` (commit it).

    The session must hold nothing pending. Verification runs outside any transaction (revocation
    data is read in a session of its own), and everything that needs no lock (the receipt's
    signature, the report's JSON) is made before the write transaction starts, so that the
    write lock (SQLite) or the mother's lock (PostgreSQL) is held only for the few statements
    that need it.
    """
    try:
        parsed = parse_dossier(body)
        text_body = body.decode("utf-8")
        sha = dossier_sha256(parsed)
    except DossierTooLarge as error:
        raise DomainError("dossier_too_large", error.detail, 413) from error
    except (DossierError, CanonicalizationError) as error:
        raise DomainError("malformed_dossier", error.detail) from error
    except UnicodeDecodeError as error:
        raise DomainError("malformed_dossier", "the dossier is not UTF-8") from error

    # A look-up that takes no write lock; the answer is checked again under the lock.
    with reading(session.get_bind()) as connection:  # type: ignore[arg-type]
        known = connection.execute(_STORED_BY_SHA256, {"sha": sha}).first()
    if known is not None:
        return _stored_intake(known)
    session.rollback()

    moment = moment or now()
    report = verify_dossier(parsed, validator=registry.validator, moment=moment)
    if not report.passed:
        refusal = DossierRefused(report)
        audit.record(
            session,
            actor="anonymous",
            role="public",
            action="submission.refused",
            object_type="dossier",
            object_id=hashlib.sha256(body).hexdigest(),
            details={"failed": refusal.detail},
            at=moment,
        )
        raise refusal
    return _store(session, registry, parsed, text_body, sha, report, moment)


_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]
_STORED_BY_SHA256 = (
    _SUBMISSIONS.select()
    .with_only_columns(
        _SUBMISSIONS.c.id,
        _SUBMISSIONS.c.status,
        _SUBMISSIONS.c.report,
        _SUBMISSIONS.c.receipt,
        _SUBMISSIONS.c.duplicate_candidates,
    )
    .where(_SUBMISSIONS.c.dossier_sha256 == bindparam("sha"))
)


# The intake's look-ups, built once (building a statement costs more than running it).
_EARLIER = (
    _SUBMISSIONS.select()
    .with_only_columns(_SUBMISSIONS.c.id, _SUBMISSIONS.c.status)
    .where(_SUBMISSIONS.c.medical_record_id == bindparam("record"))
    .order_by(_SUBMISSIONS.c.received_at.desc(), _SUBMISSIONS.c.id)
)
_LIKELY_DUPLICATES = (
    _SUBMISSIONS.select()
    .with_only_columns(_SUBMISSIONS.c.id, _SUBMISSIONS.c.duplicate_candidates)
    .where(
        _SUBMISSIONS.c.mother_iin == bindparam("mother"),
        _SUBMISSIONS.c.medical_record_id != bindparam("record"),
        _SUBMISSIONS.c.child_sex == bindparam("sex"),
        _SUBMISSIONS.c.birth_order == bindparam("order"),
        _SUBMISSIONS.c.child_born_at >= bindparam("born_from"),
        _SUBMISSIONS.c.child_born_at <= bindparam("born_to"),
        _SUBMISSIONS.c.status != SubmissionStatus.REJECTED.value,
    )
    .order_by(_SUBMISSIONS.c.received_at, _SUBMISSIONS.c.id)
)


def _stored_intake(submission: Any) -> Intake:
    """The Intake of a stored submission (a row of _STORED_BY_SHA256)."""
    return Intake(
        submission_id=submission.id,
        status=submission.status,
        created=False,
        report_text=submission.report,
        receipt_text=submission.receipt,
        duplicate_candidates=json.loads(submission.duplicate_candidates),
    )


_MOTHER_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_mother(connection: Connection, mother_iin: str) -> None:
    """Serialise intakes of one mother's dossiers (duplicate checks read then write).

    PostgreSQL: a transaction-scoped advisory lock keyed by the IIN's digest. SQLite: the
    transaction is BEGIN IMMEDIATE, so writers are serialised already.
    """
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(b"birthreg.registry.mother\x00" + mother_iin.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    connection.execute(_MOTHER_LOCK, {"key": key})


def _store(
    session: Session,
    registry: Registry,
    dossier: Mapping[str, Any],
    text_body: str,
    sha: str,
    report: VerificationReport,
    moment: datetime,
) -> Intake:
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    child = record["child"]
    mother_iin = str(record["mother"]["iin"])
    born_at = datetime.fromisoformat(child["born_at"])
    medical_record_id = str(record["id"])

    # Made before the transaction: none of it needs the database's locks.
    office = registry.office(session)
    submission_id = str(uuid.uuid4())
    tracking_number = tracking.new_tracking_number()
    receipt_text = _receipt_text(office, submission_id, sha, moment, tracking_number)
    report_text = json.dumps(report.to_json(), ensure_ascii=False)
    mother = next((s for s in report.documents[1].signatures if s.role == "mother"), None)
    actor = f"holder:{mother.signer_serial}" if mother and mother.signer_serial else "anonymous"
    values: dict[str, Any] = {
        "id": submission_id,
        "registry_office_id": office.id,
        "dossier": text_body,
        "dossier_sha256": sha,
        "medical_record_id": medical_record_id,
        "medical_record_sha256": str(application["medical_record_sha256"]),
        "application_id": str(application["id"]),
        "facility_bin": str(record["facility"]["bin"]),
        "mother_iin": mother_iin,
        "child_born_at": born_at,
        "child_sex": str(child["sex"]),
        "birth_order": int(child["birth_order"]),
        "status": SubmissionStatus.RECEIVED.value,
        "report": report_text,
        "receipt": receipt_text,
        "received_at": moment,
        "tracking_number": tracking_number,
    }

    session.rollback()  # the office's look-up (first call only) must not hold the lock
    # The transaction: the mother's lock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises all
    # writers), then plain Core statements. Under that lock no other intake of this dossier (the
    # same dossier has the same mother) can insert between the check and the insert below.
    # Core statements go to the session's connection: its execute costs less than the session's.
    connection = session.connection()
    _lock_mother(connection, mother_iin)
    existing = connection.execute(_STORED_BY_SHA256, {"sha": sha}).first()
    if existing is not None:  # the same dossier arrived while this one was being verified
        return _stored_intake(existing)

    earlier = connection.execute(_EARLIER, {"record": medical_record_id}).all()
    for _other_id, other_status in earlier:
        if other_status != SubmissionStatus.REJECTED.value:
            raise DuplicateMedicalRecord(other_status)
    previous_id = earlier[0][0] if earlier else None

    candidates = connection.execute(
        _LIKELY_DUPLICATES,
        {
            "mother": mother_iin,
            "record": medical_record_id,
            "sex": values["child_sex"],
            "order": values["birth_order"],
            "born_from": born_at - DUPLICATE_WINDOW,
            "born_to": born_at + DUPLICATE_WINDOW,
        },
    ).all()
    candidate_ids = [candidate_id for candidate_id, _ in candidates]
    values["duplicate_candidates"] = json.dumps(candidate_ids)
    values["previous_id"] = previous_id
    while not tracking.insert_unless_taken(connection, _SUBMISSIONS, values):
        # Another submission has this tracking number (rare): a new one, on a new receipt.
        values["tracking_number"] = tracking_number = tracking.new_tracking_number()
        values["receipt"] = receipt_text = _receipt_text(
            office, submission_id, sha, moment, tracking_number
        )
    # Duplicates are shown from both sides: the earlier submissions learn of this one.
    for candidate_id, known_ids in candidates:
        ids = json.loads(known_ids)
        if submission_id not in ids:
            connection.execute(
                update(_SUBMISSIONS)
                .where(_SUBMISSIONS.c.id == candidate_id)
                .values(duplicate_candidates=json.dumps([*ids, submission_id]))
            )

    # Numbers are allocated before the audit entry: every transaction takes the locks in the
    # order submission row, act record counter, IIN counter, audit head (last), so no two wait
    # for each other.
    registration = None
    submission: ToRegister | None = None
    if registry.auto_register and not candidate_ids:
        submission = ToRegister(
            id=submission_id,
            status=SubmissionStatus.RECEIVED.value,
            medical_record_id=medical_record_id,
            child_born_at=born_at,
            child_sex=values["child_sex"],
            dossier=text_body,
        )
        try:
            registration = _allocate(session, office.id, submission, moment, staff_id=None)
        except DomainError:
            # No number to be had now (the IIN range is full): a clerk registers it later.
            registration = None
    audit.record(
        session,
        actor=actor,
        role="mother" if mother else "public",
        action="submission.received",
        object_type=OBJECT_TYPE,
        object_id=submission_id,
        details={"dossier_sha256": sha, "previous_id": previous_id, "candidates": candidate_ids},
        at=moment,
    )
    outbox.record(session, EventKind.RECEIVED, submission_id, moment=moment)
    status = SubmissionStatus.RECEIVED.value
    if registration is not None and submission is not None:
        _complete_registration(
            session,
            registry,
            submission,
            registration,
            actor="system",
            role="system",
            staff_id=None,
            moment=moment,
        )
        status = SubmissionStatus.REGISTERED.value
    return Intake(
        submission_id=submission_id,
        status=status,
        created=True,
        report_text=report_text,
        receipt_text=receipt_text,
        duplicate_candidates=candidate_ids,
    )


def receipt_payload(receipt: Mapping[str, Any]) -> bytes:
    """The bytes a receipt's signature covers: the RFC 8785 form without `signature`."""
    return canonicalize({k: v for k, v in receipt.items() if k != "signature"})


def _receipt_text(
    office: Office, submission_id: str, sha: str, moment: datetime, tracking_number: str
) -> str:
    receipt = _signed_receipt(office, submission_id, sha, moment, tracking_number)
    return json.dumps(receipt, ensure_ascii=False)


def _signed_receipt(
    office: Office, submission_id: str, sha: str, moment: datetime, tracking_number: str
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "type": RECEIPT_TYPE,
        "submission_id": submission_id,
        "tracking_number": tracking.format_tracking_number(tracking_number),
        "dossier_sha256": sha,
        "received_at": moment.astimezone(UTC).isoformat(),
        "registry_office": {"bin": office.bin, "name": office.name},
    }
    receipt["signature"] = jws.sign_detached(
        receipt_payload(receipt),
        office.seal.certificate,
        office.seal.key,
        signing_time=moment,
        chain=office.seal.chain,
    )
    return receipt


# -- registration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationOutcome:
    """The registration's numbers; `created` is False when it had been registered before."""

    result: RegistrationPublic
    created: bool


def _locked_submission(session: Session, submission_id: str) -> Submission:
    submission = session.exec(
        select(Submission)
        .where(Submission.id == submission_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if submission is None:
        raise _not_found()
    return submission


@dataclass(frozen=True)
class ToRegister:
    """The columns of a submission that registration reads (a row of _TO_REGISTER)."""

    id: str
    status: str
    medical_record_id: str
    child_born_at: datetime
    child_sex: str
    dossier: str


@dataclass(frozen=True)
class Registered:
    """A registration inserted in this transaction (its columns; no ORM object is made)."""

    id: int
    submission_id: str
    registry_office_id: int
    year: int
    act_record_number: int
    child_iin: str
    registered_at: datetime


_REGISTRATIONS = Registration.__table__  # type: ignore[attr-defined]
# Registration runs plain Core statements: the ORM's unit of work (objects, flushes, a
# savepoint) cost more than the statements themselves.
_TO_REGISTER = (
    _SUBMISSIONS.select()
    .with_only_columns(
        _SUBMISSIONS.c.id,
        _SUBMISSIONS.c.status,
        _SUBMISSIONS.c.medical_record_id,
        _SUBMISSIONS.c.child_born_at,
        _SUBMISSIONS.c.child_sex,
        _SUBMISSIONS.c.dossier,
    )
    .where(_SUBMISSIONS.c.id == bindparam("submission"))
    .with_for_update()
)
_DECIDED = (
    update(_SUBMISSIONS)
    .where(_SUBMISSIONS.c.id == bindparam("submission"))
    .values(
        status=bindparam("new_status"),
        decided_by=bindparam("by"),
        decided_at=bindparam("at"),
    )
)
_CERTIFICATES = BirthCertificate.__table__  # type: ignore[attr-defined]
_INSERT_CERTIFICATE = insert(_CERTIFICATES)
# A registration whose medical record or child IIN is taken already is not inserted (and the
# transaction goes on, where a failed INSERT would abort it on PostgreSQL): the caller finds out
# which one from the empty RETURNING.
_INSERT_REGISTRATION = {
    name: dialect.insert(_REGISTRATIONS)
    .on_conflict_do_nothing()
    .returning(_REGISTRATIONS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def register_submission(
    session: Session,
    registry: Registry,
    submission_id: str,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime | None = None,
) -> RegistrationOutcome:
    """Register a received or in-review submission in the caller's transaction: the act record
    number (gapless per office and year), the child's IIN, the registration, the certificate,
    the new status and the audit entry all commit together or not at all.

    Registering again returns the first result (`created` False). Raises 404
    submission_not_found, 409 invalid_state (rejected, or the medical record registered through
    another submission), 503 iin_range_exhausted.
    """
    moment = moment or now()
    # The Core statements below go to the connection, which does not flush the session first
    # as session.execute did: whatever the caller changed is written before the submission is read.
    session.flush()
    row = session.connection().execute(_TO_REGISTER, {"submission": submission_id}).first()
    if row is None:
        raise _not_found()
    submission = ToRegister(**row._mapping)
    if submission.status == SubmissionStatus.REGISTERED.value:
        return RegistrationOutcome(_registration_result(session, submission.id), created=False)
    if submission.status not in PENDING:
        raise _invalid_state(submission, "registered")
    office = registry.office(session)
    registration = _allocate(session, office.id, submission, moment, staff_id=staff_id)
    certificate_id = _complete_registration(
        session,
        registry,
        submission,
        registration,
        actor=actor,
        role=role,
        staff_id=staff_id,
        moment=moment,
    )
    return RegistrationOutcome(
        RegistrationPublic(
            act_record_number=registration.act_record_number,
            child_iin=registration.child_iin,
            certificate_id=certificate_id,
        ),
        created=True,
    )


def _allocate(
    session: Session,
    office_id: int,
    submission: ToRegister,
    moment: datetime,
    *,
    staff_id: int | None,
) -> Registered:
    """The numbers and the registration row. The insert decides, with no look-up first: if the
    medical record is registered already, the act record number is given back (so none is lost
    even if the caller commits) and 409 is raised; an IIN some registration carries already
    (made before the counter) is skipped for the prefix's next serial."""
    year = local_date(moment).year
    born = local_date(submission.child_born_at)
    number = next_act_record_number(session, office_id, year)
    connection = session.connection()
    insert_registration = _INSERT_REGISTRATION[connection.dialect.name]
    while True:
        try:
            iin = next_child_iin(session, born, submission.child_sex, skip_registered=False)
        except IINRangeExhausted:
            give_back_act_record_number(session, office_id, year, number)
            raise
        values = {
            "submission_id": submission.id,
            "medical_record_id": submission.medical_record_id,
            "registry_office_id": office_id,
            "year": year,
            "act_record_number": number,
            "child_iin": iin,
            "registered_at": moment,
            "registered_by": staff_id,
        }
        registration_id = connection.execute(insert_registration, values).scalar_one_or_none()
        if registration_id is not None:
            return Registered(
                id=registration_id,
                submission_id=submission.id,
                registry_office_id=office_id,
                year=year,
                act_record_number=number,
                child_iin=iin,
                registered_at=moment,
            )
        _refused_registration(session, office_id, year, number, submission, iin)


def _refused_registration(
    session: Session, office_id: int, year: int, number: int, submission: ToRegister, iin: str
) -> None:
    """Why the registration was not inserted: returns if `iin` is taken (try the next one),
    raises 409 if the medical record (or the submission) is registered already."""
    taken = session.exec(
        select(Registration).where(
            or_(
                col(Registration.medical_record_id) == submission.medical_record_id,
                col(Registration.submission_id) == submission.id,
            )
        )
    ).first()
    if taken is not None:
        give_back_act_record_number(session, office_id, year, number)
        raise _already_registered(taken)
    if not iin_registered(session, iin):
        # Neither the record nor the IIN: the act record number itself is taken, which the
        # counter (the only way numbers are made) rules out. Never retried silently.
        raise RuntimeError("act record number taken although the counter allocated it")


def _already_registered(registration: Registration) -> DomainError:
    return DomainError(
        "invalid_state",
        f"this medical record is already registered (act record {registration.year}"
        f"/{registration.act_record_number})",
        409,
    )


def _complete_registration(
    session: Session,
    registry: Registry,
    submission: ToRegister,
    registration: Registered,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime,
) -> str:
    """The certificate, the submission's new status and the audit entry; the certificate id."""
    certificate = issue_certificate(session, registry.app, registration, submission)
    decision = {
        "submission": submission.id,
        "new_status": SubmissionStatus.REGISTERED.value,
        "by": staff_id,
        "at": moment,
    }
    connection = session.connection()
    connection.execute(_INSERT_CERTIFICATE, certificate)
    connection.execute(_DECIDED, decision)
    # A copy of the submission this session loaded before is read again when next used.
    loaded = session.identity_map.get(session.identity_key(Submission, submission.id))
    if loaded is not None:
        session.expire(loaded)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="registration.registered",
        object_type=OBJECT_TYPE,
        object_id=submission.id,
        details={
            "act_record_number": registration.act_record_number,
            "year": registration.year,
            "child_iin": registration.child_iin,
            "certificate_id": certificate["id"],
        },
        at=moment,
    )
    outbox.record(
        session,
        EventKind.REGISTERED,
        submission.id,
        moment=moment,
        act_record_number=registration.act_record_number,
        year=registration.year,
        certificate_id=certificate["id"],
    )
    return str(certificate["id"])


def _registration_of(session: Session, submission_id: str) -> Registration | None:
    return session.exec(
        select(Registration).where(Registration.submission_id == submission_id)
    ).first()


def _certificate_of(session: Session, registration: Registration) -> BirthCertificate | None:
    return session.exec(
        select(BirthCertificate).where(BirthCertificate.registration_id == registration.id)
    ).first()


def _registration_result(session: Session, submission_id: str) -> RegistrationPublic:
    registration = _registration_of(session, submission_id)
    if registration is None:  # pragma: no cover - registered submissions have one
        raise DomainError("invalid_state", "the registration is missing", 500)
    return _result(session, registration)


def _result(session: Session, registration: Registration) -> RegistrationPublic:
    certificate = _certificate_of(session, registration)
    return RegistrationPublic(
        act_record_number=registration.act_record_number,
        child_iin=registration.child_iin,
        certificate_id=certificate.id if certificate else "",
    )


def issue_certificate(
    session: Session, app: Any, registration: Registered, submission: ToRegister
) -> dict[str, Any]:
    """The certificate row of a registration made in this transaction (so it has none yet: the
    unique registration_id would refuse a second): fields and sealed QR; the PDF is rendered
    on first download."""
    context = certificates.certificate_context(app, session)
    return certificates.certificate_values(context, registration, submission)


# -- rejection ----------------------------------------------------------------------------------


def reject_submission(
    session: Session,
    submission_id: str,
    reason: str,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime | None = None,
) -> Submission:
    """Reject a received or in-review submission with a reason the mother will read; she may
    correct the application and send a new dossier, which links back to this one. Raises 404
    submission_not_found, 409 invalid_state."""
    moment = moment or now()
    submission = _locked_submission(session, submission_id)
    if submission.status not in PENDING:
        raise _invalid_state(submission, "rejected")
    submission.status = SubmissionStatus.REJECTED.value
    submission.rejection_reason = reason
    submission.decided_by = staff_id
    submission.decided_at = moment
    session.add(submission)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="submission.rejected",
        object_type=OBJECT_TYPE,
        object_id=submission.id,
        details={"reason": reason},
        at=moment,
    )
    outbox.record(session, EventKind.REJECTED, submission.id, moment=moment, reason=reason)
    session.flush()
    return submission


# -- the queue ----------------------------------------------------------------------------------


def summarise(
    submission: Submission, dossier: Mapping[str, Any] | None = None
) -> SubmissionSummary:
    """The queue's line for a submission (names taken from its verified dossier)."""
    if dossier is None:
        dossier = json.loads(submission.dossier)
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    child = record["child"]
    father = application.get("father")
    names = ("surname", "given_name", "patronymic")
    return SubmissionSummary(
        id=submission.id,
        status=submission.status,
        received_at=submission.received_at,
        facility=OfficePublic(bin=submission.facility_bin, name=record["facility"]["name"]),
        mother=Person(iin=submission.mother_iin, **{k: record["mother"].get(k) for k in names}),
        father=Person(iin=father.get("iin"), **{k: father.get(k) for k in names})
        if isinstance(father, Mapping)
        else None,
        child=ChildSummary(
            **{k: application["child"].get(k) for k in names},
            sex=submission.child_sex,
            born_at=submission.child_born_at,
            plurality=child.get("plurality"),
            birth_order=submission.birth_order,
        ),
        medical_record_id=submission.medical_record_id,
        application_id=submission.application_id,
        duplicate_candidates=json.loads(submission.duplicate_candidates),
        previous_id=submission.previous_id,
        decided_at=submission.decided_at,
        rejection_reason=submission.rejection_reason,
        tracking_number=tracking.format_tracking_number(submission.tracking_number),
    )


def _encode_cursor(submission: Submission) -> str:
    raw = json.dumps([submission.received_at.isoformat(), submission.id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment_text, submission_id = json.loads(raw)
        # Within the years the service computes with: a year-1 or year-9999 time is refused here,
        # not by an OverflowError when it is stored as UTC.
        moment = parse_moment(moment_text)
        if not isinstance(submission_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise DomainError("invalid_cursor", "the cursor is not one this queue gave") from None
    return moment, submission_id


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TIME_ZONE).astimezone(UTC)


def list_submissions(
    session: Session,
    *,
    status: SubmissionStatus | None = None,
    facility: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    after: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> SubmissionPage:
    """The queue, oldest first (received_at, then id), a page at a time.

    Filters: status; facility (its BIN); the dates of receipt, `date_from` to `date_to`
    inclusive, as dates in Kazakhstan. `after` is the previous page's `next` cursor. Raises 400
    invalid_cursor.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = select(Submission)
    if status is not None:
        statement = statement.where(Submission.status == SubmissionStatus(status).value)
    if facility:
        statement = statement.where(Submission.facility_bin == facility)
    if date_from is not None:
        statement = statement.where(col(Submission.received_at) >= _local_midnight(date_from))
    if date_to is not None:
        statement = statement.where(
            col(Submission.received_at) < _local_midnight(date_to + timedelta(days=1))
        )
    if after:
        moment, last_id = _decode_cursor(after)
        statement = statement.where(
            or_(
                col(Submission.received_at) > moment,
                (col(Submission.received_at) == moment) & (col(Submission.id) > last_id),
            )
        )
    rows = session.exec(
        statement.order_by(col(Submission.received_at), col(Submission.id)).limit(limit + 1)
    ).all()
    page = rows[:limit]
    return SubmissionPage(
        items=[summarise(row) for row in page],
        next=_encode_cursor(page[-1]) if len(rows) > limit else None,
    )


def open_submission(
    session: Session, submission_id: str, *, actor: str, role: str
) -> SubmissionDetail:
    """A clerk opens a submission: received becomes in review (audited), and everything the
    clerk needs to decide comes back. Raises 404 submission_not_found."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise _not_found()
    if submission.status == SubmissionStatus.RECEIVED.value:
        submission = _locked_submission(session, submission_id)
        if submission.status == SubmissionStatus.RECEIVED.value:
            submission.status = SubmissionStatus.IN_REVIEW.value
            session.add(submission)
            audit.record(
                session,
                actor=actor,
                role=role,
                action="submission.opened",
                object_type=OBJECT_TYPE,
                object_id=submission.id,
            )
            session.flush()
    return submission_detail(session, submission)


def submission_detail(session: Session, submission: Submission) -> SubmissionDetail:
    """Everything about one submission, without changing it."""
    dossier = json.loads(submission.dossier)
    candidate_ids: list[str] = json.loads(submission.duplicate_candidates)
    candidates = _by_ids(session, candidate_ids)
    history = session.exec(
        select(AuditEntry)
        .where(AuditEntry.object_type == OBJECT_TYPE, AuditEntry.object_id == submission.id)
        .order_by(col(AuditEntry.seq))
    ).all()
    next_ids = session.exec(
        select(Submission.id)
        .where(Submission.previous_id == submission.id)
        .order_by(col(Submission.received_at))
    ).all()
    registration = _registration_of(session, submission.id)
    registration_detail = None
    if registration is not None:
        certificate = _certificate_of(session, registration)
        registration_detail = RegistrationDetail(
            act_record_number=registration.act_record_number,
            child_iin=registration.child_iin,
            certificate_id=certificate.id if certificate else "",
            year=registration.year,
            registered_at=registration.registered_at,
            registered_by=registration.registered_by,
        )
    return SubmissionDetail(
        **summarise(submission, dossier).model_dump(),
        dossier=dossier,
        report=json.loads(submission.report),
        receipt=json.loads(submission.receipt),
        candidates=[summarise(c) for c in candidates],
        history=[
            HistoryEntry(seq=e.seq, at=e.at, actor=e.actor, role=e.role, action=e.action)
            for e in history
        ],
        next_ids=list(next_ids),
        registration=registration_detail,
    )


def _by_ids(session: Session, ids: Sequence[str]) -> list[Submission]:
    if not ids:
        return []
    found = {
        s.id: s for s in session.exec(select(Submission).where(col(Submission.id).in_(ids))).all()
    }
    return [found[i] for i in ids if i in found]


def submission_status(session: Session, submission_id: str) -> SubmissionStatusPublic:
    """What the sender may follow with the submission id the registry gave them (an unguessable
    UUID4, known only to the sender and the clerks). Raises 404 submission_not_found."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise _not_found()
    certificate_id = None
    if submission.status == SubmissionStatus.REGISTERED.value:
        certificate_id = _registration_result(session, submission.id).certificate_id or None
    return SubmissionStatusPublic(
        id=submission.id,
        status=submission.status,
        received_at=submission.received_at,
        decided_at=submission.decided_at,
        rejection_reason=submission.rejection_reason,
        certificate_id=certificate_id,
        tracking_number=tracking.format_tracking_number(submission.tracking_number),
    )
