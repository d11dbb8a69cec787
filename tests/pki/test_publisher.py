"""The CRL is issued outside requests: after a revocation the publisher issues it once, and
GET /pki/crl then serves that CRL as stored."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from cryptography import x509
from sqlmodel import Session, func, select

from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import Facility, IssuedCertificate, IssuedCRL
from birthreg.pki.publisher import CRLPublisher, publish_if_due


def _revoke_facility_seal(app: Any, db: Session) -> int:
    from pki.test_endpoints import _revoke

    serial = db.exec(select(Facility)).one().seal_serial
    _revoke(app, int(serial, 16))
    return int(serial, 16)


def _crl_count(db: Session) -> int:
    return db.exec(select(func.count()).select_from(IssuedCRL)).one()


def test_a_revocation_is_published_once_and_served_as_stored(
    app: Any, client: Any, db: Session, service_settings: Settings
) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        first = publish_if_due(engine, service_settings)  # none was issued yet
        assert sorted(crl.crl_partition for crl in first) == [0, 1]  # legacy, the seals'
        assert publish_if_due(engine, service_settings) == []  # nothing changed since
        serial = _revoke_facility_seal(app, db)
        (published,) = publish_if_due(engine, service_settings)  # only the seal's partition
        assert (published.crl_partition, published.revoked_count) == (1, 1)
        assert publish_if_due(engine, service_settings) == []
    finally:
        engine.dispose()
    issued = _crl_count(db)
    served = x509.load_der_x509_crl(client.get("/pki/crl/1").content)
    assert _crl_count(db) == issued  # the request built nothing
    number = served.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == published.number
    assert served.get_revoked_certificate_by_serial_number(serial) is not None


def test_the_publisher_thread_issues_the_crl_soon_after_a_revocation(
    app: Any, client: Any, db: Session, service_settings: Settings
) -> None:
    engine = make_engine(service_settings.database_url)
    publisher = CRLPublisher(engine, service_settings, every=0.05)
    publisher.start()
    try:
        serial = _revoke_facility_seal(app, db)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            latest = db.exec(
                select(IssuedCRL).where(IssuedCRL.revoked_count == 1)
            ).first()
            if latest is not None:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no CRL was published after the revocation")
    finally:
        publisher.stop()
        engine.dispose()
    crl = x509.load_der_x509_crl(latest.der)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert db.get(IssuedCertificate, format(serial, "x")).revoked_at is not None  # type: ignore[union-attr]


def test_with_the_publisher_the_crl_is_served_without_counting(
    service_settings: Settings, db: Session
) -> None:
    """Where the publisher runs, a request serves the last CRL as it is: a revocation shows
    once the publisher has issued the next one."""
    from fastapi.testclient import TestClient

    from birthreg.main import create_app

    settings = service_settings.model_copy(update={"crl_publisher": True})
    app = create_app(service_settings)  # no thread: this test publishes by hand
    with TestClient(app, base_url="http://testserver") as client:
        app.state.services = replace(app.state.services, settings=settings)
        first = client.get("/pki/crl/1").content
        _revoke_facility_seal(app, db)
        assert client.get("/pki/crl/1").content == first  # not yet published
        engine = make_engine(settings.database_url)
        try:
            published = {crl.crl_partition: crl for crl in publish_if_due(engine, settings)}
        finally:
            engine.dispose()
        assert client.get("/pki/crl/1").content == published[1].der
