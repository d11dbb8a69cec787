"""`birthreg demo`: demo accounts and a few of today's births in various states (development only).

Idempotent. The three accounts (`ward`, `clerk`, `admin`) get strong random passwords, made once
and kept in the data dir (`demo-logins`, mode 0600), so that every run prints the same logins. The
births are seeded when the demo ward account has recorded none today (Almaty): a second run on
the same day changes nothing; a run on a later day adds that day's births.

The births go through the same service functions as the pages and the API:
- recorded, no key yet;
- recorded, the mother's enrollment started and waiting for her phone;
- key issued (a certificate request made here with a throwaway key, then forgotten);
- application signed (the mother's JWS over an application, the dossier sent to the registry
  through `RegistryClient`, as the parents' pages will);
- registered (the same, then registered by the demo clerk).

Names are Kazakh, IINs valid (`signing.identity.make_iin`), nothing about them is real.
"""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func
from sqlmodel import Session, col, select

from birthreg.auth import create_staff_user, hash_password, verify_password
from birthreg.config import Settings
from birthreg.models import Birth, Facility, Progress, Role, StaffUser, now
from birthreg.services import app_services
from birthreg.ward import service

if TYPE_CHECKING:
    from fastapi import FastAPI
from birthreg.ward.schemas import BirthIn, ChildIn, EnrollIn, MotherEnrollmentIn, PersonIn
from signing import jws
from signing.canonical import canonicalize, sha256_hex
from signing.identity import make_iin

logger = logging.getLogger("birthreg.demo")

LOGINS_FILE: Final = "demo-logins"
#: The demo accounts, in the order they are printed, with what each is for.
ACCOUNTS: Final[tuple[tuple[str, Role, str], ...]] = (
    ("ward", Role.WARD, "/ward"),
    ("clerk", Role.CLERK, "/registry"),
    ("admin", Role.ADMIN, "/admin"),
)
ATTENDANT: Final = "Сейітова Ж. Қ."


class DemoRefused(Exception):
    """The demo cannot run here (production, or an unusable data dir)."""


@dataclass(frozen=True)
class DemoMother:
    surname: str
    given_name: str
    patronymic: str
    born: date
    serial: int
    child_surname: str
    child_sex: str
    child_given_name: str
    child_patronymic: str
    hours_ago: float
    weight_g: int
    length_cm: int

    @property
    def iin(self) -> str:
        serial = self.serial
        while (iin := make_iin(self.born, "F", serial)) is None:
            serial += 1
        return iin


#: One mother per state, in the order of the seeded states below.
MOTHERS: Final = (
    DemoMother("Сәрсенбаева", "Айгүл", "Қанатқызы", date(1996, 4, 12), 4301, "Сәрсенбаева", "F",
               "Аружан", "Ерболқызы", 1.5, 3250, 50),
    DemoMother("Жақсылықова", "Динара", "Серікқызы", date(1993, 9, 3), 4302, "Жақсылықов", "M",
               "Нұрсұлтан", "Асланұлы", 3.0, 3620, 52),
    DemoMother("Төлеубаева", "Меруерт", "Бақытқызы", date(1998, 1, 27), 4303, "Төлеубаева", "F",
               "Інжу", "Дәуренқызы", 5.0, 2980, 49),
    DemoMother("Омарова", "Гүлназ", "Маратқызы", date(1991, 6, 18), 4304, "Омаров", "M",
               "Әлихан", "Талғатұлы", 7.0, 3840, 53),
    DemoMother("Қуанышева", "Ләззат", "Жомартқызы", date(1995, 11, 5), 4305, "Қуанышева", "F",
               "Томирис", "Ғаниқызы", 9.0, 3110, 51),
)


@dataclass
class DemoResult:
    base_url: str
    logins: dict[str, str]
    births_made: int = 0
    births_today: int = 0
    notes: list[str] = field(default_factory=list)


# -- logins -------------------------------------------------------------------------------------


def _logins_path(settings: Settings) -> Path:
    return settings.data_dir / LOGINS_FILE


def load_or_make_logins(settings: Settings) -> dict[str, str]:
    """The demo passwords by username: read from the data dir, or made once and written there
    (mode 0600). A file missing an account gets that account's password added."""
    path = _logins_path(settings)
    logins: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, password = line.strip().partition(" ")
            if name and password:
                logins[name] = password
    missing = [name for name, _role, _home in ACCOUNTS if name not in logins]
    if missing:
        for name in missing:
            logins[name] = secrets.token_urlsafe(18)
        text = "".join(f"{name} {logins[name]}\n" for name, _role, _home in ACCOUNTS)
        # Written with its final mode from the start: the passwords are never world-readable.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    path.chmod(0o600)
    return {name: logins[name] for name, _role, _home in ACCOUNTS}


def _ensure_accounts(
    session: Session, logins: dict[str, str], facility: Facility, notes: list[str]
) -> dict[str, StaffUser]:
    users: dict[str, StaffUser] = {}
    for name, role, _home in ACCOUNTS:
        user = session.exec(select(StaffUser).where(StaffUser.username == name)).first()
        if user is None:
            user = create_staff_user(
                session,
                username=name,
                password=logins[name],
                role=role,
                display_name=ATTENDANT if role is Role.WARD else f"Demo {role.value}",
                facility_id=facility.id if role is Role.WARD else None,
            )
            notes.append(f"made the demo account {name!r} ({role.value})")
        elif not verify_password(user.password_hash, logins[name]):
            # The logins file was removed or edited: the printed password must work.
            user.password_hash = hash_password(logins[name])
            session.add(user)
            notes.append(f"reset the password of {name!r} to the one in {LOGINS_FILE}")
        users[name] = user
    session.flush()
    return users


# -- births -------------------------------------------------------------------------------------


def _births_today(session: Session, ward_user: StaffUser, moment: datetime) -> int:
    day = service.ward_day(moment)
    start = datetime.combine(day, time(0), service.WARD_TIME_ZONE).astimezone(UTC)
    count = session.exec(
        select(func.count())
        .select_from(Birth)
        .where(Birth.recorded_by == ward_user.id)
        .where(col(Birth.recorded_at) >= start)
    ).one()
    return int(count)


def _record(
    session: Session, ward: service.WardContext, staff: StaffUser, mother: DemoMother,
    moment: datetime,
) -> Birth:
    # Born some hours ago, but never before today's midnight in Almaty (a birth of "today").
    midnight = datetime.combine(service.ward_day(moment), time(0), service.WARD_TIME_ZONE)
    born_at = max(moment - timedelta(hours=mother.hours_ago), midnight + timedelta(minutes=5))
    born_at = min(born_at, moment).astimezone(service.WARD_TIME_ZONE).replace(microsecond=0)
    record = BirthIn(
        mother=PersonIn(
            iin=mother.iin,
            surname=mother.surname,
            given_name=mother.given_name,
            patronymic=mother.patronymic,
        ),
        child=ChildIn(
            sex=mother.child_sex,  # type: ignore[arg-type]
            born_at=born_at,
            weight_g=mother.weight_g,
            length_cm=mother.length_cm,
        ),
        attendant=ATTENDANT,
    )
    return service.record_birth(session, ward, staff=staff, record=record, moment=moment)


def _throwaway_csr(key: ec.EllipticCurvePrivateKey) -> str:
    """A PKCS#10 request for key; the CA names the enrolled person whatever the request says."""
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "birthreg demo")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class MotherKey:
    """A demo mother's key and certificate, in memory only (for signing her application)."""

    key: ec.EllipticCurvePrivateKey
    issued: service.IssuedKey


def _issue_key(
    session: Session, ward: service.WardContext, staff: StaffUser, birth: Birth, moment: datetime
) -> MotherKey:
    started = service.start_enrollment(
        session, ward, staff=staff, birth_id=birth.id,
        request=MotherEnrollmentIn(role="mother"), moment=moment,
    )
    key = ec.generate_private_key(ec.SECP256R1())
    issued = service.enroll(
        session,
        ward,
        request=EnrollIn(code=started.code.canonical, csr_pem=_throwaway_csr(key)),
        client_address="birthreg-demo",
        moment=moment,
    )
    return MotherKey(key, issued)


def application_for(birth: Birth, mother: DemoMother) -> dict[str, Any]:
    """The mother's registration application (DESIGN.md, version 1) for a sealed record."""
    record = service.signed_medical_record(birth).document
    return {
        "type": "birthreg.application/1",
        "id": str(uuid.uuid4()),
        "medical_record_sha256": sha256_hex(record),
        "child": {
            "surname": mother.child_surname,
            "given_name": mother.child_given_name,
            "patronymic": mother.child_patronymic,
        },
        "mother": {"iin": record["mother"]["iin"]},
        "father": None,
        "address": {
            "region": "Шығыс Қазақстан облысы",
            "locality": "Өскемен",
            "street": "Қазақстан көшесі",
            "building": "12",
            "flat": "5",
        },
        "contact": {"phone": "+7 701 000 0000"},
        "language": "kk",
    }


def signed_dossier(
    birth: Birth, mother: DemoMother, key: MotherKey, moment: datetime
) -> dict[str, Any]:
    """The dossier the registry receives: the sealed record and the mother's signed application."""
    application = application_for(birth, mother)
    signature = jws.sign_detached(
        canonicalize(application),
        key.issued.certificate,
        key.key,
        signing_time=moment,
        chain=key.issued.chain,
    )
    return {
        "medical_record": service.signed_medical_record(birth).to_json(),
        "application": {
            "document": application,
            "signatures": [{"format": "jws", "value": signature}],
        },
    }


def _seed_registry_states(
    app: FastAPI,
    engine: Any,
    pending: list[tuple[Birth, DemoMother, MotherKey, bool]],
    clerk: StaffUser,
    notes: list[str],
) -> None:
    """Send each (birth, mother, key, register) dossier to the registry through its client, mark
    the birth `application_signed`, and where `register` is set, register it as the demo clerk
    and mark it `registered`. A refusal is noted and leaves the birth at `key_issued`."""
    from birthreg.registry.client import RegistryClient
    from birthreg.registry.registration import register_submission
    from birthreg.registry.service import registry_for

    with RegistryClient.for_app(app) as client:
        for birth, mother, key, register in pending:
            result = client.submit(signed_dossier(birth, mother, key, now()))
            if not result.accepted or result.submission_id is None:
                notes.append(
                    f"the registry refused a demo dossier: {result.error}: {result.detail}"
                )
                continue
            with Session(engine) as session:
                service.advance_progress(session, birth.id, Progress.APPLICATION_SIGNED)
                session.commit()
            if not register:
                continue
            with Session(engine) as session:
                register_submission(
                    session,
                    registry_for(app_services(app)),
                    result.submission_id,
                    actor=f"staff:{clerk.id}",
                    role=clerk.role,
                    staff_id=clerk.id,
                )
                service.advance_progress(session, birth.id, Progress.REGISTERED)
                session.commit()


#: The state each demo mother's birth is brought to, in the order of MOTHERS.
STATES: Final = ("recorded", "waiting", "key_issued", "application_signed", "registered")


def _seed_births(
    app: FastAPI, engine: Any, users: dict[str, StaffUser], notes: list[str]
) -> int:
    ward = service.ward_context(app_services(app))
    staff = users["ward"]
    moment = now()
    for_registry: list[tuple[Birth, DemoMother, MotherKey, bool]] = []
    with Session(engine) as session:
        for mother, state in zip(MOTHERS, STATES, strict=True):
            birth = _record(session, ward, staff, mother, moment)
            if state == "waiting":
                service.start_enrollment(
                    session, ward, staff=staff, birth_id=birth.id,
                    request=MotherEnrollmentIn(role="mother"), moment=moment,
                )
            elif state != "recorded":
                key = _issue_key(session, ward, staff, birth, moment)
                if state != "key_issued":
                    for_registry.append((birth, mother, key, state == "registered"))
        session.commit()
        for birth, *_rest in for_registry:
            session.refresh(birth)
            session.expunge(birth)
    # The registry is reached over HTTP (in process by default): our session holds nothing now.
    try:
        _seed_registry_states(app, engine, for_registry, users["clerk"], notes)
    except Exception as error:  # the demo must still print its logins
        logger.warning("demo: the registry states were not seeded", exc_info=True)
        notes.append(f"the registry states were not seeded: {type(error).__name__}: {error}")
    return len(MOTHERS)


# -- the command --------------------------------------------------------------------------------


def run_demo(settings: Settings) -> DemoResult:
    """Seed the demo (after `birthreg init`, which the caller runs). Raises DemoRefused in
    production."""
    if settings.is_production:
        raise DemoRefused(
            "birthreg demo makes accounts with known passwords: it runs only with "
            "BIRTHREG_ENV=development, never in production"
        )
    from birthreg.main import create_app
    from birthreg.services import app_services

    logins = load_or_make_logins(settings)
    result = DemoResult(base_url=settings.base_url, logins=logins)
    app = create_app(settings)
    engine = app_services(app).engine
    try:
        with Session(engine) as session:
            facility = session.exec(select(Facility).order_by(col(Facility.id))).first()
            if facility is None:
                raise DemoRefused("no facility yet: run `birthreg init` first")
            users = _ensure_accounts(session, logins, facility, result.notes)
            session.commit()
            for user in users.values():
                session.refresh(user)
                session.expunge(user)
            already = _births_today(session, users["ward"], now())
        if already == 0:
            result.births_made = _seed_births(app, engine, users, result.notes)
        with Session(engine) as session:
            result.births_today = _births_today(session, users["ward"], now())
    finally:
        engine.dispose()
    return result
