"""`birthreg init`: the data dir, the development secrets, the database check and the TEST CA.

Idempotent: a second run finds everything and changes nothing. Never prints or logs a secret.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from birthreg import audit, seed_indexes
from birthreg.config import ConfigurationError, Settings, make_data_dir
from birthreg.db import display_url, make_engine, migrate
from birthreg.models import Facility, IssuedCertificate, RegistryOffice, now
from birthreg.pki.partitions import next_crl_partition
from birthreg.pki.seals import load_seal, save_seal, seal_exists
from birthreg.pki.service import record_issued
from birthreg.registry_init import initialise_registry
from signing.ca import CertificationAuthority, Organisation, Profile

LOCK_FILE = ".init.lock"


@dataclass
class InitResult:
    made: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    #: Role registry: the seal request that awaits its certificate (None once installed).
    awaiting_seal: Path | None = None

    @property
    def changed(self) -> bool:
        return bool(self.made)


def initialise(
    settings: Settings, *, roots: Path | None = None, seal_cert: Path | None = None
) -> InitResult:
    """Make whatever is missing for the settings' role. Raises ConfigurationError for unusable
    settings; role registry takes its `roots` (kept in the data dir) and, once the ward issued
    it, its `seal_cert` (birthreg.registry_init)."""
    settings.check_secrets()
    result = InitResult()
    if make_data_dir(settings):
        result.made.append(f"data directory {settings.data_dir} (mode 0700)")
    else:
        result.found.append(f"data directory {settings.data_dir}")

    # Two services sharing a data dir (docker-compose) may start together: one makes the CA.
    with _init_lock(settings.data_dir / LOCK_FILE):
        if settings.is_production:
            result.found.append("CA passphrase and session secret from the environment")
        else:
            generated = settings.write_development_secrets()
            for path in _development_secret_paths(settings):
                if path in generated:
                    result.made.append(f"{_secret_label(path)} in {path} (mode 0600, generated)")
                else:
                    result.found.append(f"{_secret_label(path)} in {path}")

        engine = make_engine(settings.database_url)
        try:
            migrate(engine)
            result.found.append(
                f"database {display_url(settings.database_url)} (schema up to date)"
            )
            for index in seed_indexes.restore(engine):  # a seed stopped by force left it aside
                result.made.append(f"index {index} (set aside by a seed that was stopped)")
            if not settings.holds_ca:
                steps = initialise_registry(
                    settings, engine, DEFAULT_REGISTRY_OFFICE, DEFAULT_REGISTRY_OFFICE_CODE,
                    roots=roots, seal_cert=seal_cert,
                )
                result.made += steps.made
                result.found += steps.found
                result.awaiting_seal = steps.awaiting_seal
                return result
            if roots is not None or seal_cert is not None:
                raise ConfigurationError("--roots and --seal-cert go with --role registry")

            ca = _certification_authority(settings, result)
            with Session(engine) as session:
                _organisations(settings, ca, session, result)
                session.commit()
        finally:
            engine.dispose()
    return result


def _certification_authority(settings: Settings, result: InitResult) -> CertificationAuthority:
    """The data dir's TEST CA, made when missing."""
    passphrase = settings.ca_passphrase_bytes()
    if CertificationAuthority.exists(settings.ca_directory):
        # Loading proves that the passphrase still opens the keys.
        ca = CertificationAuthority.load(
            settings.ca_directory, passphrase, base_url=settings.base_url
        )
        result.found.append(f"TEST CA in {settings.ca_directory}")
        return ca
    ca = CertificationAuthority.create(base_url=settings.base_url, moment=now())
    ca.save(settings.ca_directory, passphrase)
    result.made.append(
        f"TEST CA in {settings.ca_directory} (keys encrypted with the CA passphrase)"
    )
    return ca


#: The organisations `birthreg init` makes (TEST names; valid BINs registered in January 2005).
DEFAULT_FACILITY = Organisation(bin="050140000011", name="Өскемен қалалық перзентханасы (TEST)")
#: The town of the default facility: its certificates' place of birth.
DEFAULT_FACILITY_LOCALITY = "Өскемен / Усть-Каменогорск"
DEFAULT_REGISTRY_OFFICE = Organisation(
    bin="050140000021", name="Өскемен қаласының АХАЖ бөлімі (TEST)"
)
DEFAULT_REGISTRY_OFFICE_CODE = "ESK-01"


def _organisations(
    settings: Settings, ca: CertificationAuthority, session: Session, result: InitResult
) -> None:
    """The default facility and (role all) registry office, each with its seal (made once)."""
    facility = session.exec(
        select(Facility).where(Facility.bin == DEFAULT_FACILITY.bin)
    ).one_or_none()
    if facility is None:
        seal = _make_seal(settings, ca, session, "facility", DEFAULT_FACILITY)
        session.add(
            Facility(
                bin=DEFAULT_FACILITY.bin,
                name=DEFAULT_FACILITY.name,
                locality=DEFAULT_FACILITY_LOCALITY,
                seal_serial=seal,
                created_at=now(),
            )
        )
        result.made.append(f"facility BIN {DEFAULT_FACILITY.bin} with its seal certificate")
    else:
        result.found.append(f"facility BIN {facility.bin}")
    if not settings.serves_registry:
        return
    office = session.exec(
        select(RegistryOffice).where(RegistryOffice.bin == DEFAULT_REGISTRY_OFFICE.bin)
    ).one_or_none()
    if office is None:
        seal = _make_seal(settings, ca, session, "registry", DEFAULT_REGISTRY_OFFICE)
        session.add(
            RegistryOffice(
                code=DEFAULT_REGISTRY_OFFICE_CODE,
                bin=DEFAULT_REGISTRY_OFFICE.bin,
                name=DEFAULT_REGISTRY_OFFICE.name,
                seal_serial=seal,
                created_at=now(),
            )
        )
        result.made.append(
            f"registry office BIN {DEFAULT_REGISTRY_OFFICE.bin} with its seal certificate"
        )
    else:
        result.found.append(f"registry office BIN {office.bin}")


def _make_seal(
    settings: Settings,
    ca: CertificationAuthority,
    session: Session,
    kind: str,
    organisation: Organisation,
) -> str:
    """Issue and keep a seal; reuse the one on disk when a previous init stopped half-way."""
    if seal_exists(settings, kind, organisation.bin):
        seal = load_seal(settings, kind, organisation.bin, ca.chain)
        certificate = seal.certificate
    else:
        key, certificate = ca.issue_with_new_key(
            organisation,
            profile=Profile.ORGANISATION_SEAL,
            moment=now(),
            crl_partition=next_crl_partition(session),
        )
        save_seal(settings, kind, organisation.bin, key, certificate)
    serial = format(certificate.serial_number, "x")
    if session.get(IssuedCertificate, serial) is None:
        record_issued(session, certificate, Profile.ORGANISATION_SEAL, now())
        audit.record(
            session,
            actor="system",
            role="system",
            action="seal.issued",
            object_type="certificate",
            object_id=serial,
            details={"kind": kind},
        )
    return serial


def _development_secret_paths(settings: Settings) -> list[Path]:
    from birthreg.config import CA_PASSPHRASE_FILE, KEY_PASSPHRASE_FILE, SECRET_KEY_FILE

    paths = []
    if settings.holds_ca:
        if settings.ca_passphrase is None or not settings.ca_passphrase.get_secret_value():
            paths.append(settings.data_dir / CA_PASSPHRASE_FILE)
    elif settings.key_passphrase is None or not settings.key_passphrase.get_secret_value():
        paths.append(settings.data_dir / KEY_PASSPHRASE_FILE)
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        paths.append(settings.data_dir / SECRET_KEY_FILE)
    return paths


def _secret_label(path: Path) -> str:
    from birthreg.config import CA_PASSPHRASE_FILE, KEY_PASSPHRASE_FILE

    labels = {CA_PASSPHRASE_FILE: "CA passphrase", KEY_PASSPHRASE_FILE: "seal key passphrase"}
    return labels.get(path.name, "session secret")


@contextmanager
def _init_lock(path: Path) -> Iterator[None]:
    existed = path.exists()
    with open(path, "a") as handle:
        if not existed:
            path.chmod(0o600)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
