"""A `RevocationFetcher` that answers from a CA object in the same process, for tests.

Revocation is looked up through the same fetcher interface as over HTTP, but answered at once
by the CA: its CRL, its root's CRL (the ARL) and its OCSP responder, each made at the moment
`clock` gives (the CA's view of now). Anything else is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives import serialization

from signing import ocsp
from signing.ca import CertificateStatusSource, CertificationAuthority


class InProcessFetcher:
    """Answers CRL and OCSP requests for one CA's own URLs; anything else is unreachable.

    `crl_number` gives the number of each CRL issued (the CRL's and the ARL's).
    """

    def __init__(
        self,
        ca: CertificationAuthority,
        statuses: CertificateStatusSource,
        *,
        clock: Callable[[], datetime],
        crl_number: Callable[[], int] = lambda: 1,
    ) -> None:
        self.ca = ca
        self.statuses = statuses
        self.clock = clock
        self.crl_number = crl_number

    def fetch_crl(self, url: str) -> bytes:
        if url == self.ca.crl_url:
            crl = self.ca.build_crl(
                self.statuses.revoked(), number=self.crl_number(), moment=self.clock()
            )
        elif url == self.ca.arl_url:
            crl = self.ca.build_arl(number=self.crl_number(), moment=self.clock())
        else:
            raise ConnectionRefusedError(f"no CRL at {url}")
        return crl.public_bytes(serialization.Encoding.DER)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        if url != self.ca.ocsp_url:
            raise ConnectionRefusedError(f"no OCSP responder at {url}")
        return ocsp.respond(request_der, ca=self.ca, statuses=self.statuses, moment=self.clock())
