"""The registry's core: the `Registry` of an app (trust anchors, validator, office and seal).

The registry's work lives beside it: `intake` (receiving and storing dossiers), `registration`
(register, reject, the certificate) and `queue` (the clerk's list, a submission's detail, the
sender's status). Routes (JSON and HTML) are thin and call those functions. Each function works
in the caller's session and only adds and flushes; the request session commits when the route
returns (a `DomainError` rolls everything back). Functions that must keep something although
they fail (`intake.receive_dossier` audits a refused dossier) say so, and their routes return the
error instead of raising it.

Per app there is one `Registry` (`registry_for(services)`): the trust anchors, the one `Validator`
(so that its revocation cache serves every request), the office and its seal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlmodel import Session, col, select

from birthreg.config import Settings
from birthreg.errors import NotFound, ServiceNotInitialised
from birthreg.models import RegistryOffice, Submission, SubmissionStatus
from birthreg.pki.fetch import HTTPRevocationFetcher, InProcessRevocationFetcher
from birthreg.pki.seals import Seal
from birthreg.pki.service import certification_authority
from birthreg.pki.service_seal import registry_seal
from birthreg.services import Services
from signing.revocation import RevocationFetcher
from signing.trust import TrustAnchors, Validator

PENDING = (SubmissionStatus.RECEIVED.value, SubmissionStatus.IN_REVIEW.value)
OBJECT_TYPE = "submission"


# -- the registry of an app ---------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    """The registry office that receives and registers, with its seal (receipts, certificates)."""

    id: int
    code: str
    bin: str
    name: str
    seal: Seal
    #: The same seal with its chain up to the root (certificates carry the whole chain).
    seal_with_root: Seal


class Registry:
    """One per app: what intake and registration need besides the database session."""

    def __init__(self, services: Services, *, validator: Validator, auto_register: bool) -> None:
        self.services = services
        self.validator = validator
        self.auto_register = auto_register
        self._office: Office | None = None
        self._lock = threading.Lock()

    def office(self, session: Session) -> Office:
        """The registry office (the first one `birthreg init` made) and its seal, loaded once."""
        office = self._office
        if office is None:
            with self._lock:
                office = self._office
                if office is None:
                    office = self._office = load_office(session, self.services.settings)
        return office


def registry_for(services: Services) -> Registry:
    """The app's `Registry`, made on first use (after `birthreg init` and the lifespan)."""
    registry: Registry = services.registry.get()
    return registry


def new_registry(services: Services) -> Registry:
    """A `Registry` for an app's `services`, trusting the registry's roots."""
    validator = Validator(registry_trust_anchors(services), revocation_fetcher(services))
    return Registry(
        services, validator=validator, auto_register=auto_register_setting(services.settings)
    )


def revocation_fetcher(services: Services) -> RevocationFetcher:
    """Where the registry reads revocations: from the CA's records in this process (role all),
    else over HTTP from the CRL and OCSP addresses in the certificates (role registry)."""
    if services.settings.holds_ca:
        return InProcessRevocationFetcher(services.engine, certification_authority(services))
    return HTTPRevocationFetcher()


def fresh_validator(services: Services) -> Validator:
    """A validator with no cached revocation answers (the registry's roots): for a parent's
    request, where a key revoked a moment ago must be refused now, not when a cache expires."""
    return Validator(registry_trust_anchors(services), revocation_fetcher(services))


def registry_trust_anchors(services: Services) -> TrustAnchors:
    """The roots the registry trusts, and nothing else.

    By default: the TEST root of this service's own CA (its issuing CA is known as an
    intermediate). A deployment that must trust other roots points the settings field
    `registry_roots` (environment `BIRTHREG_REGISTRY_ROOTS`) at a PEM bundle: its self-issued
    certificates become the roots, the others known intermediates, and the service's own CA is
    then trusted only if the bundle holds its root. Revocation of
    other CAs' certificates is fetched over HTTP from the pointers in their certificates.
    """
    bundle = services.settings.registry_roots_path
    if bundle:
        certificates = x509.load_pem_x509_certificates(Path(bundle).read_bytes())
        return TrustAnchors(
            [c for c in certificates if c.subject == c.issuer],
            [c for c in certificates if c.subject != c.issuer],
        )
    ca = certification_authority(services)
    return TrustAnchors([ca.root_certificate], [ca.issuing_certificate])


def auto_register_setting(settings: Any) -> bool:
    """Whether clean dossiers are registered at once (`BIRTHREG_REGISTRY_AUTO_REGISTER`)."""
    return bool(settings.registry_auto_register)


def load_office(session: Session, settings: Settings) -> Office:
    """The registry office (the first one `birthreg init` made) and its seal, from the database
    and the data dir (outside an app too: the CLI)."""
    row = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
    if row is None or row.id is None:
        raise ServiceNotInitialised("no registry office yet: run `birthreg init`")
    # Loaded once: the seal that signs receipts is the same without its self-issued root.
    full = registry_seal(settings, row.bin, with_root=True)
    seal = Seal(full.key, full.certificate, tuple(c for c in full.chain if c.subject != c.issuer))
    return Office(
        id=row.id, code=row.code, bin=row.bin, name=row.name, seal=seal, seal_with_root=full
    )


def not_found() -> NotFound:
    return NotFound("submission_not_found", "no submission with that id")


def locked_submission(session: Session, submission_id: str) -> Submission:
    """The submission, locked for update (read again from the database). Raises 404."""
    submission = session.exec(
        select(Submission)
        .where(Submission.id == submission_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if submission is None:
        raise not_found()
    return submission
