"""The ward's work: births, enrollments, the three key paths, revocation and mothers' progress.

Routes (the JSON API in `api.py`, the pages later) are thin: they call these functions with the
request session, a `WardContext` and the moment (`birthreg.models.now()`), and render what comes
back. The functions add and flush; the request session commits or rolls back. The one exception
is an enrollment code: the attempt is counted against the client's address in a transaction of
its own before the code is looked at (`birthreg.throttle.reserve`), so that neither a refusal's
rollback nor concurrent guesses lose a count.

Nothing here puts an IIN or a name in the audit trail or in an error detail: audit entries name
births, enrollments and certificates by their ids and serials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import or_, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from birthreg import audit, throttle
from birthreg.auth import actor_of
from birthreg.auth.passwords import password_problem
from birthreg.config import Settings
from birthreg.db import reading
from birthreg.errors import DomainError, NotFound
from birthreg.models import (
    Birth,
    Enrollment,
    EnrollmentRole,
    Facility,
    IssuedCertificate,
    KeyPath,
    Progress,
    StaffUser,
)
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.pki.seals import Seal, load_seal
from birthreg.pki.service import certification_authority, parse_serial, record_issued, revoke
from birthreg.ward import codes
from birthreg.ward.schemas import (
    BirthIn,
    EnrollIn,
    FatherEnrollmentIn,
    MotherEnrollmentIn,
    PersonIn,
)
from signing import cms
from signing.ca import (
    CertificationAuthority,
    Individual,
    Profile,
    enrollment_challenge,
    export_pkcs12,
)
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.errors import InvalidIdentityNumber, InvalidName, SigningError
from signing.identity import iin_sex, validate_iin
from signing.medical_record import (
    CLOCK_SKEW,
    LENGTH_RANGE_CM,
    MAX_PLURALITY,
    MAX_RECORDING_DELAY,
    MEDICAL_RECORD_TYPE,
    WEIGHT_RANGE_G,
)
from signing.names import validate_person_name
from signing.report import SubIndication
from signing.trust import TrustAnchors, Validator

#: The ward's day (the births list) is a day in Almaty.
WARD_TIME_ZONE = ZoneInfo("Asia/Almaty")
ENROLLMENT_LIFETIME = timedelta(minutes=30)
#: Codes tried per client address: twenty within 15 minutes, then a wait of 15 minutes that
#: doubles with each further try (up to a day). A wrong secret never locks the code itself:
#: whoever knows a mother's lookup could otherwise lock her out of her own code.
ENROLL_ADDRESS = throttle.Policy(
    "enroll:address",
    free=20,
    window=timedelta(minutes=15),
    delay=timedelta(minutes=15),
    max_delay=timedelta(hours=24),
)
#: Compared against when a lookup finds nothing, so that an unknown code costs what a wrong one
#: does.
_NO_SECRET_HMAC = "0" * 64
MAX_ATTENDANT_LENGTH = 200
MIN_KEY_FILE_PASSWORD = 10
MAX_KEY_FILE_PASSWORD = 1024
LOOKUP_ATTEMPTS = 20

REVOCATION_REQUEST_TYPE = "birthreg.revocation-request/1"
#: How far a holder's revocation request may be from our clock (it cannot be replayed later).
REVOCATION_REQUEST_WINDOW = timedelta(minutes=10)
HOLDER_REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "unspecified": x509.ReasonFlags.unspecified,
}
#: The ward's reasons, as RFC 5280 reasons in the CRL and OCSP. All three are keyCompromise:
#: a lost phone holds the key where anyone who picks it up may use it, and a certificate given
#: to the wrong person binds the named person's identity to a key someone else holds. Either
#: way no signature made with that key can be trusted, whenever it claims to have been made,
#: and keyCompromise is the one reason that tells relying parties so (affiliationChanged or
#: cessationOfOperation would leave earlier signatures standing). The ward's own reason stays
#: in the answer and in the audit entry.
STAFF_REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "lost_phone": x509.ReasonFlags.key_compromise,
    "wrong_person": x509.ReasonFlags.key_compromise,
    "key_compromise": x509.ReasonFlags.key_compromise,
}

_PROGRESS_ORDER = (
    Progress.RECORDED,
    Progress.KEY_ISSUED,
    Progress.APPLICATION_SIGNED,
    Progress.REGISTERED,
)


# -- errors ----------------------------------------------------------------------------------


class WardError(DomainError):
    """A refusal with a machine code, a status and, for a bad input, the offending `field`
    (e.g. "mother.iin"). `extra` is more of the error body (e.g. a verification report)."""

    def __init__(
        self,
        code: str,
        detail: str,
        status: int = 400,
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code, detail, status)
        self.field = field
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


# -- what the functions need -----------------------------------------------------------------


@dataclass
class WardContext:
    """The service's settings, TEST CA and engine, and the facility seals (loaded once)."""

    settings: Settings
    ca: CertificationAuthority
    engine: Engine
    _seals: dict[str, Seal] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def facility_seal(self, facility: Facility) -> Seal:
        with self._lock:
            seal = self._seals.get(facility.bin)
            if seal is None:
                seal = load_seal(self.settings, "facility", facility.bin, self.ca.chain)
                self._seals[facility.bin] = seal
        return seal

    @property
    def secret_key(self) -> str:
        return self.settings.secret_key_value()


def ward_context(app: Any) -> WardContext:
    """The app's WardContext (made on first use, like the CA)."""
    context: WardContext | None = getattr(app.state, "ward", None)
    ca = certification_authority(app)
    if context is None or context.ca is not ca or context.engine is not app.state.engine:
        context = WardContext(app.state.settings, ca, app.state.engine)
        app.state.ward = context
    return context


# -- facilities and documents ----------------------------------------------------------------


def staff_facility(session: Session, staff: StaffUser) -> Facility:
    """The staff member's facility; a member with none works for the only facility there is."""
    if staff.facility_id is not None:
        facility = session.get(Facility, staff.facility_id)
        if facility is not None:
            return facility
    else:
        facilities = session.exec(select(Facility).order_by(col(Facility.id)).limit(2)).all()
        if len(facilities) == 1:
            return facilities[0]
    raise WardError(
        "no_facility", "this staff account is not attached to a maternity facility", 403
    )


@dataclass(frozen=True)
class SignedRecord:
    document: dict[str, Any]
    signature: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document, "signature": self.signature}


def signed_medical_record(birth: Birth) -> SignedRecord:
    return SignedRecord(
        json.loads(birth.medical_record), {"format": "cms", "value": birth.seal_signature}
    )


def _facility(facility: Facility) -> dict[str, str]:
    """The record's facility: BIN, name and, when known, its locality (the place of birth)."""
    if facility.locality:
        return {"bin": facility.bin, "name": facility.name, "locality": facility.locality}
    return {"bin": facility.bin, "name": facility.name}


def _time_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# -- validation ------------------------------------------------------------------------------


def _check_iin(iin: str, where: str, sex: Literal["F", "M"]) -> str:
    try:
        validate_iin(iin)
    except InvalidIdentityNumber as error:
        raise WardError("invalid_iin", f"{where}: {error.detail}", field=where) from None
    if iin_sex(iin) != sex:
        who = "a mother's" if sex == "F" else "a father's"
        digit = "female (even)" if sex == "F" else "male (odd)"
        raise WardError(
            "iin_sex_mismatch",
            f"{where}: {who} IIN has a {digit} century-and-sex digit",
            field=where,
        )
    return iin


def _check_name(value: str | None, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    try:
        return validate_person_name(value or "", field=where)
    except InvalidName as error:
        raise WardError("invalid_name", error.detail, field=where) from None


def _person(person: PersonIn, where: str, sex: Literal["F", "M"]) -> dict[str, str]:
    result = {
        "iin": _check_iin(person.iin, f"{where}.iin", sex),
        "surname": _check_name(person.surname, f"{where}.surname") or "",
        "given_name": _check_name(person.given_name, f"{where}.given_name") or "",
    }
    patronymic = _check_name(person.patronymic, f"{where}.patronymic", optional=True)
    if patronymic is not None:
        result["patronymic"] = patronymic
    return result


def _check_range(value: int, bounds: tuple[int, int], code: str, where: str, unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise WardError(code, f"{where} must be between {low} and {high} {unit}", field=where)


def medical_record_document(
    record: BirthIn, facility: Facility, *, record_id: str, moment: datetime
) -> dict[str, Any]:
    """The medical birth record of DESIGN.md, after the registry's business rules (the same
    constants as `signing.medical_record`). Raises WardError naming the field at fault."""
    mother = _person(record.mother, "mother", "F")
    child = record.child
    if child.born_at > moment + CLOCK_SKEW:
        raise WardError(
            "birth_in_future", "the time of birth is in the future", field="child.born_at"
        )
    if moment - child.born_at > MAX_RECORDING_DELAY:
        raise WardError(
            "birth_too_old",
            f"a birth is recorded within {MAX_RECORDING_DELAY.days} days",
            field="child.born_at",
        )
    _check_range(child.weight_g, WEIGHT_RANGE_G, "weight_out_of_range", "child.weight_g", "g")
    _check_range(child.length_cm, LENGTH_RANGE_CM, "length_out_of_range", "child.length_cm", "cm")
    if not 1 <= child.plurality <= MAX_PLURALITY:
        raise WardError(
            "invalid_birth_order",
            f"plurality must be between 1 and {MAX_PLURALITY}",
            field="child.plurality",
        )
    if not 1 <= child.birth_order <= child.plurality:
        raise WardError(
            "invalid_birth_order",
            "birth order must be between 1 and the plurality",
            field="child.birth_order",
        )
    attendant = record.attendant.strip()
    if not attendant or len(attendant) > MAX_ATTENDANT_LENGTH or not attendant.isprintable():
        raise WardError(
            "invalid_attendant",
            f"the attendant is 1 to {MAX_ATTENDANT_LENGTH} printable characters",
            field="attendant",
        )
    return {
        "type": MEDICAL_RECORD_TYPE,
        "id": record_id,
        "facility": _facility(facility),
        "mother": mother,
        "child": {
            "sex": child.sex,
            "born_at": _time_text(child.born_at),
            "weight_g": child.weight_g,
            "length_cm": child.length_cm,
            "plurality": child.plurality,
            "birth_order": child.birth_order,
        },
        "attendant": attendant,
        "recorded_at": _time_text(moment.astimezone(UTC)),
    }


# -- births ----------------------------------------------------------------------------------


def record_birth(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    record: BirthIn,
    moment: datetime,
) -> Birth:
    """Validate, build, seal (CMS detached by the facility seal) and store a medical birth
    record; audited `birth.recorded`. Raises WardError (400, naming the field) and stores
    nothing for a bad record."""
    facility = staff_facility(session, staff)
    record_id = str(uuid.uuid4())
    document = medical_record_document(record, facility, record_id=record_id, moment=moment)
    content = canonicalize(document)
    seal = ward.facility_seal(facility)
    signature = cms.sign_detached(
        content,
        seal.certificate,
        seal.key,
        signing_time=moment.replace(microsecond=0),
        chain=seal.chain,
    )
    digest = hashlib.sha256(content).hexdigest()
    assert facility.id is not None and staff.id is not None
    birth = Birth(
        id=record_id,
        facility_id=facility.id,
        medical_record=content.decode("utf-8"),
        medical_record_sha256=digest,
        seal_signature=base64.b64encode(signature).decode("ascii"),
        born_at=record.child.born_at.replace(microsecond=0),
        # The column keeps the full moment (the list's order); the document has whole seconds.
        recorded_at=moment,
        recorded_by=staff.id,
        progress=Progress.RECORDED.value,
    )
    session.add(birth)
    session.flush()
    audit.record(
        session,
        actor=actor_of(staff),
        role=staff.role,
        action="birth.recorded",
        object_type="birth",
        object_id=birth.id,
        details={"medical_record_sha256": digest, "facility_id": facility.id},
        at=moment,
    )
    return birth


EnrollmentState = Literal["pending", "used", "expired", "locked"]


def enrollment_state(enrollment: Enrollment, moment: datetime) -> EnrollmentState:
    if enrollment.used_at is not None:
        return "used"
    if enrollment.locked_at is not None:
        return "locked"
    if enrollment.expires_at <= moment:
        return "expired"
    return "pending"


@dataclass(frozen=True)
class EnrollmentView:
    """An enrollment as the ward sees it (never its code)."""

    id: str
    role: str
    state: EnrollmentState
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    key_path: str | None
    certificate_serial: str | None
    certificate_revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
            "key_path": self.key_path,
            "certificate_serial": self.certificate_serial,
            "certificate_revoked": self.certificate_revoked,
        }


@dataclass(frozen=True)
class BirthView:
    """A birth for the ward's list and detail pages."""

    birth: Birth
    document: dict[str, Any]
    enrollments: tuple[EnrollmentView, ...]

    @property
    def progress(self) -> Progress:
        return Progress(self.birth.progress)

    def to_json(self, *, with_record: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.birth.id,
            "mother": self.document["mother"],
            "child": self.document["child"],
            "recorded_at": self.birth.recorded_at,
            "progress": self.birth.progress,
            "enrollments": [e.to_json() for e in self.enrollments],
        }
        if with_record:
            result["medical_record"] = signed_medical_record(self.birth).to_json()
        return result


def _views(session: Session, births: Sequence[Birth], moment: datetime) -> list[BirthView]:
    ids = [birth.id for birth in births]
    by_birth: dict[str, list[EnrollmentView]] = {birth_id: [] for birth_id in ids}
    if ids:
        rows = session.exec(
            select(Enrollment, IssuedCertificate)
            .join(
                IssuedCertificate,
                col(IssuedCertificate.serial) == col(Enrollment.certificate_serial),
                isouter=True,
            )
            .where(col(Enrollment.birth_id).in_(ids))
            .order_by(col(Enrollment.created_at).desc())
        ).all()
        for enrollment, certificate in rows:
            by_birth[enrollment.birth_id].append(
                EnrollmentView(
                    id=enrollment.id,
                    role=enrollment.role,
                    state=enrollment_state(enrollment, moment),
                    created_at=enrollment.created_at,
                    expires_at=enrollment.expires_at,
                    used_at=enrollment.used_at,
                    key_path=enrollment.key_path,
                    certificate_serial=enrollment.certificate_serial,
                    certificate_revoked=certificate is not None
                    and certificate.revoked_at is not None,
                )
            )
    return [
        BirthView(birth, json.loads(birth.medical_record), tuple(by_birth[birth.id]))
        for birth in births
    ]


def ward_day(moment: datetime) -> date:
    """The date in Almaty at `moment`."""
    return moment.astimezone(WARD_TIME_ZONE).date()


def list_births(
    session: Session, *, staff: StaffUser, day: date | None = None, moment: datetime
) -> list[BirthView]:
    """The facility's births born or recorded on `day` (Almaty; today by default), newest
    record first, each with its enrollments and progress."""
    facility = staff_facility(session, staff)
    day = day or ward_day(moment)
    start = datetime.combine(day, time(0), WARD_TIME_ZONE).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), WARD_TIME_ZONE).astimezone(UTC)
    births = session.exec(
        select(Birth)
        .where(Birth.facility_id == facility.id)
        .where(
            or_(
                (col(Birth.born_at) >= start) & (col(Birth.born_at) < end),
                (col(Birth.recorded_at) >= start) & (col(Birth.recorded_at) < end),
            )
        )
        .order_by(col(Birth.recorded_at).desc(), col(Birth.born_at).desc())
    ).all()
    return _views(session, births, moment)


def _facility_birth(session: Session, staff: StaffUser, birth_id: str) -> Birth:
    facility = staff_facility(session, staff)
    birth = session.get(Birth, birth_id) if len(birth_id) <= 36 else None
    if birth is None or birth.facility_id != facility.id:
        raise NotFound("birth_not_found", "no birth with that id at this facility")
    return birth


def get_birth(session: Session, *, staff: StaffUser, birth_id: str, moment: datetime) -> BirthView:
    """One birth of the staff member's facility, with its sealed record and enrollments."""
    return _views(session, [_facility_birth(session, staff, birth_id)], moment)[0]


# -- progress --------------------------------------------------------------------------------


def set_progress(session: Session, birth: Birth, progress: Progress) -> bool:
    """Move a birth's progress forward to `progress` (never back); True when it moved."""
    if _PROGRESS_ORDER.index(progress) <= _PROGRESS_ORDER.index(Progress(birth.progress)):
        return False
    birth.progress = progress.value
    session.add(birth)
    session.flush()
    return True


def advance_progress(session: Session, birth_id: str, progress: Progress) -> bool:
    """For the later steps (the mother signed her application; the registry registered the
    birth): move the birth with that id forward. False when it is unknown or already there."""
    birth = session.get(Birth, birth_id, with_for_update=True)
    if birth is None:
        return False
    return set_progress(session, birth, progress)


# -- enrollments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedEnrollment:
    """A new enrollment and its code, which exists only here: show it once."""

    enrollment: Enrollment
    code: codes.EnrollmentCode
    url: str
    qr_svg: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.enrollment.id,
            "code": self.code.canonical,
            "expires_at": self.enrollment.expires_at,
            "url": self.url,
            "qr_svg": self.qr_svg,
        }


def _enrollee(
    birth: Birth, request: MotherEnrollmentIn | FatherEnrollmentIn
) -> tuple[EnrollmentRole, dict[str, str]]:
    mother = json.loads(birth.medical_record)["mother"]
    if isinstance(request, MotherEnrollmentIn):
        return EnrollmentRole.MOTHER, mother
    # A male century-and-sex digit: so never the mother's IIN, whose digit is female.
    return EnrollmentRole.FATHER, _person(request, "father", "M")


def start_enrollment(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    birth_id: str,
    request: MotherEnrollmentIn | FatherEnrollmentIn,
    moment: datetime,
) -> StartedEnrollment:
    """A one-time code for the mother (identity from the medical record) or the father
    (identity typed by staff from his ID). Any earlier unused code for the same birth and role
    expires now. Audited `enrollment.started`."""
    birth = _facility_birth(session, staff, birth_id)
    role, person = _enrollee(birth, request)
    session.execute(
        update(Enrollment)
        .where(col(Enrollment.birth_id) == birth.id)
        .where(col(Enrollment.role) == role.value)
        .where(col(Enrollment.used_at).is_(None))
        .where(col(Enrollment.expires_at) > moment)
        .values(expires_at=moment)
    )
    assert staff.id is not None
    enrollment_id = str(uuid.uuid4())
    for _ in range(LOOKUP_ATTEMPTS):
        code = codes.new_code()
        taken = session.exec(select(Enrollment.id).where(Enrollment.lookup == code.lookup)).first()
        if taken is not None:
            continue
        enrollment = Enrollment(
            id=enrollment_id,
            birth_id=birth.id,
            role=role.value,
            iin=person["iin"],
            surname=person["surname"],
            given_name=person["given_name"],
            patronymic=person.get("patronymic"),
            lookup=code.lookup,
            secret_hmac=codes.secret_hmac(ward.secret_key, code),
            expires_at=moment + ENROLLMENT_LIFETIME,
            created_by=staff.id,
            created_at=moment,
        )
        try:
            # A savepoint: another worker may take the same lookup between check and insert.
            with session.begin_nested():
                session.add(enrollment)
        except IntegrityError:
            continue
        break
    else:  # pragma: no cover - 20 collisions in a row: the lookup space is nearly full
        raise WardError("no_code_available", "no enrollment code is free; try again", 503)
    audit.record(
        session,
        actor=actor_of(staff),
        role=staff.role,
        action="enrollment.started",
        object_type="enrollment",
        object_id=enrollment.id,
        details={"birth_id": birth.id, "role": role.value},
        at=moment,
    )
    url = codes.enrollment_url(ward.settings.base_url, code)
    return StartedEnrollment(enrollment, code, url, codes.qr_svg(url))


# -- the code holder's side: one certificate per code ----------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    enrollment: Enrollment
    medical_record: SignedRecord

    def to_json(self) -> dict[str, Any]:
        return {
            "certificate_pem": self.certificate.public_bytes(Encoding.PEM).decode("ascii"),
            "chain_pem": "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in self.chain),
            "medical_record": self.medical_record.to_json(),
        }


def _stored_secret_hmac(session: Session, lookup: str) -> str | None:
    """The stored HMAC of the code with this lookup. Read before the session takes any lock
    (a plain read), so that a right code gives its throttle count back for good, in a
    transaction of its own, whatever happens after; inside a transaction a script already has
    open (the demo enrolls in its own), through that transaction, which alone sees its rows."""
    statement = select(Enrollment.secret_hmac).where(Enrollment.lookup == lookup)
    if session.in_transaction():
        return session.exec(statement).first()
    with reading(session.get_bind()) as connection:  # type: ignore[arg-type]
        return connection.execute(statement).scalar_one_or_none()


def _redeemable(
    session: Session,
    ward: WardContext,
    text: str,
    *,
    client_address: str,
    moment: datetime,
) -> tuple[Enrollment, codes.EnrollmentCode]:
    """The enrollment a code opens, locked for update, after every check on the code.

    An unknown lookup and a wrong secret get the same answer (400 invalid_code), so that trying
    codes tells nothing about which lookups exist."""
    try:
        code = codes.parse_code(text)
    except codes.MalformedCode as error:
        raise WardError("invalid_code", str(error), field="code") from None
    reservation = throttle.reserve(
        session,
        [(ENROLL_ADDRESS, ENROLL_ADDRESS.key(client_address))],
        moment=moment,
        code="too_many_attempts",
        detail="too many wrong codes; try again later",
    )
    stored = _stored_secret_hmac(session, code.lookup)
    if not codes.secret_matches(ward.secret_key, code, stored or _NO_SECRET_HMAC) or not stored:
        raise WardError(
            "invalid_code",
            "this code is not valid: check it, or ask the ward for a new one",
            field="code",
        )
    reservation.succeeded(session)
    enrollment = session.exec(
        select(Enrollment).where(Enrollment.lookup == code.lookup).with_for_update()
    ).one()
    if enrollment.locked_at is not None:
        raise WardError(
            "code_locked", "this code is locked; ask the ward for a new one", 423
        )
    if enrollment.expires_at <= moment:
        raise WardError("code_expired", "this code has expired; ask the ward for a new one", 410)
    if enrollment.used_at is not None:
        raise WardError("code_used", "this code has already been used", 409)
    return enrollment, code


def _identity(enrollment: Enrollment) -> Individual:
    return Individual(
        iin=enrollment.iin,
        surname=enrollment.surname,
        given_name=enrollment.given_name,
        patronymic=enrollment.patronymic,
    )


def _mark_used(
    session: Session, enrollment: Enrollment, key_path: KeyPath, serial: str, moment: datetime
) -> None:
    """Spend the enrollment: a conditional UPDATE, so that of two requests racing with the same
    code exactly one changes the row; the other is refused and its transaction rolled back."""
    result = session.execute(
        update(Enrollment)
        .where(col(Enrollment.id) == enrollment.id)
        .where(col(Enrollment.used_at).is_(None))
        .where(col(Enrollment.locked_at).is_(None))
        .where(col(Enrollment.expires_at) > moment)
        .values(used_at=moment, key_path=key_path.value, certificate_serial=serial)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        raise WardError("code_used", "this code has already been used", 409)
    session.refresh(enrollment)


def _issued(
    session: Session,
    enrollment: Enrollment,
    certificate: x509.Certificate,
    key_path: KeyPath,
    *,
    actor: str,
    role: str,
    moment: datetime,
) -> Birth:
    serial = format(certificate.serial_number, "x")
    _mark_used(session, enrollment, key_path, serial, moment)
    record_issued(session, certificate, Profile.INDIVIDUAL, moment)
    birth = session.get(Birth, enrollment.birth_id, with_for_update=True)
    assert birth is not None
    if enrollment.role == EnrollmentRole.MOTHER.value:
        set_progress(session, birth, Progress.KEY_ISSUED)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="certificate.issued",
        object_type="certificate",
        object_id=serial,
        details={
            "enrollment_id": enrollment.id,
            "birth_id": enrollment.birth_id,
            "key_path": key_path.value,
        },
        at=moment,
    )
    return birth


def _b64decode(text: str, *, urlsafe: bool) -> bytes:
    cleaned = "".join(text.split())
    if urlsafe:
        cleaned = cleaned.rstrip("=")
        cleaned += "=" * (-len(cleaned) % 4)
        return base64.urlsafe_b64decode(cleaned.encode("ascii"))
    return base64.b64decode(cleaned.encode("ascii"), validate=True)


def enroll(
    session: Session,
    ward: WardContext,
    *,
    request: EnrollIn,
    client_address: str,
    moment: datetime,
) -> IssuedKey:
    """Spend a one-time code on a certificate for the key in a CSR, or for a WebCrypto public key
    with its proof of possession over `enrollment_challenge(code in canonical form)`.

    The certificate names the person the ward enrolled, never what the CSR says. Refusals, in
    order: 400 invalid_request (both or neither of csr_pem and public_key+proof), 400
    invalid_code (malformed), 429 too_many_attempts (this address), 400 invalid_code (unknown,
    or a wrong secret: the same answer, counted against the address, never the code), 423
    code_locked, 410 code_expired, 409 code_used, then the signing core's 400s (weak_key,
    invalid_certificate_request, proof_of_possession_failed). Audited `certificate.issued`."""
    has_csr = request.csr_pem is not None
    has_key = request.public_key is not None or request.proof is not None
    if has_csr == has_key or (has_key and (request.public_key is None or request.proof is None)):
        raise WardError(
            "invalid_request",
            "send csr_pem, or public_key with proof (not both)",
        )
    enrollment, code = _redeemable(
        session, ward, request.code, client_address=client_address, moment=moment
    )
    subject = _identity(enrollment)
    if request.csr_pem is not None:
        key_path = KeyPath.CSR
        certificate = ward.ca.issue_from_csr(
            request.csr_pem.encode("utf-8"), subject, moment=moment
        )
    else:
        assert request.public_key is not None and request.proof is not None
        key_path = KeyPath.WEBCRYPTO
        try:
            urlsafe = "-" in request.public_key or "_" in request.public_key
            spki = _b64decode(request.public_key, urlsafe=urlsafe)
        except (binascii.Error, ValueError):
            raise WardError(
                "invalid_certificate_request", "public_key is not base64", field="public_key"
            ) from None
        try:
            proof = _b64decode(request.proof, urlsafe=True)
        except (binascii.Error, ValueError):
            raise WardError(
                "proof_of_possession_failed", "proof is not base64url", field="proof"
            ) from None
        certificate = ward.ca.issue_from_spki(
            spki, proof, enrollment_challenge(code.canonical), subject, moment=moment
        )
    birth = _issued(
        session,
        enrollment,
        certificate,
        key_path,
        actor=f"enrollment:{enrollment.id}",
        role="holder",
        moment=moment,
    )
    return IssuedKey(certificate, ward.ca.chain, enrollment, signed_medical_record(birth))


# -- the ward desk: a PKCS#12 file made here, handed over once -------------------------------


@dataclass(frozen=True)
class KeyFile:
    """A PKCS#12 file to stream once; it is never written anywhere."""

    data: bytes = field(repr=False)
    filename: str
    serial: str


def issue_pkcs12(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    enrollment_id: str,
    password: str,
    moment: datetime,
) -> KeyFile:
    """Make a key at the desk for an unused, unexpired, unlocked enrollment of this facility and
    return it as a PKCS#12 file under `password` (10 to 1024 characters, no control
    characters: birthreg.auth.passwords). Refusals: 400 weak_password, 404 enrollment_not_found,
    423 code_locked, 410 code_expired, 409 code_used."""
    problem = password_problem(
        password, minimum=MIN_KEY_FILE_PASSWORD, maximum=MAX_KEY_FILE_PASSWORD
    )
    if problem is not None:
        raise WardError("weak_password", f"the key file password: {problem}", field="password")
    facility = staff_facility(session, staff)
    enrollment = (
        session.exec(
            select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update()
        ).one_or_none()
        if len(enrollment_id) <= 36
        else None
    )
    birth = session.get(Birth, enrollment.birth_id) if enrollment is not None else None
    if enrollment is None or birth is None or birth.facility_id != facility.id:
        raise NotFound("enrollment_not_found", "no enrollment with that id at this facility")
    if enrollment.locked_at is not None:
        raise WardError("code_locked", "this enrollment is locked after wrong attempts", 423)
    if enrollment.used_at is not None:
        raise WardError("code_used", "this enrollment has already been used", 409)
    if enrollment.expires_at <= moment:
        raise WardError("code_expired", "this enrollment has expired; start a new one", 410)
    key, certificate = ward.ca.issue_with_new_key(
        _identity(enrollment), profile=Profile.INDIVIDUAL, moment=moment
    )
    data = export_pkcs12(
        key,
        certificate,
        ward.ca.chain,
        password=password.encode("utf-8"),
        friendly_name=f"birthreg TEST {enrollment.role}".encode("ascii"),
    )
    _issued(
        session,
        enrollment,
        certificate,
        KeyPath.PKCS12,
        actor=actor_of(staff),
        role=staff.role,
        moment=moment,
    )
    return KeyFile(
        data, f"birthreg-test-{enrollment.role}.p12", format(certificate.serial_number, "x")
    )


# -- revocation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    serial: str
    revoked_at: datetime
    reason: str
    crl_reason: x509.ReasonFlags

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "revoked_at": self.revoked_at,
            "reason": self.reason,
            "crl_reason": self.crl_reason.name,
        }


def revoke_by_staff(
    session: Session,
    *,
    staff: StaffUser,
    serial: str,
    reason: str,
    moment: datetime,
) -> Revocation:
    """Revoke a certificate issued through an enrollment of the staff member's facility
    (never a seal: 404). Reasons: lost_phone, wrong_person, key_compromise (see
    STAFF_REVOCATION_REASONS). Refusals: 400 invalid_serial / invalid_reason, 404
    certificate_not_found, 409 already_revoked. Audited `certificate.revoked`."""
    number = parse_serial(serial)
    flag = STAFF_REVOCATION_REASONS.get(reason)
    if flag is None:
        raise WardError(
            "invalid_reason",
            "reason must be one of " + ", ".join(STAFF_REVOCATION_REASONS),
            field="reason",
        )
    facility = staff_facility(session, staff)
    serial_hex = format(number, "x")
    enrollment = session.exec(
        select(Enrollment)
        .join(Birth, col(Birth.id) == col(Enrollment.birth_id))
        .where(Enrollment.certificate_serial == serial_hex)
        .where(Birth.facility_id == facility.id)
    ).first()
    if enrollment is None:
        raise NotFound(
            "certificate_not_found", "no certificate with that serial was issued by this ward"
        )
    row = revoke(session, number, flag, moment, actor=actor_of(staff), role=staff.role)
    assert row.revoked_at is not None
    return Revocation(row.serial, row.revoked_at, reason, flag)


def _revocation_request(request: Mapping[str, Any], serial: str, moment: datetime) -> str:
    expected = {"type", "serial", "reason", "requested_at"}
    if set(request) != expected:
        raise WardError(
            "invalid_request",
            "request has exactly type, serial, reason and requested_at",
            field="request",
        )
    if request["type"] != REVOCATION_REQUEST_TYPE:
        raise WardError(
            "invalid_request",
            f'request.type must be "{REVOCATION_REQUEST_TYPE}"',
            field="request.type",
        )
    if request["serial"] != serial:
        raise WardError(
            "serial_mismatch",
            "request.serial is not the serial in the path",
            field="request.serial",
        )
    reason = request["reason"]
    if not isinstance(reason, str) or reason not in HOLDER_REVOCATION_REASONS:
        raise WardError(
            "invalid_reason",
            "request.reason must be key_compromise or unspecified",
            field="request.reason",
        )
    requested_at_text = request["requested_at"]
    try:
        if not isinstance(requested_at_text, str) or "T" not in requested_at_text.upper():
            raise ValueError
        requested_at = datetime.fromisoformat(requested_at_text)
        if requested_at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise WardError(
            "invalid_request",
            "request.requested_at must be an RFC 3339 time with an offset",
            field="request.requested_at",
        ) from None
    if abs(moment - requested_at) > REVOCATION_REQUEST_WINDOW:
        raise WardError(
            "stale_request",
            f"request.requested_at must be within {REVOCATION_REQUEST_WINDOW.seconds // 60}"
            " minutes of now; sign a new request",
            field="request.requested_at",
        )
    return reason


def revoke_by_holder(
    session: Session,
    ward: WardContext,
    *,
    serial: str,
    request: Mapping[str, Any],
    signature: Mapping[str, Any],
    moment: datetime,
) -> Revocation:
    """Revoke a certificate at its holder's request, signed (JWS or CMS) with that very
    certificate's key over the canonical `request`, made within 10 minutes of now. The signature
    must pass in full (chain to this CA's root, individual policy, not revoked): a revoked key
    cannot revoke again (409 already_revoked). Refusals: 400 invalid_serial / invalid_request /
    serial_mismatch / invalid_reason / stale_request / invalid_signature (with its `report`),
    403 signer_mismatch, 409 already_revoked. Audited as "holder:<serial>"."""
    number = parse_serial(serial)
    serial_hex = format(number, "x")
    reason = _revocation_request(request, serial_hex, moment)
    try:
        content = canonicalize(dict(request))
    except SigningError as error:
        raise WardError("invalid_request", error.detail, field="request") from None
    # The signature is checked before this session touches the database: the revocation
    # fetcher reads with its own session, which on SQLite would wait for ours.
    validator = Validator(
        TrustAnchors([ward.ca.root_certificate], [ward.ca.issuing_certificate]),
        InProcessRevocationFetcher(ward.engine, ward.ca),
    )
    report = verify_signature(
        signature, content, validator=validator, moment=moment, purpose="individual"
    )
    if not report.passed:
        if report.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE):
            raise WardError("already_revoked", "the certificate is already revoked", 409)
        raise WardError(
            "invalid_signature",
            "the revocation request's signature does not pass",
            extra={"report": report.to_json()},
        )
    if report.signer_serial != serial_hex:
        raise WardError(
            "signer_mismatch",
            "only the holder of this certificate, signing with its key, may revoke it",
            403,
        )
    flag = HOLDER_REVOCATION_REASONS[reason]
    row = revoke(session, number, flag, moment, actor=f"holder:{serial_hex}", role="holder")
    assert row.revoked_at is not None
    return Revocation(row.serial, row.revoked_at, reason, flag)
