"""`birthreg seed`: births in every state, signed for real, on a chain that verifies, on SQLite
and PostgreSQL; refused in production."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from birthreg import seed_rows
from birthreg.audit import verify_chain
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import (
    ActRecordCounter,
    Birth,
    BirthCertificate,
    IssuedCertificate,
    Registration,
    RegistryOffice,
    Submission,
)
from birthreg.packed import text_of
from birthreg.pki.seals import load_seal
from birthreg.pki.service import load_certification_authority
from birthreg.registry.intake import receipt_payload
from birthreg.registry.record_models import Issuance, SearchKey
from birthreg.registry.search import search_records
from birthreg.registry.stored import dossier_text, receipt_text, report_text
from birthreg.seed import SeedRefused, run_seed
from signing import cms, jws
from signing.canonical import canonicalize

BIRTHS = 120


@pytest.fixture
def seeded(app: Any, service_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    # More revoked keys than a real year has, so that a small seed has some.
    monkeypatch.setattr(seed_rows, "REVOKED", 0.3)
    result = run_seed(service_settings, BIRTHS, days=20, rng=random.Random(7))
    engine = make_engine(service_settings.database_url)
    yield result, engine
    engine.dispose()


def test_the_seed_makes_births_in_every_state(seeded: Any) -> None:
    result, engine = seeded
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Birth)).one() == BIRTHS
        states = Counter(session.exec(select(Submission.status)).all())
        progress = Counter(session.exec(select(Birth.progress)).all())
        registrations = session.exec(select(Registration)).all()
        certificates = session.exec(select(func.count()).select_from(BirthCertificate)).one()
        revoked = session.exec(
            select(func.count()).where(IssuedCertificate.revoked_at.is_not(None))  # type: ignore[union-attr]
        ).one()
        counter = session.exec(select(ActRecordCounter)).one()
        # Found by search (registry_search_key) and in the issuance log, as real ones are.
        certificate_keys = session.exec(
            select(func.count()).where(col(SearchKey.key).startswith("c:"))
        ).one()
        tracking_keys = session.exec(
            select(func.count()).where(col(SearchKey.key).startswith("t:"))
        ).one()
        issued = session.exec(select(func.count()).select_from(Issuance)).one()
    assert certificate_keys == issued == certificates
    assert tracking_keys == sum(states.values())
    # The last few days' births are still on their way; older ones are mostly registered.
    assert {"registered", "received"} <= set(states), states
    assert {"recorded", "key_issued", "registered"} <= set(progress), progress
    assert len(registrations) == certificates == states["registered"]
    assert result.rows["pki_certificate"] == result.rows["enrollment"]
    assert 0 < revoked < result.rows["pki_certificate"] / 2
    # The registry's counter moved past the seed's numbers.
    assert counter.last_number == max(r.act_record_number for r in registrations)
    assert len({r.child_iin for r in registrations}) == len(registrations)


def test_seeded_births_are_found_by_search(seeded: Any) -> None:
    _result, engine = seeded
    with Session(engine) as session:
        registration = session.exec(select(Registration)).first()
        submission = session.get(Submission, registration.submission_id)  # type: ignore[union-attr]
        assert registration is not None and submission is not None
        found = search_records(session, registration.child_iin, actor="staff:test", role="clerk")
        assert [r.submission_id for r in found.results] == [submission.id]
        by_mother = search_records(session, submission.mother_iin, actor="staff:test",
                                   role="clerk")
        assert submission.id in [r.submission_id for r in by_mother.results]


def test_the_seeded_chain_verifies(seeded: Any, service_settings: Settings) -> None:
    result, engine = seeded
    check = verify_chain(engine)
    assert check.intact, check.problems
    assert check.entries >= result.audit_entries > 8 * BIRTHS
    with Session(engine) as session:
        office = session.exec(select(RegistryOffice)).one()
    seal = load_seal(service_settings, "registry", office.bin,
                     load_certification_authority(service_settings).chain)
    # The seed signs a checkpoint of its last entry: a walk since it has nothing left to walk.
    since = verify_chain(engine, seal_certificate=seal.certificate, since_checkpoint=True)
    assert since.intact and since.resumed_after == check.head_seq


def test_the_seeded_signatures_verify(seeded: Any, service_settings: Settings) -> None:
    _result, engine = seeded
    ca = load_certification_authority(service_settings)
    with Session(engine) as session:
        birth = session.exec(select(Birth)).first()
        submission = session.exec(select(Submission)).first()
        assert submission is not None
        texts = dossier_text(submission), receipt_text(submission), report_text(submission)
        assert birth is not None
        seal = text_of(birth, "seal_signature") or ""
    cms.verify_detached(base64.b64decode(seal), birth.medical_record.encode())
    dossier = json.loads(texts[0])
    application = dossier["application"]
    jws.verify_detached(
        application["signatures"][0]["value"], canonicalize(application["document"])
    )
    receipt = json.loads(texts[1])
    jws.verify_detached(receipt["signature"], receipt_payload(receipt))
    report = json.loads(texts[2])
    assert report["passed"] is True
    assert dossier["medical_record"]["document"]["id"] in texts[2]
    office_seal = load_seal(service_settings, "registry", receipt["registry_office"]["bin"],
                            ca.chain)
    signer = jws.verify_detached(receipt["signature"], receipt_payload(receipt)).signer
    assert signer == office_seal.certificate


def test_the_seed_is_refused_in_production(app: Any, service_settings: Settings) -> None:
    production = service_settings.model_copy(update={"env": "production"})
    with pytest.raises(SeedRefused):
        run_seed(production, 1)


def test_the_seed_command(app: Any, service_settings: Settings,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRTHREG_DATA_DIR", str(service_settings.data_dir))
    monkeypatch.setenv("BIRTHREG_DATABASE_URL", service_settings.database_url)
    monkeypatch.setenv("BIRTHREG_BASE_URL", service_settings.base_url)
    monkeypatch.setenv("BIRTHREG_ENV", "development")
    result = CliRunner().invoke(cli, ["seed", "--births", "5", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "5 births" in result.output
    monkeypatch.setenv("BIRTHREG_ENV", "production")
    refused = CliRunner().invoke(cli, ["seed", "--births", "5"])
    assert refused.exit_code != 0
