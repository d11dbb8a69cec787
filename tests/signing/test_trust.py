"""Path validation, revocation and the verdict on one signature: the corpus of bad signatures.

Each bad signature is made for real (by our signers, by openssl, or by hand for the JWS attacks)
and must come out with the ETSI EN 319 102-1 sub-indication named beside it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import PKI, Party
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import cms, jws
from signing.ca import Profile
from signing.dossier import verify_signature
from signing.local import InProcessFetcher
from signing.report import Indication, RevocationState, SubIndication
from signing.trust import RevocationCache, TrustAnchors, Validator

CONTENT = json.dumps(
    {"type": "birthreg.application/1", "note": "Әке аты"}, ensure_ascii=False
).encode()


def _validator(pki: PKI, *, clock: datetime | None = None, **kwargs: object) -> Validator:
    fetcher = InProcessFetcher(pki.ca, pki.statuses, clock=lambda: clock or pki.moment)
    return Validator(TrustAnchors([pki.root]), fetcher, **kwargs)  # type: ignore[arg-type]


def _cms(party: Party, content: bytes, at: datetime) -> dict[str, str]:
    der = cms.sign_detached(
        content,
        party.certificate,
        party.key,
        chain=party.chain,
        signing_time=at,  # type: ignore[arg-type]
    )
    return {"format": "cms", "value": base64.b64encode(der).decode()}


def _jws(party: Party, content: bytes, at: datetime) -> dict[str, str]:
    value = jws.sign_detached(
        content,
        party.certificate,
        party.key,
        chain=party.chain,
        signing_time=at,  # type: ignore[arg-type]
    )
    return {"format": "jws", "value": value}


SIGNERS: dict[str, Callable[[Party, bytes, datetime], dict[str, str]]] = {"cms": _cms, "jws": _jws}


def _verify(
    pki: PKI,
    signature: dict[str, str],
    *,
    content: bytes = CONTENT,
    moment: datetime | None = None,
    purpose: str | None = "individual",
    validator: Validator | None = None,
):  # type: ignore[no-untyped-def]
    return verify_signature(
        signature,
        content,
        validator=validator or _validator(pki),
        moment=moment or pki.moment,
        purpose=purpose,  # type: ignore[arg-type]
    )


def _assert_verdict(report, sub: SubIndication | None) -> None:  # type: ignore[no-untyped-def]
    if sub is None:
        assert report.indication is Indication.TOTAL_PASSED, report.checks
        assert report.sub_indication is None
        assert all(c.passed for c in report.checks)
    else:
        assert report.sub_indication is sub, [c for c in report.checks if not c.passed]
        assert report.indication is not Indication.TOTAL_PASSED
        assert not report.checks[-1].passed or any(not c.passed for c in report.checks)


# -- good signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["cms", "jws"])
def test_mothers_signature_passes_with_chain_and_revocation(pki: PKI, fmt: str) -> None:
    report = _verify(pki, SIGNERS[fmt](pki.mother, CONTENT, pki.moment))
    _assert_verdict(report, None)
    assert report.signer_iin == pki.mother.iin
    assert report.signer_serial == format(pki.mother.certificate.serial_number, "x")
    assert [c.subject for c in report.chain] == [
        pki.mother.certificate.subject.rfc4514_string(),
        pki.issuing.subject.rfc4514_string(),
        pki.root.subject.rfc4514_string(),
    ]
    assert report.revocation.state is RevocationState.GOOD
    assert report.revocation.source.startswith("ocsp ")
    names = [c.name for c in report.checks]
    for expected in (
        "certificate_chain",
        "key_usage",
        "certificate_policy",
        "validity_period",
        "revocation",
    ):
        assert expected in names
    assert report.signing_time == pki.moment


def test_the_validity_check_reads_the_moment_as_given(pki: PKI) -> None:
    # Equal instants in two offsets are equal datetimes; the passed check, shared between
    # reports at one moment, still reads each moment as the caller gave it.
    signature = _jws(pki.mother, CONTENT, pki.moment)
    almaty = pki.moment.astimezone(timezone(timedelta(hours=5)))
    validator = _validator(pki)
    details = [
        next(c.detail for c in _verify(pki, signature, moment=m, validator=validator).checks
             if c.name == "validity_period")
        for m in (pki.moment, almaty)
    ]
    assert details == [f"valid at {pki.moment.isoformat()}", f"valid at {almaty.isoformat()}"]
    assert details[0] != details[1]


def test_rsa_signer_passes(pki: PKI) -> None:
    _assert_verdict(_verify(pki, _cms(pki.rsa_signer, CONTENT, pki.moment)), None)


def test_facility_seal_passes_as_organisation(pki: PKI) -> None:
    report = _verify(pki, _cms(pki.facility, CONTENT, pki.moment), purpose="organisation")
    _assert_verdict(report, None)
    assert report.signer_bin == pki.facility.bin
    assert report.signer_iin is None


def test_individual_certificate_is_not_a_seal(pki: PKI) -> None:
    report = _verify(pki, _cms(pki.mother, CONTENT, pki.moment), purpose="organisation")
    _assert_verdict(report, SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    assert report.checks[-1].name == "certificate_policy"


def test_seal_is_not_an_individual(pki: PKI) -> None:
    report = _verify(pki, _cms(pki.facility, CONTENT, pki.moment), purpose="individual")
    _assert_verdict(report, SubIndication.CHAIN_CONSTRAINTS_FAILURE)


# -- the corpus of bad signatures --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "sub"),
    [("cms", SubIndication.HASH_FAILURE), ("jws", SubIndication.SIG_CRYPTO_FAILURE)],
)
def test_tampered_content(pki: PKI, fmt: str, sub: SubIndication) -> None:
    signature = SIGNERS[fmt](pki.mother, CONTENT, pki.moment)
    report = _verify(pki, signature, content=CONTENT.replace("Әке".encode(), "Аке".encode()))
    _assert_verdict(report, sub)
    assert report.indication is Indication.TOTAL_FAILED


@pytest.mark.parametrize("fmt", ["cms", "jws"])
def test_wrong_key(pki: PKI, fmt: str) -> None:
    """The mother's certificate with a signature made by the father's key."""
    impostor = Party(pki.father.key, pki.mother.certificate, pki.mother.chain)
    if fmt == "cms":
        # Our signer refuses a key that does not match the certificate, so forge below it.
        with pytest.raises(ValueError):
            _cms(impostor, CONTENT, pki.moment)
        der = cms._assemble(
            CONTENT,
            pki.mother.certificate,
            pki.father.key,
            pki.moment,
            pki.mother.chain,  # type: ignore[arg-type]
        )
        signature = {"format": "cms", "value": base64.b64encode(der).decode()}
    else:
        signature = _forge_jws_x5c(_jws(pki.father, CONTENT, pki.moment), pki.mother.certificate)
    _assert_verdict(_verify(pki, signature), SubIndication.SIG_CRYPTO_FAILURE)


def _swap_cms_certificate(
    signature: dict[str, str], old: x509.Certificate, new: x509.Certificate
) -> dict[str, str]:
    from asn1crypto import cms as acms
    from asn1crypto import x509 as ax509

    info = acms.ContentInfo.load(base64.b64decode(signature["value"]))
    signed = info["content"]
    signed["certificates"] = [
        acms.CertificateChoices(
            name="certificate",
            value=ax509.Certificate.load(
                (
                    new
                    if c.chosen.dump() == old.public_bytes(serialization.Encoding.DER)
                    else x509.load_der_x509_certificate(c.chosen.dump())
                ).public_bytes(serialization.Encoding.DER)
            ),
        )
        for c in signed["certificates"]
    ]
    signer = signed["signer_infos"][0]
    signer["sid"] = acms.SignerIdentifier(
        name="issuer_and_serial_number",
        value=acms.IssuerAndSerialNumber(
            {
                "issuer": ax509.Name.load(new.issuer.public_bytes()),
                "serial_number": new.serial_number,
            }
        ),
    )
    return {"format": "cms", "value": base64.b64encode(info.dump(force=True)).decode()}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge_jws_x5c(signature: dict[str, str], certificate: x509.Certificate) -> dict[str, str]:
    header_b64, _, sig = signature["value"].split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    header.pop("kid", None)  # which would name the certificate replaced
    header["x5c"][0] = base64.b64encode(
        certificate.public_bytes(serialization.Encoding.DER)
    ).decode()
    return {"format": "jws", "value": f"{_b64url(json.dumps(header).encode())}..{sig}"}


@pytest.mark.parametrize("fmt", ["cms", "jws"])
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
def test_untrusted_signers(pki: PKI, fmt: str, role: str, sub: SubIndication) -> None:
    party: Party = getattr(pki, role)
    report = _verify(pki, SIGNERS[fmt](party, CONTENT, pki.moment))
    _assert_verdict(report, sub)


def test_self_signed_leaf_is_refused_even_with_the_mothers_identity(pki: PKI) -> None:
    report = _verify(pki, _jws(pki.self_signed_with_iin, CONTENT, pki.moment))
    assert report.signer_iin == pki.mother.iin  # it claims to be her...
    assert report.indication is Indication.INDETERMINATE  # ...and is not believed
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


@pytest.mark.parametrize("fmt", ["cms", "jws"])
def test_expired_signer(pki: PKI, fmt: str) -> None:
    cert = pki.expired_signer.certificate
    # Signed (by its own account) after expiry: a proven failure.
    after = _verify(pki, SIGNERS[fmt](pki.expired_signer, CONTENT, pki.moment))
    _assert_verdict(after, SubIndication.EXPIRED)
    assert after.indication is Indication.TOTAL_FAILED
    # Claims to have signed while valid: nothing proves it, so it cannot pass either.
    while_valid = cert.not_valid_after_utc - timedelta(days=1)
    before = _verify(pki, SIGNERS[fmt](pki.expired_signer, CONTENT, while_valid))
    _assert_verdict(before, SubIndication.OUT_OF_BOUNDS_NO_POE)
    assert before.indication is Indication.INDETERMINATE


@pytest.mark.parametrize("fmt", ["cms", "jws"])
def test_revoked_signer_before_and_after_the_signing_time(pki: PKI, fmt: str) -> None:
    revoked_at = pki.moment + timedelta(days=1)
    later = pki.moment + timedelta(days=2)
    validator = _validator(pki, clock=later)
    signed_after = SIGNERS[fmt](pki.revoked_signer, CONTENT, revoked_at + timedelta(hours=6))
    report = _verify(pki, signed_after, moment=later, validator=validator)
    _assert_verdict(report, SubIndication.REVOKED)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.revocation.state is RevocationState.REVOKED
    assert report.revocation.reason == "key_compromise"
    assert report.revocation.revoked_at == revoked_at

    signed_before = SIGNERS[fmt](pki.revoked_signer, CONTENT, pki.moment)
    report = _verify(pki, signed_before, moment=later, validator=validator)
    _assert_verdict(report, SubIndication.REVOKED_NO_POE)
    assert report.indication is Indication.INDETERMINATE


def test_revoked_signer_is_good_before_its_revocation(pki: PKI) -> None:
    report = _verify(pki, _jws(pki.revoked_signer, CONTENT, pki.moment))
    _assert_verdict(report, None)


def test_sha1_cms_from_openssl(pki: PKI, tmp_path: Path) -> None:
    content = tmp_path / "doc.json"
    content.write_bytes(CONTENT)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(pki.mother.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pki.mother.key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = subprocess.run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha1",
            "-outform",
            "DER",
            "-in",
            content,
            "-signer",
            cert,
            "-inkey",
            key,
        ],
        check=True,
        capture_output=True,
    ).stdout
    report = _verify(pki, {"format": "cms", "value": base64.b64encode(der).decode()})
    _assert_verdict(report, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("truncated", id="truncated-der"),
        pytest.param(base64.b64encode(b"\x30\x82\x01\x00garbage").decode(), id="garbage"),
        pytest.param("not base64 at all!", id="not-base64"),
    ],
)
def test_malformed_cms(pki: PKI, value: str) -> None:
    if value == "truncated":
        good = base64.b64decode(_cms(pki.mother, CONTENT, pki.moment)["value"])
        value = base64.b64encode(good[: len(good) // 2]).decode()
    report = _verify(pki, {"format": "cms", "value": value})
    _assert_verdict(report, SubIndication.FORMAT_FAILURE)
    assert report.indication is Indication.TOTAL_FAILED


@pytest.mark.parametrize(
    "signature",
    [None, [], {"format": "xml", "value": "x"}, {"format": "cms"}, {"format": "jws", "value": 3}],
)
def test_malformed_signature_objects(pki: PKI, signature: object) -> None:
    report = _verify(pki, signature)  # type: ignore[arg-type]
    _assert_verdict(report, SubIndication.FORMAT_FAILURE)


def _header(pki: PKI, alg: str, **extra: object) -> dict[str, object]:
    cert = base64.b64encode(pki.mother.certificate.public_bytes(serialization.Encoding.DER))
    return {"alg": alg, "x5c": [cert.decode()], "sigT": "2026-06-01T12:00:00Z", **extra}


def test_jws_alg_none(pki: PKI) -> None:
    header = _b64url(json.dumps(_header(pki, "none")).encode())
    report = _verify(pki, {"format": "jws", "value": f"{header}.."})
    _assert_verdict(report, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)


def test_jws_hs256_keyed_with_the_public_key(pki: PKI) -> None:
    """The classic confusion attack: an HMAC 'signature' keyed with the signer's public key."""
    header = _b64url(json.dumps(_header(pki, "HS256")).encode())
    public = pki.mother.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.new(public, f"{header}.{_b64url(CONTENT)}".encode(), hashlib.sha256).digest()
    report = _verify(pki, {"format": "jws", "value": f"{header}..{_b64url(mac)}"})
    _assert_verdict(report, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)


def test_jws_missing_x5c(pki: PKI) -> None:
    signature = _jws(pki.mother, CONTENT, pki.moment)
    header_b64, _, sig = signature["value"].split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    del header["x5c"]
    report = _verify(
        pki, {"format": "jws", "value": f"{_b64url(json.dumps(header).encode())}..{sig}"}
    )
    _assert_verdict(report, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)


def test_jws_payload_swapped(pki: PKI) -> None:
    other = json.dumps({"type": "birthreg.application/1", "note": "another"}).encode()
    signature = _jws(pki.mother, other, pki.moment)
    _assert_verdict(_verify(pki, signature), SubIndication.SIG_CRYPTO_FAILURE)


def test_signing_time_in_the_future_is_refused(pki: PKI) -> None:
    signature = _jws(pki.mother, CONTENT, pki.moment + timedelta(days=3))
    _assert_verdict(_verify(pki, signature), SubIndication.SIG_CONSTRAINTS_FAILURE)


# -- revocation lookups --------------------------------------------------------------------------


class CountingFetcher:
    def __init__(
        self, inner: InProcessFetcher, *, ocsp_down: bool = False, crl_down: bool = False
    ) -> None:
        self.inner, self.ocsp_down, self.crl_down = inner, ocsp_down, crl_down
        self.crl_calls = self.ocsp_calls = 0

    def fetch_crl(self, url: str) -> bytes:
        self.crl_calls += 1
        if self.crl_down:
            raise ConnectionRefusedError("down")
        return self.inner.fetch_crl(url)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        self.ocsp_calls += 1
        if self.ocsp_down:
            raise TimeoutError("down")
        return self.inner.post_ocsp(url, request_der)


def _counting(pki: PKI, clock: datetime, **kwargs: bool) -> tuple[Validator, CountingFetcher]:
    fetcher = CountingFetcher(InProcessFetcher(pki.ca, pki.statuses, clock=lambda: clock), **kwargs)
    return Validator(TrustAnchors([pki.root]), fetcher), fetcher


def test_answers_are_cached_until_next_update(pki: PKI) -> None:
    validator, fetcher = _counting(pki, pki.moment)
    signature = _jws(pki.mother, CONTENT, pki.moment)
    for _ in range(3):
        _assert_verdict(_verify(pki, signature, validator=validator), None)
    assert fetcher.ocsp_calls == 1
    assert fetcher.crl_calls == 0
    # Past the answer's nextUpdate the cache no longer serves it; the responder (whose clock
    # stayed behind) gives another stale answer, so the fresher CRL decides.
    report = _verify(pki, signature, validator=validator, moment=pki.moment + timedelta(hours=2))
    _assert_verdict(report, None)
    assert report.revocation.source.startswith("crl ")
    assert (fetcher.ocsp_calls, fetcher.crl_calls) == (2, 1)


def test_crl_is_used_when_ocsp_is_down(pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    validator, fetcher = _counting(pki, later, ocsp_down=True)
    report = _verify(
        pki, _jws(pki.revoked_signer, CONTENT, later), moment=later, validator=validator
    )
    _assert_verdict(report, SubIndication.REVOKED)
    assert report.revocation.source.startswith("crl ")
    assert fetcher.crl_calls == 1
    good = _verify(pki, _jws(pki.mother, CONTENT, later), moment=later, validator=validator)
    _assert_verdict(good, None)
    assert fetcher.crl_calls == 1  # the CRL is cached for the next certificate too


def test_no_revocation_answer_is_indeterminate(pki: PKI) -> None:
    validator, _ = _counting(pki, pki.moment, ocsp_down=True, crl_down=True)
    report = _verify(pki, _jws(pki.mother, CONTENT, pki.moment), validator=validator)
    _assert_verdict(report, SubIndication.TRY_LATER)
    assert report.indication is Indication.INDETERMINATE


def test_answers_signed_by_another_ca_are_not_believed(pki: PKI) -> None:
    """An attacker answering 'good' from a responder of their own CA gets nowhere."""

    class Impostor:
        def fetch_crl(self, url: str) -> bytes:
            crl = pki.other_ca.build_crl([], number=1, moment=pki.moment)
            return crl.public_bytes(serialization.Encoding.DER)

        def post_ocsp(self, url: str, request_der: bytes) -> bytes:
            from signing import ocsp

            # Re-address the request to the other CA's issuer so it answers "good".
            return ocsp.respond(
                request_der, ca=pki.other_ca, statuses=pki.other_statuses, moment=pki.moment
            )

    validator = Validator(TrustAnchors([pki.root]), Impostor())
    report = _verify(pki, _jws(pki.revoked_signer, CONTENT, pki.moment), validator=validator)
    _assert_verdict(report, SubIndication.TRY_LATER)


def test_an_ocsp_answer_under_an_unknown_digest_is_no_answer(pki: PKI) -> None:
    """A responder (reached over the network, in the two-service deployment) that names the
    certificate under a digest we do not know is not believed, and does not make `validate`
    raise: the CRL decides, and with no CRL either the verdict is INDETERMINATE."""
    from asn1crypto import ocsp as asn1_ocsp

    class OddDigest(CountingFetcher):
        def post_ocsp(self, url: str, request_der: bytes) -> bytes:
            answer = asn1_ocsp.OCSPResponse.load(super().post_ocsp(url, request_der))
            basic = answer["response_bytes"]["response"].parsed
            data = basic["tbs_response_data"]
            for single in data["responses"]:
                single["cert_id"]["hash_algorithm"]["algorithm"] = "1.2.3.4.5"
            data = asn1_ocsp.ResponseData.load(data.dump(force=True))
            basic["tbs_response_data"] = data
            basic["signature"] = pki.ca._issuing_key.sign(
                data.dump(), ec.ECDSA(hashes.SHA256())
            )
            answer["response_bytes"]["response"] = asn1_ocsp.BasicOCSPResponse.load(
                basic.dump(force=True)
            )
            return bytes(answer.dump(force=True))

    inner = InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment)
    signature = _jws(pki.mother, CONTENT, pki.moment)
    fetcher = OddDigest(inner)
    report = _verify(pki, signature, validator=Validator(TrustAnchors([pki.root]), fetcher))
    _assert_verdict(report, None)
    assert report.revocation.source.startswith("crl ")
    assert (fetcher.ocsp_calls, fetcher.crl_calls) == (1, 1)

    without_crl = OddDigest(inner, crl_down=True)
    report = _verify(pki, signature, validator=Validator(TrustAnchors([pki.root]), without_crl))
    _assert_verdict(report, SubIndication.TRY_LATER)
    assert any("another certificate" in c.detail for c in report.checks if not c.passed)


def test_certificate_unknown_to_the_ca(pki: PKI) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from signing.ca import Individual, Profile

    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki.ca.issue(
        key.public_key(),
        Individual("940315400074", "Ахметова", "Сая"),
        profile=Profile.INDIVIDUAL,
        moment=pki.moment - timedelta(hours=1),
    )
    # Issued but never recorded: OCSP says "unknown" and that is not "good".
    report = _verify(pki, _jws(Party(key, cert, pki.mother.chain), CONTENT, pki.moment))
    _assert_verdict(report, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE)


def test_leaf_cannot_be_a_trust_anchor(pki: PKI) -> None:
    with pytest.raises(ValueError, match="not a CA certificate"):
        TrustAnchors([pki.mother.certificate])
    with pytest.raises(ValueError):
        TrustAnchors([])


def test_cache_can_be_shared_and_cleared(pki: PKI) -> None:
    cache = RevocationCache()
    validator = _validator(pki, cache=cache)
    _assert_verdict(_verify(pki, _jws(pki.mother, CONTENT, pki.moment), validator=validator), None)
    assert (
        cache.ocsp(
            pki.ca.ocsp_url,
            hashlib.sha256(
                pki.issuing.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest(),
            pki.mother.certificate.serial_number,
            pki.moment,
        )
        is not None
    )
    cache.clear()
    assert cache.ocsp(pki.ca.ocsp_url, b"", 0, pki.moment) is None


def test_report_renders(pki: PKI) -> None:
    report = _verify(
        pki,
        _jws(pki.revoked_signer, CONTENT, pki.moment + timedelta(days=1, hours=1)),
        moment=pki.moment + timedelta(days=2),
        validator=_validator(pki, clock=pki.moment + timedelta(days=2)),
    )
    data = report.to_json()
    assert data["indication"] == "TOTAL_FAILED"
    assert data["sub_indication"] == "REVOKED"
    assert data["revocation"]["state"] == "revoked"
    assert data["signer"]["iin"] == pki.revoked_signer.iin
    json.dumps(data)  # serialisable as it stands


def test_certificate_substitution_is_refused(pki: PKI) -> None:
    """A second certificate for the same key (another identity) swapped into a valid CMS: the
    signed ESS signing-certificate-v2 attribute still names the first, so it is refused."""
    second = pki.ca.issue(
        pki.mother.key.public_key(),  # type: ignore[union-attr]
        pki.father.subject,  # type: ignore[arg-type]
        profile=Profile.INDIVIDUAL,
        moment=pki.moment - timedelta(hours=1),
    )
    pki.statuses.add(second)
    signature = _swap_cms_certificate(
        _cms(pki.mother, CONTENT, pki.moment), pki.mother.certificate, second
    )
    report = _verify(pki, signature)
    _assert_verdict(report, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    assert report.checks[-1].name == "cms.signing_certificate"


def test_crl_first_answers_many_signers_with_one_fetch(pki: PKI) -> None:
    fetcher = CountingFetcher(InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment))
    validator = Validator(TrustAnchors([pki.root]), fetcher, prefer="crl")
    for party in (pki.mother, pki.father, pki.rsa_signer):
        report = _verify(pki, _jws(party, CONTENT, pki.moment), validator=validator)
        _assert_verdict(report, None)
        assert report.revocation.source.startswith("crl ")
    assert (fetcher.crl_calls, fetcher.ocsp_calls) == (1, 0)


def test_max_cache_age_bounds_how_late_a_revocation_is_seen(pki: PKI) -> None:
    fetcher = CountingFetcher(InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment))
    validator = Validator(
        TrustAnchors([pki.root]), fetcher, prefer="crl", max_cache_age=timedelta(minutes=5)
    )
    signature = _jws(pki.mother, CONTENT, pki.moment)
    _verify(pki, signature, validator=validator)
    _verify(pki, signature, validator=validator, moment=pki.moment + timedelta(minutes=4))
    assert fetcher.crl_calls == 1
    _verify(pki, signature, validator=validator, moment=pki.moment + timedelta(minutes=6))
    assert fetcher.crl_calls == 2  # the CRL is valid for a day, but older than five minutes
