"""The verdict on one signature's signer: constraints, path, validity, revocation.

Paths are cryptography's verifier called plainly, so the attacks below are attacks on the plain
path: another CA with the same names, a forged certificate signature, name and basic
constraints, a missing middle CA, expired or revoked CAs, a leaf placed where a CA should be, a
leaf key too weak. Revocation look-ups and freshness are in test_revocation.py.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import FATHER, MOTHER, PKI, Party
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from fetchers import InProcessFetcher
from hierarchy import MOMENT, T0, Authority, CRLFetcher, authority, leaf, signed

from signing import cms, jws
from signing.ca import Profile
from signing.report import (
    INDICATION_OF,
    Check,
    Indication,
    RevocationState,
    SignatureReport,
    SubIndication,
)
from signing.signature import VerifiedSignature
from signing.trust import CA_POLICY, SIGNATURE_POLICY, TrustAnchors, Validator

CONTENT = json.dumps({"type": "birthreg.application/1", "note": "Әке аты"}).encode()


def _validator(pki: PKI, *, clock: datetime | None = None) -> Validator:
    fetcher = InProcessFetcher(pki.ca, pki.statuses, clock=lambda: clock or pki.moment)
    return Validator(TrustAnchors([pki.root]), fetcher)


def _validate(
    pki: PKI,
    signature: VerifiedSignature,
    *,
    moment: datetime | None = None,
    purpose: str | None = "individual",
    validator: Validator | None = None,
) -> SignatureReport:
    return (validator or _validator(pki)).validate(
        signature,
        moment=moment or pki.moment,
        purpose=purpose,  # type: ignore[arg-type]
    )


def _by(party: Party, at: datetime, chain: tuple[x509.Certificate, ...] | None = None):  # type: ignore[no-untyped-def]
    return signed(party.certificate, party.chain if chain is None else chain, at)


def _assert_verdict(report: SignatureReport, sub: SubIndication | None) -> None:
    if sub is None:
        assert report.indication is Indication.TOTAL_PASSED, report.checks
        assert report.sub_indication is None
        assert all(c.passed for c in report.checks)
    else:
        assert report.sub_indication is sub, [c for c in report.checks if not c.passed]
        assert report.indication is INDICATION_OF[sub]
        assert not report.checks[-1].passed


# -- good signatures ---------------------------------------------------------------------------


def test_mothers_signature_passes_with_chain_and_revocation(pki: PKI) -> None:
    report = _validate(pki, _by(pki.mother, pki.moment))
    _assert_verdict(report, None)
    assert report.signer_iin == pki.mother.iin
    assert report.signer_serial == format(pki.mother.certificate.serial_number, "x")
    assert [c.subject for c in report.chain] == [
        pki.mother.certificate.subject.rfc4514_string(),
        pki.issuing.subject.rfc4514_string(),
        pki.root.subject.rfc4514_string(),
    ]
    assert [c.sha256 for c in report.chain] == [
        c.fingerprint(hashes.SHA256()).hex()
        for c in (pki.mother.certificate, pki.issuing, pki.root)
    ]
    assert report.revocation.state is RevocationState.GOOD
    assert report.revocation.source == f"ocsp {pki.ca.ocsp_url}"
    names = [c.name for c in report.checks]
    for expected in ("certificate_chain", "key_usage", "certificate_policy", "validity_period"):
        assert expected in names
    # The signer by OCSP, the issuing CA on the root's own CRL.
    assert [c.detail for c in report.checks if c.name == "revocation"] == [
        f"signer: good per ocsp {pki.ca.ocsp_url}",
        f"{pki.issuing.subject.rfc4514_string()}: good per crl {pki.ca.arl_url}",
    ]
    assert report.signing_time == pki.moment


@pytest.mark.parametrize("fmt", ["cms", "jws"])
def test_real_signatures_of_both_formats_pass(pki: PKI, fmt: str) -> None:
    if fmt == "cms":
        der = cms.sign_detached(
            CONTENT,
            pki.mother.certificate,
            pki.mother.key,
            chain=pki.mother.chain,  # type: ignore[arg-type]
            signing_time=pki.moment,
        )
        verified = cms.verify_detached(der, CONTENT)
    else:
        value = jws.sign_detached(
            CONTENT,
            pki.mother.certificate,
            pki.mother.key,
            chain=pki.mother.chain,  # type: ignore[arg-type]
            signing_time=pki.moment,
        )
        verified = jws.verify_detached(value, CONTENT)
    report = _validate(pki, verified)
    _assert_verdict(report, None)
    assert report.format == fmt
    assert report.checks[: len(verified.checks)] == verified.checks


def test_the_validity_check_reads_the_moment_as_given(pki: PKI) -> None:
    almaty = pki.moment.astimezone(timezone(timedelta(hours=5)))
    validator = _validator(pki)
    details = [
        next(
            c.detail
            for c in _validate(
                pki, _by(pki.mother, pki.moment), moment=m, validator=validator
            ).checks
            if c.name == "validity_period"
        )
        for m in (pki.moment, almaty)
    ]
    assert details == [f"valid at {pki.moment.isoformat()}", f"valid at {almaty.isoformat()}"]


def test_rsa_signer_passes(pki: PKI) -> None:
    _assert_verdict(_validate(pki, _by(pki.rsa_signer, pki.moment)), None)


def test_facility_seal_passes_as_organisation(pki: PKI) -> None:
    report = _validate(pki, _by(pki.facility, pki.moment), purpose="organisation")
    _assert_verdict(report, None)
    assert report.signer_bin == pki.facility.bin
    assert report.signer_iin is None


def test_individual_certificate_is_not_a_seal(pki: PKI) -> None:
    report = _validate(pki, _by(pki.mother, pki.moment), purpose="organisation")
    _assert_verdict(report, SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    assert report.checks[-1].name == "certificate_policy"


def test_seal_is_not_an_individual(pki: PKI) -> None:
    report = _validate(pki, _by(pki.facility, pki.moment), purpose="individual")
    _assert_verdict(report, SubIndication.CHAIN_CONSTRAINTS_FAILURE)


# -- who may sign ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sub"),
    [
        ("self_signed_with_iin", SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
        ("other_ca_signer", SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
        ("ca_as_signer", SubIndication.CHAIN_CONSTRAINTS_FAILURE),
        ("wrong_key_usage_signer", SubIndication.CHAIN_CONSTRAINTS_FAILURE),
        ("not_yet_valid_signer", SubIndication.NOT_YET_VALID),
    ],
)
def test_untrusted_signers(pki: PKI, role: str, sub: SubIndication) -> None:
    party: Party = getattr(pki, role)
    _assert_verdict(_validate(pki, _by(party, pki.moment)), sub)


def test_self_signed_leaf_is_refused_even_with_the_mothers_identity(pki: PKI) -> None:
    report = _validate(pki, _by(pki.self_signed_with_iin, pki.moment))
    assert report.signer_iin == pki.mother.iin  # it claims to be her...
    assert report.indication is Indication.INDETERMINATE  # ...and is not believed
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_a_leaf_in_the_configured_roots_is_refused(pki: PKI) -> None:
    """A certificate in the verifier's Store is a trust anchor: a leaf there would vouch for
    itself, so only CA certificates are taken as roots or intermediates."""
    with pytest.raises(ValueError, match="not a CA certificate"):
        TrustAnchors([pki.self_signed_with_iin.certificate])
    with pytest.raises(ValueError, match="not a CA certificate"):
        TrustAnchors([pki.root], [pki.mother.certificate])
    with pytest.raises(ValueError):
        TrustAnchors([])


def test_another_ca_with_the_same_names_is_refused(pki: PKI) -> None:
    """The other test CA has our CA names but its own keys: its certificate for the mother does
    not pass, whether it brings its own issuing CA, ours, or both."""
    intruder = pki.other_ca_signer
    assert intruder.certificate.issuer == pki.issuing.subject
    assert pki.other_ca.root_certificate.subject == pki.root.subject
    validator = _validator(pki)
    for chain in (intruder.chain, (pki.issuing,), (*intruder.chain, pki.issuing)):
        report = _validate(pki, _by(intruder, pki.moment, chain), validator=validator)
        _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    # Nor with its root in the chain it carries: roots come from the configuration only.
    with_root = (*intruder.chain, pki.other_ca.root_certificate)
    report = _validate(pki, _by(intruder, pki.moment, with_root), validator=validator)
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)


def _forged(pki: PKI) -> Party:
    """A certificate for the father in every way like one our issuing CA makes (issuer name,
    authority key identifier, profile, revocation pointers) but signed with another key."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateBuilder(
        issuer_name=pki.issuing.subject,
        subject_name=pki.father.certificate.subject,
        public_key=key.public_key(),
        serial_number=pki.father.certificate.serial_number + 1,
        not_valid_before=pki.moment - timedelta(days=1),
        not_valid_after=pki.moment + timedelta(days=300),
    )
    for extension in pki.father.certificate.extensions:
        value = extension.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(value, critical=extension.critical)
    certificate = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    return Party(key, certificate, (pki.issuing,), FATHER)


def test_forged_certificate_signature_is_refused(pki: PKI) -> None:
    validator = _validator(pki)
    _assert_verdict(_validate(pki, _by(pki.mother, pki.moment), validator=validator), None)
    forged = _forged(pki)
    _assert_verdict(
        _validate(pki, _by(forged, pki.moment), validator=validator),
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    # The father's real certificate with one bit of its signature flipped (still DER).
    der = bytearray(pki.father.certificate.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    altered = x509.load_der_x509_certificate(bytes(der))
    report = _validate(pki, signed(altered, pki.father.chain, pki.moment), validator=validator)
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert "signature does not match" in report.checks[-1].detail


def test_a_repeated_chain_gives_the_same_verdict(pki: PKI) -> None:
    forged = _forged(pki)
    report = _validate(pki, _by(forged, pki.moment, (pki.issuing,) * 50))
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    _assert_verdict(_validate(pki, _by(pki.mother, pki.moment, (pki.issuing,) * 50)), None)


def test_certificate_substitution_is_refused(pki: PKI) -> None:
    """A second certificate for the same key (another identity) swapped into a valid CMS: the
    signed ESS signing-certificate-v2 attribute still names the first, so it is refused before
    any path is built."""
    from asn1crypto import cms as asn1_cms
    from asn1crypto import x509 as asn1_x509

    second = pki.ca.issue(
        pki.mother.key.public_key(),  # type: ignore[union-attr]
        FATHER,
        profile=Profile.INDIVIDUAL,
        moment=pki.moment - timedelta(hours=1),
    )
    der = cms.sign_detached(
        CONTENT,
        pki.mother.certificate,
        pki.mother.key,
        chain=pki.mother.chain,  # type: ignore[arg-type]
        signing_time=pki.moment,
    )
    info = asn1_cms.ContentInfo.load(der)
    signed_data = info["content"]
    signed_data["certificates"] = [
        asn1_cms.CertificateChoices(
            name="certificate",
            value=asn1_x509.Certificate.load(second.public_bytes(serialization.Encoding.DER)),
        )
    ]
    signed_data["signer_infos"][0]["sid"] = asn1_cms.SignerIdentifier(
        name="issuer_and_serial_number",
        value=asn1_cms.IssuerAndSerialNumber(
            {
                "issuer": asn1_x509.Name.load(second.issuer.public_bytes()),
                "serial_number": second.serial_number,
            }
        ),
    )
    from signing.errors import SignatureFailure

    with pytest.raises(SignatureFailure) as refused:
        cms.verify_detached(info.dump(force=True), CONTENT)
    assert refused.value.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert refused.value.checks[-1].name == "cms.signing_certificate"


def test_wrong_key_is_refused_before_the_path(pki: PKI) -> None:
    """The mother's certificate in a JWS made by the father's key."""
    value = jws.sign_detached(
        CONTENT,
        pki.father.certificate,
        pki.father.key,
        chain=pki.father.chain,  # type: ignore[arg-type]
        signing_time=pki.moment,
    )
    header, _, signature = value.split(".")
    fields = json.loads(jws.b64url_decode(header))
    fields["x5c"][0] = base64.b64encode(
        pki.mother.certificate.public_bytes(serialization.Encoding.DER)
    ).decode()
    # The kid names the father's certificate: without it the forgery reaches the signature.
    fields.pop("kid")
    forged = f"{jws.b64url_encode(json.dumps(fields).encode())}..{signature}"
    from signing.errors import SignatureFailure

    with pytest.raises(SignatureFailure) as refused:
        jws.verify_detached(forged, CONTENT)
    assert refused.value.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_leaf_key_too_weak_is_refused(pki: PKI) -> None:
    """cryptography's verifier refuses weak issuer keys but not weak leaf keys: that is ours."""
    root = authority("Weak Root", issuer=None)
    fetcher = CRLFetcher()
    root.publish(fetcher)
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    weak = leaf(root, MOTHER, key=weak_key)
    report = Validator(TrustAnchors([root.certificate]), fetcher).validate(
        signed(weak.certificate), moment=MOMENT, purpose="individual"
    )
    _assert_verdict(report, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    assert report.checks[-1].name == "signer_key"


def test_the_verifier_itself_holds_signature_certificates_to_their_profile(pki: PKI) -> None:
    """The verifier's end-entity policy refuses what the named checks refuse, so a path is
    never built for a certificate that may not sign."""
    verifier = (
        PolicyBuilder()
        .store(Store([pki.root]))
        .time(pki.moment)
        .extension_policies(ca_policy=CA_POLICY, ee_policy=SIGNATURE_POLICY)
        .build_client_verifier()
    )
    assert verifier.verify(pki.mother.certificate, [pki.issuing]).chain[0] == pki.mother.certificate
    with pytest.raises(VerificationError, match="keyUsage"):
        verifier.verify(pki.wrong_key_usage_signer.certificate, [pki.issuing])


def test_unknown_critical_extension_is_refused() -> None:
    root = authority("Critical Root", issuer=None)
    fetcher = CRLFetcher()
    root.publish(fetcher)
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    party = leaf(root, MOTHER, extra=[(odd, True)])
    report = Validator(TrustAnchors([root.certificate]), fetcher).validate(
        signed(party.certificate), moment=MOMENT
    )
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert "critical" in report.checks[-1].detail


# -- constraints on CAs, missing and misplaced CAs -----------------------------------------------


def _two_level(
    root: dict[str, object] | None = None,
    issuing: dict[str, object] | None = None,
    published: datetime = MOMENT,
) -> tuple[Authority, Validator]:
    """A root and an issuing CA (pathLen 0) with the given extra arguments, and a validator
    trusting the root; both CRLs published at `published`."""
    top = authority("Path Root", issuer=None, **(root or {}))  # type: ignore[arg-type]
    below = authority("Path Issuing", issuer=top, path_length=0, **(issuing or {}))  # type: ignore[arg-type]
    fetcher = CRLFetcher()
    top.publish(fetcher, moment=published, ca_certificates=True)
    below.publish(fetcher, moment=published)
    return below, Validator(TrustAnchors([top.certificate]), fetcher)


NAME_CONSTRAINTS = x509.NameConstraints(
    permitted_subtrees=[x509.DNSName("birthreg.test")], excluded_subtrees=None
)


@pytest.mark.parametrize("on", ["root", "issuing"])
def test_name_constraints_bind_the_leaves(on: str) -> None:
    issuing, validator = _two_level(**{on: {"extra": [(NAME_CONSTRAINTS, True)]}})
    inside = leaf(
        issuing,
        MOTHER,
        extra=[(x509.SubjectAlternativeName([x509.DNSName("ward.birthreg.test")]), False)],
    )
    report = validator.validate(signed(inside.certificate, (issuing.certificate,)), moment=MOMENT)
    _assert_verdict(report, None)
    outside = leaf(
        issuing,
        FATHER,
        extra=[(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), False)],
    )
    report = validator.validate(signed(outside.certificate, (issuing.certificate,)), moment=MOMENT)
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert "name constraint" in report.checks[-1].detail


def test_a_ca_below_a_path_length_zero_ca_is_refused() -> None:
    issuing, validator = _two_level()
    sub_ca = authority("Path Sub", issuer=issuing, path_length=0)
    party = leaf(sub_ca, FATHER)
    report = validator.validate(
        signed(party.certificate, (sub_ca.certificate, issuing.certificate)), moment=MOMENT
    )
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert "path length" in report.checks[-1].detail


def test_a_leaf_placed_where_a_ca_should_be_is_refused() -> None:
    """The mother's own certificate (CA:FALSE, no keyCertSign) used to certify another key."""
    issuing, validator = _two_level()
    mother = leaf(issuing, MOTHER)
    as_issuer = Authority(mother.key, mother.certificate, "http://pki.test/none.crl")  # type: ignore[arg-type]
    impostor = leaf(as_issuer, FATHER)
    report = validator.validate(
        signed(impostor.certificate, (mother.certificate, issuing.certificate)), moment=MOMENT
    )
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert "basicConstraints.cA" in report.checks[-1].detail


def test_a_missing_middle_ca_means_no_path() -> None:
    """root → middle → issuing → leaf: without the middle CA there is no path."""
    root = authority("Three Root", issuer=None, path_length=2)
    middle = authority("Three Middle", issuer=root, path_length=1)
    issuing = authority("Three Issuing", issuer=middle, path_length=0)
    fetcher = CRLFetcher()
    root.publish(fetcher, ca_certificates=True)
    middle.publish(fetcher, ca_certificates=True)
    issuing.publish(fetcher)
    validator = Validator(TrustAnchors([root.certificate]), fetcher)
    party = leaf(issuing, MOTHER)
    report = validator.validate(signed(party.certificate, (issuing.certificate,)), moment=MOMENT)
    _assert_verdict(report, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    full = (issuing.certificate, middle.certificate)
    report = validator.validate(signed(party.certificate, full), moment=MOMENT)
    _assert_verdict(report, None)
    assert len(report.chain) == 4
    # A configured intermediate fills the gap as well.
    known = Validator(TrustAnchors([root.certificate], [middle.certificate]), fetcher)
    report = known.validate(signed(party.certificate, (issuing.certificate,)), moment=MOMENT)
    _assert_verdict(report, None)


@pytest.mark.parametrize("expiring", ["root", "issuing"])
def test_an_expired_ca_means_no_path(expiring: str) -> None:
    expiry = T0 + timedelta(days=50)
    before = T0 + timedelta(days=20)
    for published, moment, verdict in (
        (before, before, None),
        (MOMENT, MOMENT, SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
    ):
        issuing, validator = _two_level(
            **{expiring: {"not_after": expiry}},
            published=published,  # type: ignore[arg-type]
        )
        party = leaf(issuing, MOTHER)
        report = validator.validate(
            signed(party.certificate, (issuing.certificate,), moment), moment=moment
        )
        _assert_verdict(report, verdict)
    assert "not valid at validation time" in report.checks[-1].detail


def test_a_revoked_issuing_ca_is_refused() -> None:
    """The issuing CA on the root's CRL: every signature under it is refused, and the report
    names the CA."""
    revoked_at = T0 + timedelta(days=50)
    root = authority("Revoking Root", issuer=None)
    issuing = authority("Revoked Issuing", issuer=root, path_length=0)
    fetcher = CRLFetcher()
    root.publish(
        fetcher, ca_certificates=True, revoked=[(issuing.certificate.serial_number, revoked_at)]
    )
    issuing.publish(fetcher)
    validator = Validator(TrustAnchors([root.certificate]), fetcher)
    for person in (MOTHER, FATHER):
        party = leaf(issuing, person)
        report = validator.validate(
            signed(party.certificate, (issuing.certificate,)), moment=MOMENT
        )
        _assert_verdict(report, SubIndication.REVOKED)
        assert "Revoked Issuing" in report.checks[-1].detail


# -- time -----------------------------------------------------------------------------------------


def test_expired_signer(pki: PKI) -> None:
    # Signed (by its own account) after expiry: a proven failure.
    after = _validate(pki, _by(pki.expired_signer, pki.moment))
    _assert_verdict(after, SubIndication.EXPIRED)
    # Claims to have signed while valid: nothing proves it, so it cannot pass either.
    while_valid = pki.expired_signer.certificate.not_valid_after_utc - timedelta(days=1)
    before = _validate(pki, _by(pki.expired_signer, while_valid))
    _assert_verdict(before, SubIndication.OUT_OF_BOUNDS_NO_POE)


def test_signing_time_in_the_future_is_refused(pki: PKI) -> None:
    report = _validate(pki, _by(pki.mother, pki.moment + timedelta(days=3)))
    _assert_verdict(report, SubIndication.SIG_CONSTRAINTS_FAILURE)


def test_report_renders(pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    report = _validate(
        pki,
        _by(pki.revoked_signer, pki.moment + timedelta(days=1, hours=1)),
        moment=later,
        validator=_validator(pki, clock=later),
    )
    data = report.to_json()
    assert data["indication"] == "TOTAL_FAILED"
    assert data["sub_indication"] == "REVOKED"
    assert data["revocation"]["state"] == "revoked"
    assert data["signer"]["iin"] == pki.revoked_signer.iin
    assert data["checks"][0] == Check("jws.signature", True, "verified by signing.jws").to_json()
    json.dumps(data)  # serialisable as it stands


def test_ours_is_a_plain_verifier_call_each_time(pki: PKI) -> None:
    """Nothing of a path is remembered: a validator that saw the mother first still refuses the
    other CA's certificate for her, and a fresh one gives the same reports."""
    warm = _validator(pki)
    signatures = [_by(p, pki.moment) for p in (pki.mother, pki.other_ca_signer, pki.father)]
    first = [_validate(pki, s, validator=warm).to_json() for s in signatures]
    again = [_validate(pki, s, validator=warm).to_json() for s in signatures]
    cold = [_validate(pki, s).to_json() for s in signatures]
    assert first == again == cold
    assert [r["indication"] for r in first] == ["TOTAL_PASSED", "INDETERMINATE", "TOTAL_PASSED"]


def test_a_signer_certificate_that_cannot_be_read_is_a_format_failure(pki: PKI) -> None:
    """cryptography reads extensions only when asked: a certificate with a duplicated one loads,
    and the validator reports it instead of raising."""
    from asn1crypto import x509 as asn1_x509

    tampered = asn1_x509.Certificate.load(
        pki.mother.certificate.public_bytes(serialization.Encoding.DER)
    )
    extensions = tampered["tbs_certificate"]["extensions"]
    extensions.append(extensions[0].copy())
    certificate = x509.load_der_x509_certificate(tampered.dump(force=True))
    report = _validate(pki, signed(certificate, pki.mother.chain, pki.moment))
    _assert_verdict(report, SubIndication.FORMAT_FAILURE)
    assert report.checks[-1].name == "signer_certificate"
    assert "Duplicate" in report.checks[-1].detail
