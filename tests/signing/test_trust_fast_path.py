"""The validator's short cut through an issuing CA it has validated before.

Once a full path leaf → issuing CA → root has been built, a new leaf of the same issuing CA is
checked with cryptography's verifier against that CA alone (the leaf's signature and profile, the
CA as its issuer) and the remembered path above it is appended. These tests show that the short
cut gives the very report a cold validator gives, and that it refuses what the full path refuses:
another CA of the same name, a forged signature, constraints on a CA (which keep the full path),
an expired or revoked intermediate.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from conftest import FATHER, MOTHER, PKI, Party
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import cms, jws, trust
from signing._certs import forget, per_certificate
from signing.ca import (
    POLICY_TEST_INDIVIDUAL_SIGNING,
    Individual,
    InMemoryCertificateStatus,
    Profile,
    random_serial,
    subject_name,
)
from signing.dossier import verify_signature
from signing.errors import SignatureFailure
from signing.local import InProcessFetcher
from signing.report import Indication, RevocationState, SignatureReport, SubIndication
from signing.trust import RevocationCache, TrustAnchors, Validator

CONTENT = json.dumps({"type": "birthreg.application/1", "note": "Ана аты"}).encode()


class RecordingValidator(Validator):
    """A Validator that notes, for every path it builds, whether the short cut built it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.short_cuts: list[bool] = []

    def _through_known_issuer(self, *args):  # type: ignore[no-untyped-def]
        chain = super()._through_known_issuer(*args)
        self.short_cuts.append(chain is not None)
        return chain


def _sign_jws(
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    chain: Sequence[x509.Certificate],
    at: datetime,
) -> dict[str, str]:
    return {
        "format": "jws",
        "value": jws.sign_detached(CONTENT, certificate, key, chain=chain, signing_time=at),
    }


def _sign_cms(
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    chain: Sequence[x509.Certificate],
    at: datetime,
) -> dict[str, str]:
    der = cms.sign_detached(CONTENT, certificate, key, chain=chain, signing_time=at)
    return {"format": "cms", "value": base64.b64encode(der).decode()}


SIGNERS: dict[str, Callable[..., dict[str, str]]] = {"jws": _sign_jws, "cms": _sign_cms}


def _party_signature(fmt: str, party: Party, at: datetime) -> dict[str, str]:
    return SIGNERS[fmt](party.certificate, party.key, party.chain, at)


def _pki_validator(pki: PKI, cls: type[Validator] = RecordingValidator, **kwargs: object):  # type: ignore[no-untyped-def]
    fetcher = InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment)
    return cls(TrustAnchors([pki.root]), fetcher, **kwargs)


def _verify(
    signature: dict[str, str], validator: Validator, moment: datetime, purpose: str = "individual"
) -> SignatureReport:
    return verify_signature(
        signature,
        CONTENT,
        validator=validator,
        moment=moment,
        purpose=purpose,  # type: ignore[arg-type]
    )


# -- the short cut is taken, and changes nothing in the report --------------------------------


@pytest.mark.parametrize("prefer", ["ocsp", "crl"])
@pytest.mark.parametrize("fmt", ["jws", "cms"])
def test_later_signers_of_a_known_issuer_take_the_short_cut_with_the_same_report(
    pki: PKI, fmt: str, prefer: str
) -> None:
    warm = _pki_validator(pki, prefer=prefer)
    parties = [(pki.mother, "individual"), (pki.father, "individual")]
    parties.append((pki.facility, "organisation"))
    for party, purpose in parties:
        signature = _party_signature(fmt, party, pki.moment)
        report = _verify(signature, warm, pki.moment, purpose)
        cold = _verify(
            signature, _pki_validator(pki, Validator, prefer=prefer), pki.moment, purpose
        )
        assert report.passed, report.to_json()
        assert report.to_json() == cold.to_json()
        assert [entry.sha256 for entry in report.chain[1:]] == [
            pki.issuing.fingerprint(hashes.SHA256()).hex(),
            pki.root.fingerprint(hashes.SHA256()).hex(),
        ]
    # The first path was built in full (nothing known yet); the other two took the short cut.
    assert warm.short_cuts == [False, True, True]


def test_forgetting_certificate_memos_keeps_the_short_cut_sound(pki: PKI) -> None:
    warm = _pki_validator(pki)
    assert _verify(_party_signature("jws", pki.mother, pki.moment), warm, pki.moment).passed
    forget()  # new certificate objects from here on; the validator still knows the issuer
    report = _verify(_party_signature("jws", pki.father, pki.moment), warm, pki.moment)
    assert report.passed
    assert warm.short_cuts == [False, True]


# -- attacks through the short cut ------------------------------------------------------------


# CMS only: a JWS whose x5c is no chain is refused before any path is tried (test_jws.py).
@pytest.mark.parametrize("fmt", ["cms"])
def test_leaf_of_another_ca_with_the_same_names_is_refused(pki: PKI, fmt: str) -> None:
    """The other test CA has our CA names but its own keys; its certificate for the mother must
    not pass, whether it brings its own issuing CA or ours (whose path we know)."""
    warm = _pki_validator(pki)
    assert _verify(_party_signature(fmt, pki.mother, pki.moment), warm, pki.moment).passed
    intruder = pki.other_ca_signer
    assert intruder.certificate.issuer == pki.issuing.subject
    for chain in (intruder.chain, (pki.issuing,), (*intruder.chain, pki.issuing)):
        signature = SIGNERS[fmt](intruder.certificate, intruder.key, chain, pki.moment)
        report = _verify(signature, warm, pki.moment)
        assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
        assert report.indication is Indication.INDETERMINATE
    assert warm.short_cuts == [False, False, False, False]


def _forged_leaf(pki: PKI, *, signer: ec.EllipticCurvePrivateKey) -> tuple[Party, x509.Certificate]:
    """A certificate for the father in every way like one our issuing CA makes (issuer name,
    authority key identifier, profile, revocation pointers) but signed with another key."""
    issuing_ski = pki.issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateBuilder(
        issuer_name=pki.issuing.subject,
        subject_name=subject_name(FATHER),
        public_key=key.public_key(),
        serial_number=random_serial(),
        not_valid_before=pki.moment - timedelta(days=1),
        not_valid_after=pki.moment + timedelta(days=300),
        extensions=[],
    )
    for extension in pki.father.certificate.extensions:
        if isinstance(extension.value, x509.SubjectKeyIdentifier):
            continue
        builder = builder.add_extension(extension.value, critical=extension.critical)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    certificate = builder.sign(signer, hashes.SHA256())
    authority_key = certificate.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    ).value
    assert authority_key.key_identifier == issuing_ski.digest
    return Party(key, certificate, (pki.issuing,), FATHER), certificate


# CMS only: a JWS whose x5c is no chain is refused before any path is tried (test_jws.py).
@pytest.mark.parametrize("fmt", ["cms"])
def test_leaf_in_the_known_issuers_name_with_a_forged_signature_is_refused(
    pki: PKI, fmt: str
) -> None:
    warm = _pki_validator(pki)
    assert _verify(_party_signature(fmt, pki.mother, pki.moment), warm, pki.moment).passed
    forged, _ = _forged_leaf(pki, signer=ec.generate_private_key(ec.SECP256R1()))
    report = _verify(_party_signature(fmt, forged, pki.moment), warm, pki.moment)
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert warm.short_cuts == [False, False]


def test_known_leaf_with_its_certificate_signature_altered_is_refused(pki: PKI) -> None:
    """The father's real certificate with one bit of its signature flipped (still DER)."""
    warm = _pki_validator(pki)
    assert _verify(_party_signature("jws", pki.mother, pki.moment), warm, pki.moment).passed
    der = bytearray(pki.father.certificate.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    altered = x509.load_der_x509_certificate(bytes(der))
    signature = _sign_cms(altered, pki.father.key, pki.father.chain, pki.moment)  # type: ignore[arg-type]
    report = _verify(signature, warm, pki.moment)
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert warm.short_cuts == [False, False]


def test_issuing_ca_as_signer_stays_refused_once_known(pki: PKI) -> None:
    warm = _pki_validator(pki)
    assert _verify(_party_signature("jws", pki.mother, pki.moment), warm, pki.moment).passed
    signature = _party_signature("jws", pki.ca_as_signer, pki.moment)
    report = _verify(signature, warm, pki.moment)
    cold = _verify(signature, _pki_validator(pki, Validator), pki.moment)
    assert report.indication is not Indication.TOTAL_PASSED
    assert report.to_json() == cold.to_json()


# -- a hierarchy of our own: constraints on CAs, expiry and revocation of the intermediate -----


class CRLFetcher:
    """Serves fixed CRLs by URL; no OCSP."""

    def __init__(self) -> None:
        self.crls: dict[str, bytes] = {}

    def fetch_crl(self, url: str) -> bytes:
        if url not in self.crls:
            raise ConnectionRefusedError(f"no CRL at {url}")
        return self.crls[url]

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise ConnectionRefusedError("no OCSP here")


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    crl_url: str


T0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def _crl_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def _authority(
    name: str,
    *,
    issuer: Authority | None,
    not_after: datetime,
    path_length: int | None = 1,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST - NOT FOR PRODUCTION"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(T0)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer.key if issuer else key).public_key()
            ),
            critical=False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(_crl_points(issuer.crl_url), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Authority(key, certificate, f"http://pki.test/{name.replace(' ', '-')}.crl")


def _leaf(
    issuer: Authority,
    person: Individual,
    *,
    not_after: datetime,
    dns_name: str | None = None,
) -> Party:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(person))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(T0 + timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(POLICY_TEST_INDIVIDUAL_SIGNING, None)]
            ),
            critical=False,
        )
        .add_extension(_crl_points(issuer.crl_url), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if dns_name is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False
        )
    certificate = builder.sign(issuer.key, hashes.SHA256())
    return Party(key, certificate, (), person)


def _publish_crl(
    fetcher: CRLFetcher, authority: Authority, revoked: Sequence[tuple[int, datetime]] = ()
) -> None:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=3 * 365))
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(authority.key, hashes.SHA256())
    fetcher.crls[authority.crl_url] = crl.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Hierarchy:
    root: Authority
    intermediate: Authority
    fetcher: CRLFetcher

    def validator(self, cls: type[Validator] = RecordingValidator) -> Validator:
        return cls(TrustAnchors([self.root.certificate]), self.fetcher, prefer="crl")

    def signature(self, party: Party, at: datetime) -> dict[str, str]:
        return _sign_jws(party.certificate, party.key, (self.intermediate.certificate,), at)  # type: ignore[arg-type]


def _hierarchy(
    *,
    root_extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    intermediate_extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    root_not_after: datetime = T0 + timedelta(days=10 * 365),
    intermediate_not_after: datetime = T0 + timedelta(days=3 * 365),
    intermediate_revoked_at: datetime | None = None,
    root_path_length: int | None = 1,
    intermediate_path_length: int | None = 0,
) -> Hierarchy:
    root = _authority(
        "Fast Path Root",
        issuer=None,
        not_after=root_not_after,
        path_length=root_path_length,
        extra=root_extra,
    )
    intermediate = _authority(
        "Fast Path Issuing",
        issuer=root,
        not_after=intermediate_not_after,
        path_length=intermediate_path_length,
        extra=intermediate_extra,
    )
    fetcher = CRLFetcher()
    revoked = (
        [(intermediate.certificate.serial_number, intermediate_revoked_at)]
        if intermediate_revoked_at is not None
        else []
    )
    _publish_crl(fetcher, root, revoked)
    _publish_crl(fetcher, intermediate)
    return Hierarchy(root, intermediate, fetcher)


MOMENT = T0 + timedelta(days=100)
LATER = T0 + timedelta(days=300)


def test_own_hierarchy_takes_the_short_cut(pki: PKI) -> None:
    """The hierarchy below is sound: the short cut is taken, and gives the cold report."""
    hierarchy = _hierarchy()
    warm = hierarchy.validator()
    for person in (MOTHER, FATHER):
        party = _leaf(hierarchy.intermediate, person, not_after=LATER)
        signature = hierarchy.signature(party, MOMENT)
        report = _verify(signature, warm, MOMENT)
        assert report.passed, report.to_json()
        assert (
            report.to_json() == _verify(signature, hierarchy.validator(Validator), MOMENT).to_json()
        )
    assert warm.short_cuts == [False, True]  # type: ignore[attr-defined]


NAME_CONSTRAINTS = x509.NameConstraints(
    permitted_subtrees=[x509.DNSName("birthreg.test")], excluded_subtrees=None
)


@pytest.mark.parametrize("on", ["root", "intermediate"])
def test_name_constraints_keep_the_full_path(on: str) -> None:
    """A CA whose name constraints bind its descendants is never remembered: a leaf outside
    them is refused even after a leaf inside them passed."""
    extra = {f"{on}_extra": [(NAME_CONSTRAINTS, True)]}
    hierarchy = _hierarchy(**extra)  # type: ignore[arg-type]
    warm = hierarchy.validator()
    inside = _leaf(hierarchy.intermediate, MOTHER, not_after=LATER, dns_name="ward.birthreg.test")
    report = _verify(hierarchy.signature(inside, MOMENT), warm, MOMENT)
    assert report.passed, report.to_json()
    outside = _leaf(hierarchy.intermediate, FATHER, not_after=LATER, dns_name="evil.example")
    report = _verify(hierarchy.signature(outside, MOMENT), warm, MOMENT)
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "name constraint" in report.checks[-1].detail
    assert warm.short_cuts == [False, False]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "extension",
    [
        x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None),
        x509.InhibitAnyPolicy(0),
        x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
        ),
    ],
    ids=["policy_constraints", "inhibit_any_policy", "extended_key_usage"],
)
def test_other_constraints_on_a_ca_keep_the_full_path(extension: x509.ExtensionType) -> None:
    """Policy constraints (which cryptography does not process, nor do we beyond the leaf's
    own policy) and anything else a CA may say about its descendants: never remembered."""
    hierarchy = _hierarchy(intermediate_extra=[(extension, False)])
    warm = hierarchy.validator()
    for person in (MOTHER, FATHER):
        party = _leaf(hierarchy.intermediate, person, not_after=LATER)
        report = _verify(hierarchy.signature(party, MOMENT), warm, MOMENT)
        assert report.passed, report.to_json()
    assert warm.short_cuts == [False, False]  # type: ignore[attr-defined]


def test_sub_ca_below_a_known_issuer_with_path_length_zero_is_refused() -> None:
    """The known issuing CA (pathLen 0) cannot lend its path to a CA it certified."""
    hierarchy = _hierarchy(intermediate_path_length=0)
    warm = hierarchy.validator()
    first = _leaf(hierarchy.intermediate, MOTHER, not_after=LATER)
    assert _verify(hierarchy.signature(first, MOMENT), warm, MOMENT).passed
    sub_ca = _authority(
        "Fast Path Sub", issuer=hierarchy.intermediate, not_after=LATER, path_length=0
    )
    _publish_crl(hierarchy.fetcher, sub_ca)
    leaf = _leaf(sub_ca, FATHER, not_after=LATER)
    signature = _sign_jws(
        leaf.certificate,
        leaf.key,  # type: ignore[arg-type]
        (sub_ca.certificate, hierarchy.intermediate.certificate),
        MOMENT,
    )
    report = _verify(signature, warm, MOMENT)
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert report.to_json() == _verify(signature, hierarchy.validator(Validator), MOMENT).to_json()
    assert warm.short_cuts == [False, False]  # type: ignore[attr-defined]


def test_known_issuer_lends_no_ca_the_signature_does_not_present() -> None:
    """root → middle CA → issuing CA → leaf: once the issuing CA is known through a signature
    that carried the middle CA too, a signature without the middle CA still has no path (as for
    a cold validator), and one with it takes the short cut."""
    root = _authority("Three Root", issuer=None, not_after=LATER, path_length=2)
    middle = _authority("Three Middle", issuer=root, not_after=LATER, path_length=1)
    issuing = _authority("Three Issuing", issuer=middle, not_after=LATER, path_length=0)
    fetcher = CRLFetcher()
    for authority in (root, middle, issuing):
        _publish_crl(fetcher, authority)

    def validator(cls: type[Validator] = RecordingValidator) -> Validator:
        return cls(TrustAnchors([root.certificate]), fetcher, prefer="crl")

    warm = validator()
    full = (issuing.certificate, middle.certificate)
    first = _leaf(issuing, MOTHER, not_after=LATER)
    signature = _sign_jws(first.certificate, first.key, full, MOMENT)  # type: ignore[arg-type]
    report = _verify(signature, warm, MOMENT)
    assert report.passed, report.to_json()
    assert len(report.chain) == 4
    second = _leaf(issuing, FATHER, not_after=LATER)
    short = _sign_jws(second.certificate, second.key, full[:1], MOMENT)  # type: ignore[arg-type]
    report = _verify(short, warm, MOMENT)
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert report.to_json() == _verify(short, validator(Validator), MOMENT).to_json()
    complete = _sign_jws(second.certificate, second.key, full, MOMENT)  # type: ignore[arg-type]
    report = _verify(complete, warm, MOMENT)
    assert report.passed
    assert report.to_json() == _verify(complete, validator(Validator), MOMENT).to_json()
    assert warm.short_cuts == [False, False, True]  # type: ignore[attr-defined]


@pytest.mark.parametrize("expiring", ["intermediate", "root"])
def test_expired_ca_fails_as_for_a_cold_validator(expiring: str) -> None:
    """Known while valid, a CA of the path then expires; a leaf still within its own validity
    gets the cold validator's verdict (no path at that time)."""
    expiry = T0 + timedelta(days=200)
    hierarchy = _hierarchy(**{f"{expiring}_not_after": expiry})  # type: ignore[arg-type]
    warm = hierarchy.validator()
    first = _leaf(hierarchy.intermediate, MOTHER, not_after=LATER)
    assert _verify(hierarchy.signature(first, MOMENT), warm, MOMENT).passed
    second = _leaf(hierarchy.intermediate, FATHER, not_after=LATER)
    after_expiry = expiry + timedelta(days=10)
    signature = hierarchy.signature(second, after_expiry)
    report = _verify(signature, warm, after_expiry)
    cold = _verify(signature, hierarchy.validator(Validator), after_expiry)
    assert report.indication is not Indication.TOTAL_PASSED
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert report.to_json() == cold.to_json()
    assert warm.short_cuts == [False, False]  # type: ignore[attr-defined]
    # Before the expiry the same leaf takes the short cut and passes.
    report = _verify(hierarchy.signature(second, MOMENT), warm, MOMENT)
    assert report.passed
    assert warm.short_cuts[-1] is True  # type: ignore[attr-defined]


def test_revoked_intermediate_fails_through_the_short_cut() -> None:
    revoked_at = T0 + timedelta(days=50)
    hierarchy = _hierarchy(intermediate_revoked_at=revoked_at)
    warm = hierarchy.validator()
    for person in (MOTHER, FATHER):
        party = _leaf(hierarchy.intermediate, person, not_after=LATER)
        signature = hierarchy.signature(party, MOMENT)
        report = _verify(signature, warm, MOMENT)
        assert report.sub_indication is SubIndication.REVOKED
        assert "Fast Path Issuing" in report.checks[-1].detail
        assert (
            report.to_json() == _verify(signature, hierarchy.validator(Validator), MOMENT).to_json()
        )
    assert warm.short_cuts == [False, True]  # type: ignore[attr-defined]


# -- remembered CRL answers ---------------------------------------------------------------------


def test_remembered_crl_answers_end_with_their_crl(pki: PKI) -> None:
    """A CRL's answer for a serial is remembered only as long as that CRL is used: the next CRL
    (after max_cache_age) says revoked, and so does the report."""
    statuses = InMemoryCertificateStatus()
    ca = pki.ca
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(
        key.public_key(),
        Individual("940315400074", "Қасымова", "Айым"),
        profile=Profile.INDIVIDUAL,
        moment=pki.moment - timedelta(days=1),
    )
    statuses.add(certificate)
    now = [pki.moment]
    fetcher = InProcessFetcher(ca, statuses, clock=lambda: now[0])
    validator = Validator(
        TrustAnchors([pki.root]),
        fetcher,
        RevocationCache(),
        prefer="crl",
        max_cache_age=timedelta(hours=1),
    )
    signature = _sign_jws(certificate, key, ca.chain, pki.moment)
    for _ in range(2):
        report = _verify(signature, validator, now[0])
        assert report.passed
        assert report.revocation.state is RevocationState.GOOD
    statuses.revoke(certificate.serial_number, pki.moment, x509.ReasonFlags.key_compromise)
    now[0] = pki.moment + timedelta(minutes=30)
    assert _verify(signature, validator, now[0]).revocation.state is RevocationState.GOOD
    now[0] = pki.moment + timedelta(hours=2)
    report = _verify(signature, validator, now[0])
    assert report.revocation.state is RevocationState.REVOKED
    assert report.indication is not Indication.TOTAL_PASSED


# -- remembered JWS headers ---------------------------------------------------------------------


def test_remembered_header_does_not_spare_the_signature(pki: PKI) -> None:
    signature = _party_signature("jws", pki.mother, pki.moment)
    validator = _pki_validator(pki)
    assert _verify(signature, validator, pki.moment).passed
    header, _, encoded = signature["value"].split(".")
    other = verify_signature(
        signature, CONTENT + b" ", validator=validator, moment=pki.moment, purpose="individual"
    )
    assert other.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    raw = bytearray(jws.b64url_decode(encoded))
    raw[5] ^= 0x40
    altered = {"format": "jws", "value": f"{header}..{jws.b64url_encode(bytes(raw))}"}
    assert (
        _verify(altered, validator, pki.moment).sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    )
    assert _verify(signature, validator, pki.moment).passed


def test_remembered_header_failure_is_the_same_each_time() -> None:
    header = jws.b64url_encode(json.dumps({"alg": "HS256", "x5c": []}).encode())
    signature = {"format": "jws", "value": f"{header}..AAAA"}
    first = jws_failure(signature["value"])
    second = jws_failure(signature["value"])
    assert first == second
    assert first[0] is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert [c.name for c in first[1]] == ["jws.compact", "jws.header", "jws.alg"]


def jws_failure(value: str) -> tuple[SubIndication, tuple[object, ...]]:
    with pytest.raises(SignatureFailure) as caught:
        jws.verify_detached(value, CONTENT)
    return caught.value.sub_indication, caught.value.checks


# -- the identity memo ----------------------------------------------------------------------------


def test_identity_memo_answers_per_object_and_forgets(pki: PKI) -> None:
    calls: list[int] = []

    @per_certificate
    def serial(certificate: x509.Certificate) -> int:
        calls.append(1)
        return certificate.serial_number

    der = pki.mother.certificate.public_bytes(serialization.Encoding.DER)
    one, two = x509.load_der_x509_certificate(der), x509.load_der_x509_certificate(der)
    assert serial(one) == serial(one) == serial(two) == pki.mother.certificate.serial_number
    assert len(calls) == 2  # once per object
    forget()
    serial(one)
    assert len(calls) == 3


def _with_header(value: str, change: Callable[[dict[str, object]], None]) -> str:
    encoded_header, _, signature = value.split(".")
    header = json.loads(jws.b64url_decode(encoded_header))
    change(header)
    return f"{jws.b64url_encode(json.dumps(header).encode())}..{signature}"


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _variants_of(item: str) -> list[object]:
    body = item.rstrip("=")
    padding = len(item) - len(body)
    # The same bytes with an unused bit set (where padding leaves unused bits).
    other_bits = (
        body[:-1] + _ALPHABET[_ALPHABET.index(body[-1]) ^ 1] + "=" * padding
        if padding
        else item + "A"
    )
    return [
        item[:64] + "\n" + item[64:],  # whitespace
        " " + item,
        body,  # padding dropped (when there is any)
        item[:-1],
        item.replace("+", "-").replace("/", "_"),  # the URL-safe alphabet
        item + "==",
        item[:10] + "é" + item[11:],  # not ASCII
        other_bits,
    ]


def test_x5c_entries_must_be_canonical_base64_even_once_remembered(pki: PKI) -> None:
    """The issuing CA's x5c entry is remembered after the first signature; no other spelling of
    it (whitespace, missing or extra padding, the URL-safe alphabet, other unused bits) is
    taken for it."""
    good = _party_signature("jws", pki.mother, pki.moment)
    validator = _pki_validator(pki)
    assert _verify(good, validator, pki.moment).passed
    original = json.loads(jws.b64url_decode(good["value"].split(".")[0]))["x5c"][1]
    for variant in _variants_of(original):
        if variant == original:
            continue

        def change(header: dict[str, object], variant: object = variant) -> None:
            header["x5c"][1] = variant  # type: ignore[index]

        value = _with_header(good["value"], change)
        sub, checks = jws_failure(value)
        assert sub is SubIndication.FORMAT_FAILURE, variant
        assert checks[-1].name == "jws.x5c"  # type: ignore[attr-defined]
        assert "x5c[1]" in checks[-1].detail  # type: ignore[attr-defined]
    assert _verify(good, validator, pki.moment).passed


@pytest.mark.parametrize(
    "spoil",
    [
        lambda h: h + "=",
        lambda h: h[:-1] + ("+" if h[-1] != "+" else "/"),
        lambda h: h[:5] + "ж" + h[6:],
        lambda h: h[:-1] + chr(ord(h[-1]) + 1) if h[-1] not in "zZ9_-" else h + "A",
    ],
    ids=["padding", "standard_alphabet", "not_ascii", "other_bits"],
)
def test_header_must_be_strict_base64url(pki: PKI, spoil: Callable[[str], str]) -> None:
    good = _party_signature("jws", pki.mother, pki.moment)["value"]
    header, _, signature = good.split(".")
    sub, checks = jws_failure(f"{spoil(header)}..{signature}")
    assert sub is SubIndication.FORMAT_FAILURE
    assert checks[-1].name == "jws.header"  # type: ignore[attr-defined]


def test_one_validator_shared_by_threads_gives_the_cold_reports(pki: PKI) -> None:
    """The memos and the remembered issuers are shared state: many threads verifying at once
    (from cold) get exactly the reports a fresh validator gives each signature alone."""
    parties = [pki.mother, pki.father, pki.revoked_signer, pki.other_ca_signer, pki.ca_as_signer]
    signatures = [
        _party_signature(fmt, party, pki.moment) for party in parties for fmt in ("jws", "cms")
    ]
    expected = [
        _verify(signature, _pki_validator(pki, Validator), pki.moment).to_json()
        for signature in signatures
    ]
    forget()
    shared = _pki_validator(pki, Validator, prefer="crl")
    shared_ocsp = _pki_validator(pki, Validator)
    work = [
        (i, v) for _ in range(20) for i in range(len(signatures)) for v in (shared, shared_ocsp)
    ]
    crl_expected = [
        _verify(signature, _pki_validator(pki, Validator, prefer="crl"), pki.moment).to_json()
        for signature in signatures
    ]

    def run(item: tuple[int, Validator]) -> bool:
        index, validator = item
        report = _verify(signatures[index], validator, pki.moment).to_json()
        return report == (crl_expected if validator is shared else expected)[index]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, work))


def test_a_known_issuer_repeated_in_x5c_is_tried_once(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged leaf with the known issuing CA fifty times over costs no path attempt at all:
    signing.jws refuses an x5c that long (and one that is no chain)."""
    warm = _pki_validator(pki)
    assert _verify(_party_signature("jws", pki.mother, pki.moment), warm, pki.moment).passed
    forged, _ = _forged_leaf(pki, signer=ec.generate_private_key(ec.SECP256R1()))
    attempts: list[object] = []
    original = trust._verifier

    def counting(store: object, at: datetime) -> object:
        attempts.append(store)
        return original(store, at)  # type: ignore[arg-type]

    monkeypatch.setattr(trust, "_verifier", counting)
    chain = (pki.issuing,) * 50
    signature = _sign_jws(forged.certificate, forged.key, chain, pki.moment)  # type: ignore[arg-type]
    report = _verify(signature, warm, pki.moment)
    assert report.sub_indication is SubIndication.FORMAT_FAILURE
    assert report.checks[-1].name == "jws.x5c"
    assert attempts == []
