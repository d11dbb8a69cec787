"""The seal a process signs its own statements with (audit checkpoints, the registry's receipts
and certificates), for its role: the registry office's where the registry is (roles all and
registry), the facility's at the ward. Where the CA is, a seal's chain is the CA's; the registry
keeps the chain it was issued with beside its certificate (birthreg.pki.seal_request)."""

from __future__ import annotations

from cryptography import x509
from sqlmodel import Session, col, select

from birthreg.config import Settings
from birthreg.errors import ServiceNotInitialised
from birthreg.models import Facility, RegistryOffice
from birthreg.pki.seals import Seal, load_seal
from birthreg.pki.service import load_certification_authority


def seal_chain(
    settings: Settings, *, with_root: bool = False
) -> tuple[x509.Certificate, ...] | None:
    """The chain that goes with this role's seals: the CA's (and its root when asked) where the
    CA is; None (the chain kept beside the seal's certificate) at the registry."""
    if not settings.holds_ca:
        return None
    ca = load_certification_authority(settings)
    return (*ca.chain, ca.root_certificate) if with_root else ca.chain


def registry_seal(settings: Settings, bin_: str, *, with_root: bool = False) -> Seal:
    """The registry office's seal; its chain without the root unless asked."""
    seal = load_seal(settings, "registry", bin_, seal_chain(settings, with_root=with_root))
    if settings.holds_ca or with_root:
        return seal
    return Seal(seal.key, seal.certificate, tuple(c for c in seal.chain if c.subject != c.issuer))


def service_seal(settings: Settings, session: Session) -> Seal:
    """The seal that signs this process's audit checkpoints (see the module docstring)."""
    if settings.serves_registry:
        office = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
        if office is None:
            raise ServiceNotInitialised("no registry office yet: run `birthreg init`")
        return registry_seal(settings, office.bin)
    facility = session.exec(select(Facility).order_by(col(Facility.id))).first()
    if facility is None:
        raise ServiceNotInitialised("no facility yet: run `birthreg init`")
    return load_seal(settings, "facility", facility.bin, seal_chain(settings))
