"""Revocation fetchers for `signing.trust.Validator`: over HTTP, from CRL files offline, or
in-process from this service's own CA.

All raise OSError when the data cannot be had, as `signing.revocation.RevocationFetcher` asks.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.engine import Engine
from sqlmodel import Session

from birthreg.db import reading
from birthreg.models import now
from signing.ca import LEGACY_PARTITION, CertificationAuthority
from signing.revocation import RevocationFetcher

#: CRLs and OCSP answers are small; anything larger than this is not one.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class HTTPRevocationFetcher:
    """Fetches CRLs (GET) and OCSP answers (POST, RFC 6960 appendix A) with short timeouts."""

    def __init__(self, *, timeout: float = 5.0, max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes

    def fetch_crl(self, url: str) -> bytes:
        _check_scheme(url)
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, headers={"Accept": "application/pkix-crl"}
        )
        return self._open(request)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        _check_scheme(url)
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=request_der,
            method="POST",
            headers={
                "Content-Type": "application/ocsp-request",
                "Accept": "application/ocsp-response",
            },
        )
        return self._open(request)

    def _open(self, request: urllib.request.Request) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if response.status != 200:
                    raise OSError(f"{request.full_url} answered HTTP {response.status}")
                body: bytes = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise OSError(f"{request.full_url} answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise OSError(f"{request.full_url} cannot be reached: {exc}") from exc
        if len(body) > self.max_bytes:
            raise OSError(f"{request.full_url} sent more than {self.max_bytes} bytes")
        return body


def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        # urllib would happily open file:// and ftp:// pointers taken from a certificate.
        raise OSError(f"refusing to fetch revocation data over {scheme or 'no scheme'}: {url}")


class FileCRLFetcher:
    """Serves CRLs from files, for verification without a network; never answers OCSP.

    A CRL given with its URL (`by_url`) answers that URL. A CRL given without one answers any
    URL named in its issuingDistributionPoint (the newest of several naming the same URL); a
    URL no CRL names is answered by the one CRL that names none (such as the root's, the ARL),
    or by the only CRL given: the validator checks each CRL's issuer, signature and scope, so a
    CRL for the wrong CA or distribution point is refused there rather than trusted here.
    """

    def __init__(
        self, crls: Iterable[bytes] = (), *, by_url: Mapping[str, bytes] | None = None
    ) -> None:
        self._by_url = {url: to_der_crl(data) for url, data in (by_url or {}).items()}
        self._unnamed = [to_der_crl(data) for data in crls]

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str]) -> FileCRLFetcher:
        """From file paths, each `PATH` or `URL=PATH` (DER or PEM)."""
        crls: list[bytes] = []
        by_url: dict[str, bytes] = {}
        for item in paths:
            text = str(item)
            url, sep, path = text.rpartition("=")
            if sep and "://" in url:
                by_url[url] = Path(path).read_bytes()
            else:
                crls.append(Path(text).read_bytes())
        return cls(crls, by_url=by_url)

    def fetch_crl(self, url: str) -> bytes:
        if url in self._by_url:
            return self._by_url[url]
        if not self._unnamed:
            raise OSError(f"offline: no CRL file was given for {url}")
        named = [der for der in self._unnamed if url in _distribution_point_urls(der)]
        if named:
            return max(named, key=lambda der: x509.load_der_x509_crl(der).last_update_utc)
        nameless = [der for der in self._unnamed if not _distribution_point_urls(der)]
        if len(self._unnamed) == 1 or len(nameless) == 1:
            return (nameless or self._unnamed)[0]
        raise OSError(f"offline: several CRL files were given and none names {url}; use URL=PATH")

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise OSError(f"offline: OCSP at {url} is not asked")


def to_der_crl(data: bytes) -> bytes:
    """DER bytes of a CRL given as DER or PEM. Raises ValueError for anything else."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data).public_bytes(Encoding.DER)
    x509.load_der_x509_crl(data)
    return data


def _distribution_point_urls(der: bytes) -> set[str]:
    try:
        crl = x509.load_der_x509_crl(der)
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except (ValueError, x509.ExtensionNotFound):
        return set()
    return {
        name.value
        for name in idp.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    }


class InProcessRevocationFetcher:
    """Answers for this service's own CA without a round trip to itself: the same CRLs (the
    issuing CA's and the root's) and OCSP answers that /pki gives, from the CA's records in the
    database. URLs of any other CA are handed to `fallback` (HTTP by default)."""

    def __init__(
        self,
        engine: Engine,
        ca: CertificationAuthority,
        *,
        fallback: RevocationFetcher | None = None,
    ) -> None:
        self.engine = engine
        self.ca = ca
        self.fallback = fallback or HTTPRevocationFetcher()

    def fetch_crl(self, url: str) -> bytes:
        from birthreg.pki.partitions import partition_exists
        from birthreg.pki.service import current_arl, current_crl

        partition = self._partition(url)
        if partition is None and url != self.ca.arl_url:
            return self.fallback.fetch_crl(url)
        with Session(self.engine) as session:
            if partition is None:
                crl = current_arl(session, self.ca, now())
            elif partition == LEGACY_PARTITION or partition_exists(session, partition):
                crl = current_crl(session, self.ca, now(), partition)
            else:
                raise OSError(f"{url}: no such CRL partition")
            session.commit()
            return crl.der

    def _partition(self, url: str) -> int | None:
        """The partition whose CRL `url` is (0 for /pki/crl), None for any other URL."""
        if url == self.ca.crl_url:
            return LEGACY_PARTITION
        number = url.removeprefix(self.ca.crl_url + "/")
        if number != url and number.isascii() and number.isdigit() and number[0] != "0":
            return int(number) if len(number) <= 9 else None
        return None

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        if url != self.ca.ocsp_url:
            return self.fallback.post_ocsp(url, request_der)
        from birthreg.pki.service import ocsp_answer

        # A reader's transaction (it writes nothing): on SQLite it never waits for a writer, so
        # a caller that holds the write lock (a registration checking its signers) is answered.
        with reading(self.engine) as connection, Session(bind=connection) as session:
            return ocsp_answer(session, self.ca, request_der, now())
