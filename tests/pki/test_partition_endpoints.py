"""CRL partitions in the service: issuance fills a partition and opens the next, each partition's
CRL is served at /pki/crl/<n> and the legacy one at /pki/crl, a revocation rebuilds only its own
partition's CRL, and old CRLs of a partition go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MOTHER as PERSON
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, col, func, select

from birthreg.db import make_engine
from birthreg.models import CRLPartition, IssuedCertificate, IssuedCRL, now
from birthreg.pki.partitions import due_partitions, next_crl_partition
from birthreg.pki.publisher import publish_if_due
from birthreg.pki.service import (
    CRL_REFRESH,
    certification_authority,
    current_crl,
    record_issued,
)
from birthreg.services import app_services
from signing.ca import LEGACY_PARTITION, Profile
from signing.revocation import crl_urls


@pytest.fixture
def session(app: Any, service_settings: Any) -> Iterator[Session]:
    """A session in transactions, as the service's (the `db` fixture's autocommits)."""
    engine = make_engine(service_settings.database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _issue(app: Any, db: Session, partition: int | None) -> x509.Certificate:
    """A certificate issued and recorded the way the ward does (a partition taken in the
    transaction), or as before partitions (`None`: it names /pki/crl)."""
    ca = certification_authority(app_services(app))
    number = LEGACY_PARTITION if partition is None else partition
    certificate = ca.issue(
        ec.generate_private_key(ec.SECP256R1()).public_key(), PERSON,
        profile=Profile.INDIVIDUAL, moment=now(), crl_partition=number,
    )
    record_issued(db, certificate, Profile.INDIVIDUAL, now())
    db.commit()
    return certificate


def _revoke(app: Any, certificate: x509.Certificate) -> None:
    from pki.test_endpoints import _revoke as revoke

    revoke(app, certificate.serial_number)


def _crl(client: Any, certificate: x509.Certificate) -> x509.CertificateRevocationList:
    (url,) = crl_urls(certificate)
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200, response.text
    return x509.load_der_x509_crl(response.content)


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_issuance_fills_a_partition_then_opens_the_next(session: Session) -> None:
    db = session
    open_ = db.exec(select(func.max(CRLPartition.number))).one()
    assert open_ == 1  # init's two seals are in partition 1
    issued = db.get(CRLPartition, 1).issued  # type: ignore[union-attr]
    assert issued == 2
    taken = [next_crl_partition(db, size=4) for _ in range(7)]
    assert taken == [1, 1, 2, 2, 2, 2, 3]
    db.commit()
    assert [(p.number, p.issued) for p in db.exec(select(CRLPartition)).all()] == [
        (0, 0), (1, 4), (2, 4), (3, 1)
    ]


def test_a_rolled_back_issuance_gives_its_place_back(app: Any, service_settings: Any) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        with Session(engine) as session:
            assert next_crl_partition(session) == 1
            assert session.get(CRLPartition, 1).issued == 3  # type: ignore[union-attr]
            session.rollback()
            assert session.get(CRLPartition, 1).issued == 2  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_each_partition_is_served_where_its_certificates_point(
    app: Any, client: Any, db: Session
) -> None:
    new, legacy = _issue(app, db, 1), _issue(app, db, None)
    row = db.get(IssuedCertificate, format(new.serial_number, "x"))
    assert row is not None and row.crl_partition == 1
    latest = db.get(CRLPartition, 1).not_after  # type: ignore[union-attr]
    assert latest is not None and latest >= new.not_valid_after_utc  # the seals' is later
    partition, old = _crl(client, new), _crl(client, legacy)
    (partition_url,), (legacy_url,) = crl_urls(new), crl_urls(legacy)
    assert legacy_url.endswith("/pki/crl") and partition_url.endswith("/pki/crl/1")
    for crl, url in ((partition, partition_url), (old, legacy_url)):
        point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
        assert point.full_name == [x509.UniformResourceIdentifier(url)]
    # A revocation shows on its own partition's CRL only, and rebuilds only that one.
    _revoke(app, legacy)
    assert _number(_crl(client, new)) == _number(partition)
    assert _crl(client, legacy).get_revoked_certificate_by_serial_number(legacy.serial_number)
    _revoke(app, new)
    after = _crl(client, new)
    assert after.get_revoked_certificate_by_serial_number(new.serial_number) is not None
    assert after.get_revoked_certificate_by_serial_number(legacy.serial_number) is None


def test_unknown_partitions_are_refused(client: Any) -> None:
    missing = client.get("/pki/crl/99")
    assert missing.status_code == 404
    assert missing.json()["error"] == "crl_partition_not_found"
    for path in ("/pki/crl/0", "/pki/crl/-1", "/pki/crl/x", "/pki/crl/1000000000"):
        response = client.get(path)
        assert 400 <= response.status_code < 500, path
        assert "error" in response.json(), path


def test_the_publisher_builds_only_the_partitions_that_changed(
    app: Any, session: Session, service_settings: Any
) -> None:
    db = session
    second = next_crl_partition(db, size=2)  # the seals fill partition 1 at size 2
    db.commit()
    assert second == 2
    ca = certification_authority(app_services(app))
    certificate = ca.issue(
        ec.generate_private_key(ec.SECP256R1()).public_key(), PERSON,
        profile=Profile.INDIVIDUAL, moment=now(), crl_partition=2,
    )
    record_issued(db, certificate, Profile.INDIVIDUAL, now())
    db.commit()
    engine = make_engine(service_settings.database_url)
    try:
        first = publish_if_due(engine, service_settings)
        assert sorted(crl.crl_partition for crl in first) == [0, 1, 2]
        assert publish_if_due(engine, service_settings) == []
        _revoke(app, certificate)
        with Session(engine) as session:
            assert due_partitions(session, now(), CRL_REFRESH) == [2]
        (published,) = publish_if_due(engine, service_settings)
        assert (published.crl_partition, published.revoked_count) == (2, 1)
        crl = x509.load_der_x509_crl(published.der)
        assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    finally:
        engine.dispose()


def test_a_partition_keeps_its_last_two_crls(app: Any, session: Session) -> None:
    db = session
    from datetime import timedelta

    ca = certification_authority(app_services(app))
    moment = now()
    numbers = []
    for step in range(4):
        crl = current_crl(db, ca, moment + step * (CRL_REFRESH + timedelta(seconds=1)), 1)
        db.commit()
        numbers.append(crl.number)
    assert len(set(numbers)) == 4  # each one was due
    kept = db.exec(
        select(IssuedCRL.number)
        .where(IssuedCRL.crl_partition == 1)
        .order_by(col(IssuedCRL.number))
    ).all()
    assert kept == numbers[-2:]


def test_the_in_process_fetcher_serves_partitions_and_nothing_else(
    app: Any, client: Any, db: Session
) -> None:
    from birthreg.pki.fetch import InProcessRevocationFetcher

    ca = certification_authority(app_services(app))
    fetcher = InProcessRevocationFetcher(app.state.services.engine, ca, fallback=_Nowhere())
    crl = x509.load_der_x509_crl(fetcher.fetch_crl(ca.partition_crl_url(1)))
    point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    assert point.full_name == [x509.UniformResourceIdentifier(ca.partition_crl_url(1))]
    for url in (f"{ca.crl_url}/77", f"{ca.crl_url}/01", f"{ca.crl_url}/x", "http://else.test/c"):
        with pytest.raises(OSError):
            fetcher.fetch_crl(url)


class _Nowhere:
    def fetch_crl(self, url: str) -> bytes:
        raise ConnectionRefusedError(url)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise ConnectionRefusedError(url)


def test_two_issuers_at_a_full_partition_open_one_next(app: Any, service_settings: Any) -> None:
    """Partition 1 is full (size 2: the seals); two transactions take a place at once: one
    opens partition 2, the other waits for it and takes the second place there."""
    import threading

    engine = make_engine(service_settings.database_url)
    first_took = threading.Event()
    taken: dict[str, int] = {}

    def issuer(name: str, hold: float) -> None:
        with Session(engine) as session:
            if name == "second":
                first_took.wait(10)
            taken[name] = next_crl_partition(session, size=2)
            if name == "first":
                first_took.set()
                threading.Event().wait(hold)  # still in its transaction
            session.commit()

    try:
        threads = [threading.Thread(target=issuer, args=("first", 0.5)),
                   threading.Thread(target=issuer, args=("second", 0))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with Session(engine) as session:
            opened = session.get(CRLPartition, 2)
            assert opened is not None and opened.issued == 2
    finally:
        engine.dispose()
    assert taken == {"first": 2, "second": 2}
