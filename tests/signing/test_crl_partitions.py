"""CRL partitions (signing.ca.crl): a certificate names its partition's CRL, that CRL names the
same URL in its critical issuingDistributionPoint, and a relying party fetches that CRL only and
refuses a CRL of any other partition served in its place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import MOTHER, PKI
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.ca import (
    LEGACY_PARTITION,
    InMemoryCertificateStatus,
    Profile,
    TLSServer,
    crl_partition_of,
)
from signing.errors import CAError
from signing.report import RevocationState
from signing.revocation import RevocationCache, RevocationChecker, RevocationUnavailable, crl_urls


def _issue(pki: PKI, partition: int, statuses: InMemoryCertificateStatus) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = pki.ca.issue(
        key.public_key(), MOTHER, profile=Profile.INDIVIDUAL, moment=pki.moment,
        crl_partition=partition,
    )
    statuses.add(certificate)
    return certificate


def _der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


class URLFetcher:
    """Serves whatever bytes a test put at a URL, and notes what was asked."""

    def __init__(self, crls: dict[str, bytes]) -> None:
        self.crls = crls
        self.asked: list[str] = []

    def fetch_crl(self, url: str) -> bytes:
        self.asked.append(url)
        if url not in self.crls:
            raise ConnectionRefusedError(url)
        return self.crls[url]

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise ConnectionRefusedError(url)  # the CRL is what is tested here


def _checker(fetcher: URLFetcher) -> RevocationChecker:
    return RevocationChecker(fetcher, RevocationCache(), prefer="crl")


def test_a_certificate_names_its_partitions_crl(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    certificate = _issue(pki, 7, statuses)
    assert crl_urls(certificate) == [f"{pki.ca.base_url}/pki/crl/7"]
    assert crl_partition_of(certificate) == 7
    legacy = _issue(pki, LEGACY_PARTITION, statuses)
    assert crl_urls(legacy) == [pki.ca.crl_url]
    assert crl_partition_of(legacy) == LEGACY_PARTITION
    assert crl_partition_of(pki.ca.issuing_certificate) == LEGACY_PARTITION  # names the ARL
    server = pki.ca.issue(
        ec.generate_private_key(ec.SECP256R1()).public_key(), TLSServer(("ward.test",)),
        profile=Profile.TLS_SERVER, moment=pki.moment, crl_partition=3,
    )
    assert crl_partition_of(server) == 3
    # A base URL with a path of its own (served behind a proxy under /ward).
    moved = pki.ca.with_base_url("https://edge.test/ward")
    behind = moved.issue(
        ec.generate_private_key(ec.SECP256R1()).public_key(), MOTHER,
        profile=Profile.INDIVIDUAL, moment=pki.moment, crl_partition=12,
    )
    assert crl_urls(behind) == ["https://edge.test/ward/pki/crl/12"]
    assert crl_partition_of(behind) == 12
    for wrong in (-1, 10**9):
        with pytest.raises(CAError):
            pki.ca.partition_crl_url(wrong)


def test_a_partitions_crl_names_its_url_in_a_critical_idp(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    revoked = _issue(pki, 7, statuses)
    statuses.revoke(revoked.serial_number, pki.moment, x509.ReasonFlags.key_compromise)
    crl = pki.ca.build_crl(statuses.revoked(), number=3, moment=pki.moment, partition=7)
    point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert point.critical
    assert point.value.full_name == [x509.UniformResourceIdentifier(crl_urls(revoked)[0])]
    assert point.value.only_contains_user_certs and not point.value.only_contains_ca_certs
    assert point.value.only_some_reasons is None and not point.value.indirect_crl
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None


def test_the_checker_fetches_only_the_partition_named_and_finds_the_revocation(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    good, revoked = _issue(pki, 7, statuses), _issue(pki, 7, statuses)
    statuses.revoke(revoked.serial_number, pki.moment, x509.ReasonFlags.key_compromise)
    later = pki.moment + timedelta(minutes=1)
    crls = {
        pki.ca.partition_crl_url(n): _der(
            pki.ca.build_crl(statuses.revoked() if n == 7 else [], number=n + 1, moment=later,
                             partition=n)
        )
        for n in (0, 3, 7)
    }
    fetcher = URLFetcher(crls)
    checker = _checker(fetcher)
    issuer = pki.ca.issuing_certificate
    assert checker.status(good, issuer, later).state is RevocationState.GOOD
    assert checker.status(revoked, issuer, later).state is RevocationState.REVOKED
    assert fetcher.asked == [f"{pki.ca.base_url}/pki/crl/7"]  # once, and no other partition


@pytest.mark.parametrize("served", [0, 3, 8])
def test_a_crl_of_another_partition_is_refused(pki: PKI, served: int) -> None:
    """The attack: a revoked certificate of partition 7, and at its CRL's URL a CRL of another
    partition (the legacy /pki/crl, or a neighbour's), genuine, signed, current, and not listing
    it. Taken as partition 7's, it would say "good"; its IDP names another URL, so it is
    refused."""
    statuses = InMemoryCertificateStatus()
    revoked = _issue(pki, 7, statuses)
    statuses.revoke(revoked.serial_number, pki.moment, x509.ReasonFlags.key_compromise)
    later = pki.moment + timedelta(minutes=1)
    other = pki.ca.build_crl([], number=9, moment=later, partition=served)
    fetcher = URLFetcher({crl_urls(revoked)[0]: _der(other)})
    with pytest.raises(RevocationUnavailable, match="another distribution point"):
        _checker(fetcher).status(revoked, pki.ca.issuing_certificate, later)


def test_a_legacy_certificate_is_checked_against_the_legacy_crl(pki: PKI) -> None:
    """Issued before partitions, it names /pki/crl, and that CRL (partition 0) lists it; a
    partition's CRL is refused for it."""
    statuses = InMemoryCertificateStatus()
    legacy = _issue(pki, LEGACY_PARTITION, statuses)
    statuses.revoke(legacy.serial_number, pki.moment)
    later = pki.moment + timedelta(minutes=1)
    issuer = pki.ca.issuing_certificate
    legacy_crl = pki.ca.build_crl(statuses.revoked(), number=4, moment=later)
    state = _checker(URLFetcher({pki.ca.crl_url: _der(legacy_crl)})).status(legacy, issuer, later)
    assert state.state is RevocationState.REVOKED
    partition_crl = pki.ca.build_crl(statuses.revoked(), number=5, moment=later, partition=1)
    with pytest.raises(RevocationUnavailable, match="another distribution point"):
        _checker(URLFetcher({pki.ca.crl_url: _der(partition_crl)})).status(legacy, issuer, later)
