"""The issuing CA's CRL, published outside requests: a thread issues it again soon after a
revocation (and when it grows old), so that `GET /pki/crl` serves it as stored.

At a national CA the CRL holds a hundred thousand entries and takes about a second to build and
sign; without the publisher the first request after a revocation would wait for that. The
thread looks every PUBLISH_EVERY seconds whether the CRL is due (two index reads, no lock) and
builds it only then, so a revocation is on the CRL within seconds (OCSP knows it at once).
Several workers may each run one: a CRL number is taken once (see `service._current`).

`birthreg serve` turns it on (BIRTHREG_CRL_PUBLISHER=1 unless set); apps made elsewhere (tests,
tools) publish on request as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from birthreg.config import Settings
from birthreg.db import reading
from birthreg.errors import ServiceNotInitialised
from birthreg.models import IssuedCRL, now
from birthreg.pki.service import crl_due, current_crl, load_certification_authority

log = logging.getLogger("birthreg.pki")

#: How often the thread looks whether the CRL is due (seconds).
PUBLISH_EVERY = 5.0


def publish_if_due(engine: Engine, settings: Settings) -> IssuedCRL | None:
    """Issue the CRL when it is due (committed); the new CRL, or None when none was due."""
    moment = now()
    with reading(engine) as connection, Session(bind=connection) as session:
        if not crl_due(session, moment):
            return None
    ca = load_certification_authority(settings)
    with Session(engine) as session:
        crl = current_crl(session, ca, moment)
        session.commit()
        session.refresh(crl)
        return crl


class CRLPublisher:
    """A thread calling `publish_if_due` every `every` seconds until `stop()`."""

    def __init__(self, engine: Engine, settings: Settings, *, every: float = PUBLISH_EVERY):
        self.engine = engine
        self.settings = settings
        self.every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="birthreg-crl", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                crl = publish_if_due(self.engine, self.settings)
            except ServiceNotInitialised:
                continue  # `birthreg init` has not run yet
            except Exception as error:  # the next look tries again
                log.warning("pki: publishing the CRL failed (%s)", type(error).__name__)
                continue
            if crl is not None:
                log.info("pki: CRL %d published (%d revoked)", crl.number, crl.revoked_count)


@contextmanager
def crl_publisher(engine: Engine, settings: Settings) -> Iterator[None]:
    """The app's lifespan: a CRLPublisher while the app serves (BIRTHREG_CRL_PUBLISHER), where
    the CA is held (a registry has no CA key and publishes no CRL)."""
    if not (settings.crl_publisher and settings.holds_ca):
        yield
        return
    publisher = CRLPublisher(engine, settings)
    publisher.start()
    try:
        yield
    finally:
        publisher.stop()
