"""Plain factories for registry tests: dossiers signed under the APP's TEST CA (not the session
test PKI of tests/conftest.py, which the app does not trust).

Mothers and fathers get certificates from the app's `certification_authority`, recorded in the CA's
table so that its CRL and OCSP know them; medical records are sealed with the app's facility seal
(made by `birthreg init`). Times are the service's clock (`now()`), since the registry verifies at
the moment of receipt.
"""

from __future__ import annotations

import base64
import copy
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from birthreg.auth import create_staff_user, issue_token
from birthreg.bootstrap import DEFAULT_FACILITY, initialise
from birthreg.config import Settings, make_data_dir
from birthreg.main import create_app
from birthreg.models import Registration, RegistryOffice, Role, Submission, now
from birthreg.packed import plain
from birthreg.pki.seals import load_seal
from birthreg.pki.service import certification_authority, record_issued
from birthreg.services import app_services
from signing import cms, jws
from signing.ca import CertificationAuthority, Individual, Organisation, Profile
from signing.canonical import canonicalize, sha256_hex
from signing.identity import make_iin

#: A second maternity ward (its BIN has a valid check digit).
OTHER_FACILITY = Organisation(bin="050440000012", name="Семей қалалық перзентханасы (TEST)")


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    subject: Individual | None = None

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")


# -- the app -------------------------------------------------------------------------------------


def app_with_backdated_ca(settings: Settings, *, age: timedelta = timedelta(days=3 * 365)) -> Any:
    """An initialised app whose TEST CA was made `age` ago, so that certificates issued in the
    past (an expired signer) chain to it."""
    make_data_dir(settings)
    settings.write_development_secrets()
    ca = CertificationAuthority.create(base_url=settings.base_url, moment=now() - age)
    ca.save(settings.ca_directory, settings.ca_passphrase_bytes())
    initialise(settings)
    return create_app(settings)


def staff_headers(app: Any, role: Role = Role.CLERK, username: str | None = None) -> dict[str, str]:
    """A new staff account of that role and an API bearer token for it."""
    with Session(app.state.services.engine) as session:
        user = create_staff_user(
            session,
            username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
            password="a long test password 1",
            role=role,
        )
        session.commit()
        session.refresh(user)
        token = issue_token(app.state.services.settings, user, kind="api")
    return {"Authorization": f"Bearer {token}"}


# -- people and seals ---------------------------------------------------------------------------


def person(
    serial: int, *, sex: str = "F", born: date = date(1994, 3, 15), **names: str
) -> Individual:
    """An individual with a valid IIN (the next serial from `serial` that has a check digit)."""
    while (iin := make_iin(born, sex, serial)) is None:
        serial += 1
    defaults = (
        {"surname": "Әбілқасымова", "given_name": "Гүлнұр", "patronymic": "Серікқызы"}
        if sex == "F"
        else {"surname": "Әбілқасымов", "given_name": "Ерлан", "patronymic": "Болатұлы"}
    )
    return Individual(iin=iin, **{**defaults, **names})


def issue_person(
    app: Any,
    subject: Individual,
    *,
    moment: datetime | None = None,
    validity: timedelta | None = None,
    ca: CertificationAuthority | None = None,
) -> Signer:
    """A certificate for subject from the app's CA (recorded for CRL/OCSP), or from `ca`."""
    moment = moment or now()
    own_ca = certification_authority(app_services(app))
    issuer = ca or own_ca
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issuer.issue(
        key.public_key(), subject, profile=Profile.INDIVIDUAL, moment=moment, validity=validity
    )
    if issuer is own_ca:
        with Session(app.state.services.engine) as session:
            record_issued(session, certificate, Profile.INDIVIDUAL, moment)
            session.commit()
    return Signer(key, certificate, issuer.chain, subject)


def other_facility_seal(app: Any, facility: Organisation = OTHER_FACILITY) -> Signer:
    """The seal of another maternity ward, issued by the app's CA (recorded for CRL/OCSP)."""
    ca = certification_authority(app_services(app))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(
        key.public_key(), facility, profile=Profile.ORGANISATION_SEAL, moment=now()
    )
    with Session(app.state.services.engine) as session:
        record_issued(session, certificate, Profile.ORGANISATION_SEAL, now())
        session.commit()
    return Signer(key, certificate, ca.chain)


def facility_seal(app: Any) -> Signer:
    ca = certification_authority(app_services(app))
    seal = load_seal(app.state.services.settings, "facility", DEFAULT_FACILITY.bin, ca.chain)
    return Signer(seal.key, seal.certificate, seal.chain)


# -- documents ----------------------------------------------------------------------------------


def medical_record(
    mother: Individual,
    *,
    born_at: datetime | None = None,
    sex: str = "F",
    plurality: int = 1,
    birth_order: int = 1,
    record_id: str | None = None,
    **changes: Any,
) -> dict[str, Any]:
    born_at = born_at or now() - timedelta(days=2, hours=3)
    record: dict[str, Any] = {
        "type": "birthreg.medical-record/1",
        "id": record_id or str(uuid.uuid4()),
        "facility": {"bin": DEFAULT_FACILITY.bin, "name": DEFAULT_FACILITY.name},
        "mother": {
            "iin": mother.iin,
            "surname": mother.surname,
            "given_name": mother.given_name,
            "patronymic": mother.patronymic,
        },
        "child": {
            "sex": sex,
            "born_at": born_at.isoformat(),
            "weight_g": 3400,
            "length_cm": 51,
            "plurality": plurality,
            "birth_order": birth_order,
        },
        "attendant": "Сейітова Ж.",
        "recorded_at": (born_at + timedelta(hours=1)).isoformat(),
    }
    return merge(record, changes)


def application(
    record: dict[str, Any], *, father: Individual | None = None, joint: bool = False,
    **changes: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "birthreg.application/1",
        "id": str(uuid.uuid4()),
        "medical_record_sha256": sha256_hex(record),
        "child": {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"},
        "mother": {"iin": record["mother"]["iin"]},
        "father": None
        if father is None
        else {
            "iin": father.iin,
            "surname": father.surname,
            "given_name": father.given_name,
            "patronymic": father.patronymic,
            "basis": "joint_application" if joint else "marriage",
        },
        "address": {
            "region": "Шығыс Қазақстан облысы",
            "locality": "Өскемен",
            "street": "Қазақстан көшесі",
            "building": "12",
            "flat": "5",
        },
        "contact": {"phone": "+7 701 234 5678", "email": "mother@example.kz"},
        "language": "kk",
    }
    return merge(document, changes)


def sign(
    signer: Signer, document: Any, *, fmt: str = "jws", at: datetime | None = None
) -> dict[str, str]:
    content = canonicalize(document)
    at = at or now() - timedelta(seconds=30)
    if fmt == "cms":
        der = cms.sign_detached(
            content, signer.certificate, signer.key, chain=signer.chain, signing_time=at
        )
        return {"format": "cms", "value": base64.b64encode(der).decode()}
    value = jws.sign_detached(
        content, signer.certificate, signer.key, chain=signer.chain, signing_time=at
    )
    return {"format": "jws", "value": value}


def dossier(
    seal: Signer,
    record: dict[str, Any],
    document: dict[str, Any],
    signers: tuple[Signer, ...],
    *,
    fmt: str = "jws",
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "medical_record": {"document": record, "signature": sign(seal, record, fmt="cms", at=at)},
        "application": {
            "document": document,
            "signatures": [sign(s, document, fmt=fmt, at=at) for s in signers],
        },
    }


def good_dossier(
    app: Any,
    mother: Signer,
    *,
    seal: Signer | None = None,
    fmt: str = "jws",
    record: dict[str, Any] | None = None,
    application_changes: dict[str, Any] | None = None,
    **record_changes: Any,
) -> dict[str, Any]:
    """A dossier that passes: the record sealed by the facility, signed by the mother.
    `application_changes` go into the application (another child's name: no likely duplicate
    of another mother's child born the same days)."""
    assert mother.subject is not None
    record = record or medical_record(mother.subject, **record_changes)
    document = application(record, **(application_changes or {}))
    return dossier(seal or facility_seal(app), record, document, (mother,), fmt=fmt)


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def registration_by_hand(session: Session, iin: str, number: int, *, year: int = 2026) -> None:
    """A registration made by other means (an import, a correction), with its submission, in
    `session` (flushed, not committed): the registry's counters do not know of it."""
    office = session.exec(select(RegistryOffice)).one()
    assert office.id is not None
    submission_id = f"00000000-0000-4000-8000-{number:012d}"
    session.add(
        Submission(
            id=submission_id, registry_office_id=office.id, dossier=plain("{}"),
            dossier_sha256=f"{number:064d}", medical_record_id=f"record-{number}",
            medical_record_sha256="0" * 64, application_id=f"application-{number}",
            facility_bin="050140000011", mother_iin="940315400014", child_born_at=now(),
            child_sex="F", birth_order=1, status="registered", report=plain("{}"),
            receipt=plain("{}"), received_at=now(),
        )
    )
    session.flush()
    session.add(
        Registration(
            submission_id=submission_id, medical_record_id=f"record-{number}",
            registry_office_id=office.id, year=year, act_record_number=number, child_iin=iin,
            registered_at=now(),
        )
    )
    session.flush()
