"""The schema: Alembic builds exactly the tables the models declare, on SQLite and PostgreSQL;
`birthreg init` makes the facility and the registry office with their seals, and changes nothing
when run again."""

from __future__ import annotations

import stat
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography import x509
from sqlmodel import Session, SQLModel, select

from birthreg.audit import verify_chain
from birthreg.bootstrap import DEFAULT_FACILITY, DEFAULT_REGISTRY_OFFICE, initialise
from birthreg.config import Settings
from birthreg.db import make_engine, migrate
from birthreg.models import Facility, IssuedCertificate, RegistryOffice
from birthreg.pki.seals import SEALS_DIRECTORY
from signing.identity import signer_bin


def test_migrations_match_the_models(app: Any, service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        migrate(engine)  # a second run is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_init_makes_the_organisations_with_seals(app: Any, db: Session,
                                                  service_settings: Settings) -> None:
    facility = db.exec(select(Facility)).one()
    office = db.exec(select(RegistryOffice)).one()
    assert facility.bin == DEFAULT_FACILITY.bin
    assert office.bin == DEFAULT_REGISTRY_OFFICE.bin
    for serial in (facility.seal_serial, office.seal_serial):
        row = db.get(IssuedCertificate, serial)
        assert row is not None and row.profile == "organisation_seal"
    seal = x509.load_der_x509_certificate(db.get(IssuedCertificate, facility.seal_serial).der)  # type: ignore[union-attr]
    assert signer_bin(seal) == facility.bin
    keys = sorted((service_settings.data_dir / SEALS_DIRECTORY).glob("*.key.pem"))
    assert len(keys) == 2
    for key in keys:
        assert b"ENCRYPTED" in key.read_bytes()
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert verify_chain(db).intact


def test_init_twice_changes_nothing(app: Any, db: Session, service_settings: Settings) -> None:
    before = db.exec(select(IssuedCertificate.serial)).all()
    result = initialise(service_settings)
    assert not result.changed, result.made
    db.expire_all()
    assert db.exec(select(IssuedCertificate.serial)).all() == before
