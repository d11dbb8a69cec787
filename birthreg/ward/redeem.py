"""The code holder's side: one certificate per code (a CSR or a WebCrypto key)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from birthreg import audit, throttle
from birthreg.db import reading
from birthreg.models import Birth, Enrollment, EnrollmentRole, KeyPath, Progress
from birthreg.pki.partitions import next_crl_partition
from birthreg.pki.service import record_issued
from birthreg.ward import codes
from birthreg.ward.births import set_progress
from birthreg.ward.context import SignedRecord, WardContext, WardError, signed_medical_record
from birthreg.ward.schemas import EnrollIn
from signing.ca import Individual, Profile, enrollment_challenge

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
        raise WardError("code_locked", "this code is locked; ask the ward for a new one", 423)
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


def _webcrypto_key(request: EnrollIn) -> tuple[bytes, bytes]:
    """The public key (SPKI DER) and the proof of possession of a WebCrypto enrollment."""
    assert request.public_key is not None and request.proof is not None
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
    return spki, proof


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
            request.csr_pem.encode("utf-8"),
            subject,
            moment=moment,
            crl_partition=next_crl_partition(session),
        )
    else:
        key_path = KeyPath.WEBCRYPTO
        spki, proof = _webcrypto_key(request)
        certificate = ward.ca.issue_from_spki(
            spki,
            proof,
            enrollment_challenge(code.canonical),
            subject,
            moment=moment,
            crl_partition=next_crl_partition(session),
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
