"""`birthreg init --role registry`: the registry's roots, office and seal, without any CA key.

Run once with `--roots ROOT.pem`: the roots are kept in the data dir, the seal key and its
request (`DATA/registry-seal.csr`) are made, and the registry awaits its certificate. Run again
with `--seal-cert FILE` (what `birthreg ca issue-seal` printed at the ward): the certificate is
checked and installed, with the registry office that it seals for. Running it again after that
changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from birthreg import audit
from birthreg.config import REGISTRY_ROOTS_FILE, ConfigurationError, Settings
from birthreg.models import RegistryOffice, now
from birthreg.pki.seal_request import (
    SealCertificateRefused,
    check_seal_certificate,
    ensure_request,
)
from birthreg.pki.seals import save_seal_certificate, seal_certificate_path
from birthreg.pki.service import record_issued
from signing.ca import Organisation, Profile


@dataclass
class RegistrySteps:
    """What `initialise_registry` made and found, and the request awaiting its certificate."""

    made: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    awaiting_seal: Path | None = None


def initialise_registry(
    settings: Settings, engine: Engine, organisation: Organisation, code: str, *,
    roots: Path | None, seal_cert: Path | None,
) -> RegistrySteps:
    """Make what the registry role needs for `organisation` (see the module docstring)."""
    result = RegistrySteps()
    trusted = _keep_roots(settings, roots, result)
    with Session(engine) as session:
        office = session.exec(
            select(RegistryOffice).where(RegistryOffice.bin == organisation.bin)
        ).one_or_none()
        if office is not None:
            result.found.append(f"registry office BIN {office.bin} with its seal certificate")
            return result
        request, made = ensure_request(settings, organisation)
        (result.made if made else result.found).append(
            f"registry seal key (encrypted) and its request {request}"
        )
        if seal_cert is None:
            result.awaiting_seal = request
            return result
        try:
            checked = check_seal_certificate(
                settings, organisation, seal_cert.read_bytes(), trusted, now()
            )
        except (OSError, SealCertificateRefused) as error:
            raise ConfigurationError(
                f"the seal certificate {seal_cert} is refused: {error}"
            ) from None
        save_seal_certificate(
            seal_certificate_path(settings, "registry", organisation.bin),
            (checked.certificate, *checked.chain),
        )
        serial = format(checked.certificate.serial_number, "x")
        # Kept as the CA's issued list keeps it, so /pki/seal.pem and /verify find it here too.
        record_issued(session, checked.certificate, Profile.ORGANISATION_SEAL, now())
        session.add(
            RegistryOffice(
                code=code,
                bin=organisation.bin,
                name=organisation.name,
                seal_serial=serial,
                created_at=now(),
            )
        )
        audit.record(
            session, actor="system", role="system", action="seal.installed",
            object_type="certificate", object_id=serial, details={"kind": "registry"},
        )
        session.commit()
    result.made.append(
        f"registry office BIN {organisation.bin} with its seal certificate {serial}"
    )
    return result


def _keep_roots(
    settings: Settings, roots: Path | None, result: RegistrySteps
) -> list[x509.Certificate]:
    """The roots the registry trusts, copied into the data dir when given (once; a different
    bundle later is refused rather than silently trusted)."""
    kept = settings.data_dir / REGISTRY_ROOTS_FILE
    if roots is not None:
        try:
            given = roots.read_bytes()
            certificates = x509.load_pem_x509_certificates(given)
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"--roots {roots}: no PEM certificates ({error})") from None
        if kept.is_file():
            if kept.read_bytes() != given:
                raise ConfigurationError(
                    f"{kept} holds other roots; remove it to trust another bundle"
                )
            result.found.append(f"registry roots in {kept}")
        else:
            descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(given)
            result.made.append(f"registry roots in {kept} ({len(certificates)} certificates)")
    path = settings.registry_roots_path
    if path is None:
        raise ConfigurationError(
            "the registry needs its roots: --roots ROOT.pem (or BIRTHREG_REGISTRY_ROOTS)"
        )
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    return [c for c in certificates if c.subject == c.issuer]
