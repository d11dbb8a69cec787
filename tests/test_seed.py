"""`birthreg seed`: births in every state, signed for real, on a chain that verifies, on SQLite
and PostgreSQL; refused in production."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from birthreg import seed, seed_plan, seed_report
from birthreg.audit import verify_chain
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import (
    ActRecordCounter,
    Birth,
    BirthCertificate,
    CRLPartition,
    Enrollment,
    Facility,
    IssuedCertificate,
    ParentApplication,
    Registration,
    RegistryOffice,
    Submission,
    now,
)
from birthreg.packed import text_of
from birthreg.parents.submission import dossier as parents_dossier
from birthreg.pki.publisher import publish_if_due
from birthreg.pki.seals import load_seal
from birthreg.pki.service import load_certification_authority
from birthreg.registry.certificate import (
    certificate_fields,
    load_certificate_context,
    read_dossier,
)
from birthreg.registry.client import encode_dossier
from birthreg.registry.intake import receipt_payload
from birthreg.registry.record_models import Issuance, SearchKey
from birthreg.registry.search import search_records
from birthreg.registry.stored import dossier_text, receipt_text, report_text
from birthreg.seed import SeedRefused, run_seed
from birthreg.ward.records import medical_record_document
from birthreg.ward.schemas import BirthIn, ChildIn, PersonIn
from signing import cms, jws
from signing.ca import crl_partition_of
from signing.canonical import canonicalize
from signing.dossier import verify_dossier
from signing.seal import read_seal
from signing.trust import TrustAnchors, Validator

BIRTHS = 120
PARTITION = 50


@pytest.fixture
def seeded(app: Any, service_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    # More revoked keys than a real year has, so that a small seed has some.
    monkeypatch.setattr(seed_plan, "REVOKED", 0.3)
    # Three batches, made by two forked workers and written in turn.
    monkeypatch.setattr(seed, "BATCH", 50)
    # CRL partitions of 50 certificates, so that a small seed fills several.
    monkeypatch.setattr(seed_plan, "PARTITION_SIZE", PARTITION)
    result = run_seed(service_settings, BIRTHS, days=20, rng=random.Random(7), processes=2)
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


def test_seeded_certificates_are_in_the_partitions_the_ca_gives(
    seeded: Any, service_settings: Settings
) -> None:
    _result, engine = seeded
    ca = load_certification_authority(service_settings)
    with Session(engine) as session:
        certificates = session.exec(select(IssuedCertificate)).all()
        partitions = {row.number: row for row in session.exec(select(CRLPartition)).all()}
    by_partition: Counter[int] = Counter()
    for row in certificates:
        certificate = x509.load_der_x509_certificate(row.der)
        assert crl_partition_of(certificate) == row.crl_partition > 0
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        [name] = points.value[0].full_name  # type: ignore[misc]
        assert name.value == ca.partition_crl_url(row.crl_partition)
        by_partition[row.crl_partition] += 1
    # Filled in turn as the CA fills them (`birthreg init`'s seals first): every partition but
    # the open one full, and each one's row counting its certificates and revocations.
    numbers = sorted(by_partition)
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3
    assert all(by_partition[n] == PARTITION for n in numbers[:-1])
    for number in numbers:
        assert partitions[number].issued == by_partition[number]
        assert partitions[number].revoked == sum(
            1 for row in certificates if row.crl_partition == number and row.revoked_at)
        assert partitions[number].not_after == max(
            row.not_after for row in certificates if row.crl_partition == number)


def test_a_revoked_seeded_certificate_is_on_its_partitions_crl(
    seeded: Any, service_settings: Settings
) -> None:
    _result, engine = seeded
    with Session(engine) as session:
        revoked = session.exec(
            select(IssuedCertificate).where(col(IssuedCertificate.revoked_at).is_not(None))
        ).all()
    # The publisher finds the seeded partitions due and lists each revocation on its own
    # partition's CRL only.
    crls = {crl.crl_partition: x509.load_der_x509_crl(crl.der)
            for crl in publish_if_due(engine, service_settings)}
    assert {row.crl_partition for row in revoked} <= set(crls)
    for row in revoked:
        serial = int(row.serial, 16)
        for partition, crl in crls.items():
            listed = crl.get_revoked_certificate_by_serial_number(serial) is not None
            assert listed == (partition == row.crl_partition), (row.serial, partition)


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
        assert birth is not None and submission is not None
        # Kept packed (birthreg.packed): read back as made.
        seal = text_of(birth, "seal_signature") or ""
        texts = dossier_text(submission), receipt_text(submission), report_text(submission)
    sealed = cms.verify_detached(base64.b64decode(seal), birth.medical_record.encode())
    # Sealed as the ward seals (with the ESS signing-certificate attribute), when recorded, or
    # for births older than the seal ten minutes after it began.
    facility_seal = sealed.signer
    begins = facility_seal.not_valid_before_utc + timedelta(minutes=10)
    recorded = birth.recorded_at.replace(tzinfo=UTC) if birth.recorded_at.tzinfo is None else (
        birth.recorded_at)
    assert sealed.signing_time == max(recorded, begins).replace(microsecond=0)
    assert "signing_certificate_v2" in {
        a["type"].native
        for a in asn1_cms.ContentInfo.load(base64.b64decode(seal))["content"][
            "signer_infos"][0]["signed_attrs"]
    }
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


def test_each_report_names_its_own_dossier(seeded: Any) -> None:
    """The reports are the first one's with each dossier's identifiers written in."""
    _result, engine = seeded
    with Session(engine) as session:
        submissions = session.exec(select(Submission)).all()
        reports = [(json.loads(dossier_text(s)), report_text(s), s) for s in submissions]
    for index, (dossier, report, submission) in enumerate(reports):
        record, application = dossier["medical_record"]["document"], dossier["application"]
        assert json.loads(report)["passed"] is True
        header = json.loads(jws.b64url_decode(
            application["signatures"][0]["value"].split(".")[0]))
        signed_at = datetime.fromisoformat(header["sigT"]).isoformat()
        for own in (record["id"], application["document"]["id"], record["mother"]["iin"],
                    submission.received_at.replace(tzinfo=UTC).isoformat(), signed_at):
            assert own in report
        other = reports[index - 1][0]["medical_record"]["document"]
        assert other["id"] not in report and other["mother"]["iin"] not in report


def test_seeded_records_are_the_wards_and_dossiers_the_parents(seeded: Any) -> None:
    """The seed writes the ward's record and the dossier the parents' service sends without
    going through them (for speed): each is what those functions make of the same values."""
    _result, engine = seeded
    with Session(engine) as session:
        facility = session.exec(select(Facility)).first()
        births = session.exec(select(Birth)).all()
        applications = session.exec(select(ParentApplication)).all()
        assert facility is not None and births and applications
        for birth in births:
            record = json.loads(birth.medical_record)
            child, mother = record["child"], record["mother"]
            recorded_at = birth.recorded_at.replace(tzinfo=UTC)
            made = medical_record_document(BirthIn(
                mother=PersonIn(**mother),
                child=ChildIn(sex=child["sex"], born_at=birth.born_at.replace(tzinfo=UTC),
                              weight_g=child["weight_g"], length_cm=child["length_cm"]),
                attendant=record["attendant"],
            ), facility, record_id=birth.id, moment=recorded_at)
            assert canonicalize(made).decode() == birth.medical_record
        for application in applications:
            stored = session.get(Submission, application.submission_id)
            assert stored is not None
            sent = encode_dossier(parents_dossier(session, application)).decode()
            assert dossier_text(stored) == sent
            digest = hashlib.sha256(canonicalize(json.loads(sent))).hexdigest()
            assert stored.dossier_sha256 == digest


def test_seeded_certificates_have_the_fields_registration_gives(
    seeded: Any, service_settings: Settings
) -> None:
    """The seed gives each certificate the dossier it made rather than parsing the text it
    stored (for speed): the fields are what the service makes from the stored submission."""
    _result, engine = seeded
    with Session(engine) as session:
        context = load_certificate_context(service_settings, session)
        issued = session.exec(select(BirthCertificate)).all()
        assert issued
        for row in issued:
            registration = session.get(Registration, row.registration_id)
            assert registration is not None
            submission = session.get(Submission, registration.submission_id)
            stored = json.loads(row.fields)
            made = certificate_fields(
                context, registration, read_dossier(submission),
                number=row.certificate_number,
                issued_at=datetime.fromisoformat(stored["issued_at"]))
            assert made == stored


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


def test_a_second_seed_goes_on_from_the_first(
    app: Any, service_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "BATCH", 20)
    first = run_seed(service_settings, 40, days=10, rng=random.Random(1), processes=1)
    second = run_seed(service_settings, 40, days=10, rng=random.Random(1), processes=2)
    engine = make_engine(service_settings.database_url)
    try:
        check = verify_chain(engine)
        with Session(engine) as session:
            registrations = session.exec(select(Registration)).all()
            counters = session.exec(select(ActRecordCounter)).all()
            submissions = session.exec(select(Submission)).all()
            lookups = session.exec(select(Enrollment.lookup)).all()
    finally:
        engine.dispose()
    assert check.intact and check.entries >= first.audit_entries + second.audit_entries
    numbers = [(r.year, r.act_record_number) for r in registrations]
    assert len(set(numbers)) == len(numbers) > 40
    assert len({r.child_iin for r in registrations}) == len(registrations)
    assert len({s.tracking_number for s in submissions}) == len(submissions)
    assert len(set(lookups)) == len(lookups)
    for counter in counters:
        assert counter.last_number == max(n for y, n in numbers if y == counter.year)


def test_seeded_births_have_their_own_people(seeded: Any) -> None:
    _result, engine = seeded
    with Session(engine) as session:
        births = session.exec(select(Birth)).all()
    mothers = [json.loads(b.medical_record)["mother"] for b in births]
    assert len({m["iin"] for m in mothers}) == len(mothers)
    assert len({(m["surname"], m["given_name"], m["patronymic"]) for m in mothers}) > BIRTHS * 0.9


def test_seeded_dossiers_pass_real_verification(seeded: Any, service_settings: Settings) -> None:
    """Not only the first (the report's template): any seeded dossier verifies in full, seals,
    signatures, chains and revocation, as the registry verifies one on intake."""
    _result, engine = seeded
    ca = load_certification_authority(service_settings)
    with Session(engine) as session:
        submissions = session.exec(select(Submission).order_by(col(Submission.received_at))).all()
        dossiers = [(s, json.loads(dossier_text(s))) for s in submissions]
        revoked = set(session.exec(
            select(IssuedCertificate.serial).where(
                IssuedCertificate.revoked_at.is_not(None)  # type: ignore[union-attr]
            )
        ).all())
        ders = {c.serial: c.der for c in session.exec(select(IssuedCertificate)).all()}
    checked = 0
    for submission, dossier in dossiers[:: max(1, len(dossiers) // 6)]:
        header = json.loads(jws.b64url_decode(
            dossier["application"]["signatures"][0]["value"].split(".")[0]
        ))
        mother = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        if format(mother.serial_number, "x") in revoked:
            continue
        assert ders[format(mother.serial_number, "x")] == mother.public_bytes(Encoding.DER)
        moment = max(submission.received_at.replace(tzinfo=UTC), now()) + timedelta(hours=1)
        fetcher = seed_report._InMemoryFetcher(ca, moment)
        record = dossier["medical_record"]
        facility = cms.verify_detached(
            base64.b64decode(record["signature"]["value"]), canonicalize(record["document"])
        ).signer
        for certificate in (mother, facility):
            fetcher.statuses.add(certificate)
        validator = Validator(TrustAnchors([ca.root_certificate], [ca.issuing_certificate]),
                              fetcher)
        report = verify_dossier(dossier, validator=validator, moment=moment,
                                registration_deadline=timedelta(days=3650))
        assert report.passed, [c for c in seed_report._checks(report.to_json())
                               if not c["passed"]]
        checked += 1
    assert checked >= 3



@pytest.mark.parametrize(("running", "workers"),
                         [(1, 4), (3, 4), (5, 4), (6, 3), (7, 2), (9, 1), (20, 1)])
def test_the_seed_forks_one_worker_per_core_unless_overloaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, running: int, workers: int
) -> None:
    """Runnable tasks now (this one among them), not the load average, which a seed just ended
    keeps up."""
    monkeypatch.setattr(seed.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(seed.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    (tmp_path / "loadavg").write_text(f"9.00 9.00 9.00 {running}/812 4242\n")
    monkeypatch.setattr(seed, "LOADAVG", tmp_path / "loadavg")
    assert seed._workers() == workers


@pytest.mark.parametrize(("load", "workers"), [(0.1, 4), (3.5, 4), (6.0, 2), (9.0, 1)])
def test_without_linux_s_count_the_seed_reads_the_load_average(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, load: float, workers: int
) -> None:
    monkeypatch.setattr(seed.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(seed.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(seed, "LOADAVG", tmp_path / "no-such-file")
    assert seed._workers() == workers


def test_the_seeded_qr_seals_and_holders_certificates_verify(
    seeded: Any, service_settings: Settings
) -> None:
    """The birth certificates' QR seals read with the registry seal's certificate, and the
    parents' certificates (kept as issued: seed_certificates) are their DER, by the CA."""
    _result, engine = seeded
    ca = load_certification_authority(service_settings)
    with Session(engine) as session:
        office = session.exec(select(RegistryOffice)).one()
        issued = session.exec(select(BirthCertificate)).all()
        holders = session.exec(select(IssuedCertificate).where(
            col(IssuedCertificate.profile) == "individual")).all()
    seal = load_seal(service_settings, "registry", office.bin, ca.chain)
    assert issued and holders
    for row in issued:
        contents = read_seal(row.qr, [seal.certificate])
        fields = json.loads(row.fields)
        assert contents.certificate_number == fields["certificate_number"]
        assert contents.child_iin == fields["child"]["iin"]
        assert contents.child_surname == fields["child"]["surname"]
    for holder in holders:
        certificate = x509.load_der_x509_certificate(holder.der)
        assert certificate.public_bytes(Encoding.DER) == holder.der
        certificate.verify_directly_issued_by(ca.issuing_certificate)
        assert format(certificate.serial_number, "x") == holder.serial
