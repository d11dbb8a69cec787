"""`birthreg ca issue-seal`: the ward's CA issues a seal across the trust boundary.

The registry (role registry) holds no CA key: it sends its PKCS#10 request (`init --role
registry` wrote it), the ward's operator runs this against the ward's data dir, and the printed
certificate and chain go back to the registry's `init --role registry --seal-cert FILE`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.serialization import Encoding

from birthreg.cli_common import fail, load_settings

ca_app = typer.Typer(help="The ward's TEST CA.", no_args_is_help=True)


class SealKind(StrEnum):
    registry = "registry"
    facility = "facility"


@ca_app.command("issue-seal")
def issue_seal(
    csr: Annotated[Path, typer.Argument(help="The PKCS#10 request (PEM or DER).")],
    kind: Annotated[SealKind, typer.Option(help="Whose seal it is.")] = SealKind.registry,
    bin_: Annotated[
        str | None,
        typer.Option("--bin", help="The organisation's BIN. Default: the default registry "
                     "office's (or facility's)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The organisation's name (with --bin).")] = None,
) -> None:
    """Issue a seal certificate for the key in CSR and print it with its chain (PEM).

    The organisation comes from the options, never from the request: the request only proves
    that its sender holds the key."""
    from sqlmodel import Session

    from birthreg import audit
    from birthreg.bootstrap import DEFAULT_FACILITY, DEFAULT_REGISTRY_OFFICE
    from birthreg.db import make_engine
    from birthreg.errors import DomainError
    from birthreg.pki.partitions import next_crl_partition
    from birthreg.pki.seal_request import issue_seal as issue
    from birthreg.pki.service import load_certification_authority, record_issued
    from signing.ca import Organisation, Profile
    from signing.errors import SigningError

    settings = load_settings()
    if not settings.holds_ca:
        fail("the registry holds no CA: run `birthreg ca issue-seal` at the ward")
    default = DEFAULT_REGISTRY_OFFICE if kind is SealKind.registry else DEFAULT_FACILITY
    if (bin_ is None) != (name is None):
        fail("--bin and --name go together")
    organisation = default if bin_ is None or name is None else Organisation(bin_, name)
    try:
        request = csr.read_bytes()
    except OSError as exc:
        fail(f"cannot read {csr}: {exc.strerror or exc}")
    moment = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            try:
                ca = load_certification_authority(settings)
                partition = next_crl_partition(session)  # named in the certificate
                certificates = issue(ca, request, organisation, moment, crl_partition=partition)
            except DomainError as exc:
                fail(exc.detail)
            except SigningError as exc:
                fail(f"the request is refused: {exc.detail}")
            serial = format(certificates[0].serial_number, "x")
            record_issued(session, certificates[0], Profile.ORGANISATION_SEAL, moment)
            audit.record(session, actor="system", role="system", action="seal.issued",
                         object_type="certificate", object_id=serial, details={"kind": kind.value})
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"issued the {kind.value} seal {serial} for BIN {organisation.bin}", err=True)
    for certificate in certificates:
        typer.echo(certificate.public_bytes(Encoding.PEM).decode("ascii"), nl=False)
