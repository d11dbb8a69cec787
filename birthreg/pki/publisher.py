"""The issuing CA's CRLs, published outside requests: a thread issues a partition's CRL again
soon after a revocation in it (and when it grows old), so that `GET /pki/crl/<n>` and
`GET /pki/crl` serve them as stored.

The thread looks every PUBLISH_EVERY seconds which partitions are due (two small tables read,
no lock, see `partitions.due_partitions`) and builds only those, so a revocation is on its
partition's CRL within seconds (OCSP knows it at once) and costs one partition's build, not the
whole CA's. Several workers may each run one: a CRL number is taken once (`service._current`).

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
from birthreg.pki.partitions import due_partitions
from birthreg.pki.service import CRL_REFRESH, current_crl, load_certification_authority

log = logging.getLogger("birthreg.pki")

#: How often the thread looks whether the CRL is due (seconds).
PUBLISH_EVERY = 5.0


def publish_if_due(engine: Engine, settings: Settings) -> list[IssuedCRL]:
    """Issue the CRLs of the partitions that are due, each committed; the new CRLs (none when
    nothing was due)."""
    moment = now()
    with reading(engine) as connection, Session(bind=connection) as session:
        due = due_partitions(session, moment, CRL_REFRESH)
    if not due:
        return []
    ca = load_certification_authority(settings)
    published = []
    for partition in due:
        with Session(engine) as session:
            crl = current_crl(session, ca, moment, partition)
            session.commit()
            session.refresh(crl)
            published.append(crl)
    return published


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
                published = publish_if_due(self.engine, self.settings)
            except ServiceNotInitialised:
                continue  # `birthreg init` has not run yet
            except Exception as error:  # the next look tries again
                log.warning("pki: publishing the CRL failed (%s)", type(error).__name__)
                continue
            for crl in published:
                log.info(
                    "pki: CRL %d of partition %d published (%d revoked)",
                    crl.number,
                    crl.crl_partition,
                    crl.revoked_count,
                )


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
