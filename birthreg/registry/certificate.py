"""The birth certificate's issuance: its fields, its number and the sealed QR code.

A certificate is issued inside the registration's transaction, which stores only its fields and
QR text (`certificate_values`: a few hundred microseconds, one ECDSA signature; registration
inserts them itself, `issue_certificate` is the ORM form for other callers). The printable page
and the signed PDF are made from these stored fields (`certificate_pdf`), never from the dossier
again: a certificate never changes once issued (a correction supersedes it with a new one).

Dates are Kazakhstan's (`numbering.local_date`, Asia/Almaty): the date of birth is the one the
child's IIN encodes, whatever offset the medical record was written in. The place of birth is
the facility's locality as the sealed medical record gives it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, cast

from sqlmodel import Session, select

from birthreg.config import Settings
from birthreg.errors import DomainError, NotFound
from birthreg.models import (
    BirthCertificate,
    CertificateStatus,
    now,
)
from birthreg.pki.seals import Seal
from birthreg.registry import stored
from birthreg.registry.numbering import local_date
from birthreg.registry.service import Office, load_office
from birthreg.services import Services
from signing.canonical import canonicalize
from signing.seal import Sealer, qr_text

#: The TEST series of certificate numbers: real series are a Roman numeral and a region code
#: ("I-ВКО"); this one says TEST so that no number can pass for a real one.
CERTIFICATE_SERIES = "TEST-I"


@dataclass(frozen=True)
class SealingOffice:
    """The registry office that issues certificates (plain data, safe outside a session)."""

    id: int
    code: str
    bin: str
    name: str


@dataclass(frozen=True)
class CertificateContext:
    """What issuing and rendering need besides the database: settings, the registry seal, the
    office it belongs to, the public base URL written into QR codes, and the seal's sealer of
    QR codes (its key's, the protected header made once)."""

    settings: Settings
    seal: Seal
    office: SealingOffice
    base_url: str
    sealer: Sealer


def certificate_context(services: Services, session: Session) -> CertificateContext:
    """The app's context (the first registry office that `birthreg init` made, its seal),
    loaded once."""
    context: CertificateContext = services.certificates.get(session)
    return context


def load_certificate_context(settings: Settings, session: Session) -> CertificateContext:
    """The context from settings, outside an app too (CLI, benchmarks, tests)."""
    return office_certificate_context(settings, load_office(session, settings))


def office_certificate_context(settings: Settings, office: Office) -> CertificateContext:
    """The context of the registry `office` (loaded with its seal)."""
    sealing = SealingOffice(id=office.id, code=office.code, bin=office.bin, name=office.name)
    base_url = settings.base_url.rstrip("/")
    seal = office.seal_with_root
    return CertificateContext(settings, seal, sealing, base_url,
                              Sealer(seal.key, seal.certificate))


# -- issuing ------------------------------------------------------------------------------------


class RegistrationFields(Protocol):
    """What a certificate is made from: a `Registration` row, or `registration.Registered` (the
    values of a registration inserted in this transaction, without an ORM object)."""

    @property
    def id(self) -> int | None: ...
    @property
    def registry_office_id(self) -> int: ...
    @property
    def year(self) -> int: ...
    @property
    def act_record_number(self) -> int: ...
    @property
    def child_iin(self) -> str: ...
    @property
    def registered_at(self) -> datetime: ...


class DossierText(Protocol):
    """A `Submission` (its dossier packed), or the few columns of one that registration reads
    (its dossier's text)."""

    @property
    def dossier(self) -> str | bytes: ...


def certificate_number(registration: RegistrationFields) -> str:
    """"TEST-I № 000123": the series and the registration's number (unique across offices)."""
    return f"{CERTIFICATE_SERIES} № {registration.id:06d}"


def _person(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "surname": document["surname"],
        "given_name": document["given_name"],
        "patronymic": document.get("patronymic") or None,
        # No document carries nationality yet; the certificate shows it only when given.
        "nationality": document.get("nationality") or None,
    }


def place_of_birth(facility: dict[str, Any]) -> str:
    """The facility's locality; its name for a record made before facilities had one."""
    locality = facility.get("locality")
    return locality if isinstance(locality, str) and locality.strip() else str(facility["name"])


def read_dossier(submission: DossierText) -> dict[str, Any]:
    """The submission's dossier, parsed (its text as received, unpacked where stored packed)."""
    text = submission.dossier
    return cast(dict[str, Any],
                json.loads(text if isinstance(text, str) else stored.dossier_text(submission)))


def certificate_fields(
    context: CertificateContext,
    registration: RegistrationFields,
    dossier: Mapping[str, Any],
    *,
    number: str,
    issued_at: datetime,
) -> dict[str, Any]:
    """The certificate's fields, as on a Kazakh birth certificate, from the verified dossier
    (parsed: `read_dossier`)."""
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    born_at = datetime.fromisoformat(record["child"]["born_at"])
    father = application.get("father")
    child = application["child"]
    return {
        "certificate_number": number,
        "child": {
            "surname": child["surname"],
            "given_name": child["given_name"],
            "patronymic": child.get("patronymic") or None,
            # The date the child's IIN encodes (registration gives it from the same instant).
            "date_of_birth": local_date(born_at).isoformat(),
            "place_of_birth": place_of_birth(record["facility"]),
            "sex": record["child"]["sex"],
            "iin": registration.child_iin,
        },
        "mother": _person(record["mother"]),
        "father": _person(father) if father else None,
        "act_record": {
            "number": registration.act_record_number,
            "year": registration.year,
            "date": local_date(registration.registered_at).isoformat(),
        },
        "registry_office": {
            "code": context.office.code,
            "bin": context.office.bin,
            "name": context.office.name,
        },
        "issued_at": issued_at.isoformat(),
    }


def seal_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The key fields that the QR seal carries (see signing.seal.FIELD_KEYS)."""
    child = fields["child"]
    return {
        "certificate_number": fields["certificate_number"],
        "child_iin": child["iin"],
        "child_surname": child["surname"],
        "child_given_name": child["given_name"],
        "child_patronymic": child["patronymic"],
        "date_of_birth": date.fromisoformat(child["date_of_birth"]),
        "sex": child["sex"],
        "act_record_number": fields["act_record"]["number"],
        "act_record_date": date.fromisoformat(fields["act_record"]["date"]),
        "registry_office_code": fields["registry_office"]["code"],
        "issued_on": local_date(datetime.fromisoformat(fields["issued_at"])),
    }


def certificate_values(
    context: CertificateContext,
    registration: RegistrationFields,
    dossier: Mapping[str, Any],
    *,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """The columns of the registration's new certificate: its fields (canonical JSON) and the
    sealed QR text (one ECDSA signature), under a new unguessable id. `dossier`: the
    submission's, parsed (`read_dossier`; `birthreg seed` gives the one it made)."""
    if registration.id is None:
        raise ValueError("the registration must be flushed first (it has no id)")
    if registration.registry_office_id != context.office.id:
        raise DomainError(
            "wrong_registry_office",
            "the registration belongs to another registry office than the sealing one",
            500,
        )
    issued_at = (moment or now()).replace(microsecond=0)
    number = certificate_number(registration)
    fields = certificate_fields(
        context, registration, dossier, number=number, issued_at=issued_at
    )
    return sealed_values(context, registration.id, fields, issued_at)


def sealed_values(
    context: CertificateContext, registration_id: int, fields: dict[str, Any], issued_at: datetime
) -> dict[str, Any]:
    """A certificate's columns from its fields (which name its number): the canonical JSON and
    the sealed QR text (one ECDSA signature), under a new unguessable id."""
    seal = context.sealer.seal(seal_fields(fields))
    return {
        "id": secrets.token_urlsafe(24),
        "registration_id": registration_id,
        "certificate_number": fields["certificate_number"],
        "fields": canonicalize(fields).decode("utf-8"),
        "qr": qr_text(context.base_url, seal),
        "status": CertificateStatus.VALID.value,
        "issued_at": issued_at,
    }


def issue_certificate(
    session: Session,
    context: CertificateContext | Services,
    registration: RegistrationFields,
    submission: DossierText,
    *,
    moment: datetime | None = None,
) -> BirthCertificate:
    """Issue the registration's certificate in the caller's transaction: the fields (canonical
    JSON) and the sealed QR text. The PDF is not made here (see `certificate_pdf`).

    `context` is a CertificateContext, or an app's services (its context is then loaded once).
    Issuing again for the same registration returns the certificate already issued. (Registration,
    which has just made the registration, inserts `certificate_values` itself.)
    """
    if isinstance(context, Services):
        context = certificate_context(context, session)
    existing = session.exec(
        select(BirthCertificate).where(BirthCertificate.registration_id == registration.id)
    ).first()
    if existing is not None:
        return existing
    certificate = BirthCertificate(
        **certificate_values(context, registration, read_dossier(submission), moment=moment)
    )
    session.add(certificate)
    session.flush()
    return certificate


# -- reading ----------------------------------------------------------------------------------


def _not_found() -> NotFound:
    return NotFound("certificate_not_found", "no certificate with that id")


def get_certificate(session: Session, certificate_id: str) -> BirthCertificate:
    """The certificate with that id (a primary-key lookup), or 404 certificate_not_found."""
    if not 16 <= len(certificate_id) <= 64:
        raise _not_found()
    certificate = session.get(BirthCertificate, certificate_id)
    if certificate is None:
        raise _not_found()
    return certificate


def public_certificate(certificate: BirthCertificate) -> dict[str, Any]:
    """What the holder sees: the fields, the QR text and the status."""
    return {
        "id": certificate.id,
        "certificate_number": certificate.certificate_number,
        "status": certificate.status,
        "issued_at": certificate.issued_at.isoformat(),
        "fields": json.loads(certificate.fields),
        "qr": certificate.qr,
    }
