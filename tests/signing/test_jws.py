"""signing.jws: compact JWS with detached payload, made by us or forged by hand, verified.

Self-signed TEST certificates made on the spot: no path validation happens in signing.jws.
`forge` signs any header we like, so that each refusal is provoked by exactly one defect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from signing import jws
from signing.errors import SignatureFailure, WeakKey
from signing.report import SubIndication

PAYLOAD = b'{"type":"birthreg.application/1","language":"kk"}'
SIGNED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@cache
def key(kind: str) -> Any:
    if kind in ("p256", "p256-other"):
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    raise AssertionError(kind)


@cache
def cert(kind: str) -> x509.Certificate:
    return self_signed(kind)


def self_signed(kind: str) -> x509.Certificate:
    private_key = key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST signer {kind}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SIGNED_AT - timedelta(days=1))
        .not_valid_after(SIGNED_AT + timedelta(days=365))
        .sign(private_key, hashes.SHA256())
    )


def base64url_certificate() -> str:
    """A certificate in base64url that is not also standard base64: one whose standard form
    has a '+' or a '/' (about one random P-256 certificate in 700 has neither, and reads the
    same in both alphabets)."""
    while True:
        der = self_signed("p256").public_bytes(serialization.Encoding.DER)
        standard = base64.b64encode(der).decode()
        if "+" in standard or "/" in standard:
            return base64.urlsafe_b64encode(der).decode()


def x5c(*certificates: x509.Certificate) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certificates
    ]


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any] | bytes,
    *,
    kind: str = "p256",
    payload: bytes = PAYLOAD,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    der_signature: bool = False,
    pss: bool = False,
) -> str:
    """A detached JWS over payload with exactly this header, signed by key(kind)."""
    raw_header = header if isinstance(header, bytes) else json.dumps(header).encode()
    encoded_header = encode(raw_header)
    signing_input = f"{encoded_header}.{encode(payload)}".encode()
    private_key = key(kind)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        digest = hash_algorithm or (
            hashes.SHA384() if isinstance(private_key.curve, ec.SECP384R1) else hashes.SHA256()
        )
        signature = private_key.sign(signing_input, ec.ECDSA(digest))
        if not der_signature:
            r, s = decode_dss_signature(signature)
            size = (private_key.curve.key_size + 7) // 8
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        rsa_padding: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            if pss
            else padding.PKCS1v15()
        )
        signature = private_key.sign(signing_input, rsa_padding, hashes.SHA256())
    return f"{encoded_header}..{encode(signature)}"


def header_for(kind: str = "p256", alg: str = "ES256", **extra: Any) -> dict[str, Any]:
    return {"alg": alg, "x5c": x5c(cert(kind)), "sigT": "2026-06-01T12:00:00Z", **extra}


def refused(compact: str, payload: bytes = PAYLOAD) -> SignatureFailure:
    with pytest.raises(SignatureFailure) as caught:
        jws.verify_detached(compact, payload)
    failure = caught.value
    assert failure.checks, "a failure lists the checks that ran"
    assert not failure.checks[-1].passed
    assert all(check.passed for check in failure.checks[:-1])
    assert failure.checks[-1].detail == failure.detail
    return failure


# Round trips.


@pytest.mark.parametrize(
    ("kind", "alg", "expected"),
    [
        ("p256", None, "ES256"),
        ("p384", None, "ES384"),
        ("rsa", None, "RS256"),
        ("rsa", "RS256", "RS256"),
        ("rsa", "PS256", "PS256"),
    ],
)
def test_round_trip(kind: str, alg: str | None, expected: str) -> None:
    compact = jws.sign_detached(PAYLOAD, cert(kind), key(kind), signing_time=SIGNED_AT, alg=alg)
    encoded_header, middle, _ = compact.split(".")
    assert middle == ""
    header = json.loads(jws.b64url_decode(encoded_header))
    assert header == {
        "alg": expected,
        "kid": thumbprint(cert(kind)),
        "crit": ["sigT"],
        "sigT": "2026-06-01T12:00:00Z",
        "x5c": x5c(cert(kind)),
    }
    verified = jws.verify_detached(compact, PAYLOAD)
    assert verified.format == "jws"
    assert verified.algorithm == expected
    assert verified.signer == cert(kind)
    assert verified.certificates == (cert(kind),)
    assert verified.signing_time == SIGNED_AT
    assert all(check.passed for check in verified.checks)
    assert [c.name for c in verified.checks] == [
        "jws.compact", "jws.header", "jws.alg", "jws.parameters", "jws.x5c",
        "jws.signer_key", "jws.sigT", "jws.signature",
    ]


def test_header_is_compact_json() -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    raw = jws.b64url_decode(compact.split(".")[0])
    assert b" " not in raw
    assert raw.startswith(b'{"alg":"ES256","kid":"')


def test_es256_signature_is_raw_r_s() -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    assert len(jws.b64url_decode(compact.split(".")[2])) == 64
    compact = jws.sign_detached(PAYLOAD, cert("p384"), key("p384"), signing_time=SIGNED_AT)
    assert len(jws.b64url_decode(compact.split(".")[2])) == 96


def issued(kind: str, issuer_kind: str, issuer: x509.Certificate | None = None) -> x509.Certificate:
    """A certificate for key(kind) issued by key(issuer_kind), named by `issuer`'s subject (or
    the issuer's own self-signed certificate's)."""
    issuer_name = (issuer or cert(issuer_kind)).subject
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST {kind}")]))
        .issuer_name(issuer_name)
        .public_key(key(kind).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SIGNED_AT - timedelta(days=1))
        .not_valid_after(SIGNED_AT + timedelta(days=365))
        .sign(key(issuer_kind), hashes.SHA256())
    )


def test_chain_and_signing_time_in_another_zone() -> None:
    almaty = timezone(timedelta(hours=5))
    leaf = issued("p256", "rsa")
    compact = jws.sign_detached(
        PAYLOAD, leaf, key("p256"),
        signing_time=datetime(2026, 6, 1, 17, 0, 0, 999_999, tzinfo=almaty),
        chain=[cert("rsa")],
    )
    header = json.loads(jws.b64url_decode(compact.split(".")[0]))
    assert header["sigT"] == "2026-06-01T12:00:00Z"
    verified = jws.verify_detached(compact, PAYLOAD)
    assert verified.certificates == (leaf, cert("rsa"))
    assert verified.signer == leaf


def test_a_signer_writes_the_header_as_one_json_object_and_signs_many() -> None:
    """DetachedSigner writes its header's members once and each sigT between them: the bytes
    are json.dumps of the whole header, member order kept, for every signature it makes."""
    leaf = issued("p256", "rsa")
    signer = jws.DetachedSigner(leaf, key("p256"), chain=[cert("rsa")])
    almaty = timezone(timedelta(hours=5))
    for moment in (SIGNED_AT, datetime(2030, 12, 31, 23, 59, 59, 5, tzinfo=almaty)):
        payload = PAYLOAD + moment.isoformat().encode()
        compact = signer.sign(payload, signing_time=moment)
        expected = json.dumps({
            "alg": "ES256", "kid": thumbprint(leaf), "crit": ["sigT"],
            "sigT": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x5c": x5c(leaf, cert("rsa")),
        }, separators=(",", ":")).encode()
        assert jws.b64url_decode(compact.split(".")[0]) == expected
        verified = jws.verify_detached(compact, payload)
        assert verified.certificates == (leaf, cert("rsa"))
        assert verified.signing_time == moment.astimezone(UTC).replace(microsecond=0)
        with pytest.raises(SignatureFailure):
            jws.verify_detached(compact, payload + b" ")
    # The certificate and its chain given as DER: the same header.
    der, issuer_der = (c.public_bytes(serialization.Encoding.DER) for c in (leaf, cert("rsa")))
    from_der = jws.DetachedSigner(der, key("p256"), chain=[issuer_der])
    assert (from_der.sign(PAYLOAD, signing_time=SIGNED_AT).split(".")[0]
            == signer.sign(PAYLOAD, signing_time=SIGNED_AT).split(".")[0])
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign(PAYLOAD, signing_time=datetime(2026, 6, 1, 12, 0))
    with pytest.raises(ValueError, match="does not belong"):
        jws.DetachedSigner(leaf, key("p384"))


def test_an_old_header_without_kid_or_crit_verifies() -> None:
    # What signers before kid and crit (and the phone page) write.
    verified = jws.verify_detached(forge(header_for()), PAYLOAD)
    assert verified.signing_time == SIGNED_AT
    assert [c.name for c in verified.checks][-1] == "jws.signature"


def test_kid_must_name_the_signer_certificate() -> None:
    assert jws.verify_detached(forge(header_for(kid=thumbprint(cert("p256")))), PAYLOAD)
    for kid in (thumbprint(cert("rsa")), "signer-1", 7):
        failure = refused(forge(header_for(kid=kid)))
        assert failure.sub_indication is SubIndication.FORMAT_FAILURE
        assert failure.checks[-1].name == "jws.x5c"
        assert "kid" in failure.detail


def impostor() -> x509.Certificate:
    """A self-signed certificate with the issuing CA's name and another key."""
    name = cert("rsa").subject
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key("p256-other").public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SIGNED_AT - timedelta(days=1))
        .not_valid_after(SIGNED_AT + timedelta(days=365))
        .sign(key("p256-other"), hashes.SHA256())
    )


@pytest.mark.parametrize(
    "chain",
    [
        pytest.param(lambda: [cert("p384")], id="an unrelated certificate"),
        pytest.param(lambda: [cert("p384"), cert("rsa")], id="the issuer after a stranger"),
        pytest.param(lambda: [impostor()], id="the issuer's name, another key"),
        pytest.param(lambda: [cert("rsa"), cert("p384")], id="a stranger after the issuer"),
    ],
)
def test_x5c_must_be_a_chain(chain: Any) -> None:
    leaf = issued("p256", "rsa")
    header = header_for()
    header["x5c"] = x5c(leaf, *chain())
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.x5c"
    assert "does not certify" in failure.detail


def test_x5c_in_order_passes() -> None:
    header = header_for()
    header["x5c"] = x5c(issued("p256", "rsa"), cert("rsa"))
    assert jws.verify_detached(forge(header), PAYLOAD).certificates[1] == cert("rsa")


def test_x5c_length_is_bounded() -> None:
    header = header_for()
    header["x5c"] = x5c(cert("p256")) * (jws.MAX_X5C + 1)
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert "at most" in failure.detail


def test_compact_length_is_bounded() -> None:
    compact = forge(header_for(padding="x" * jws.MAX_COMPACT_LENGTH))
    failure = refused(compact)
    assert [c.name for c in failure.checks] == ["jws.compact"]


def test_sign_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        jws.sign_detached(
            PAYLOAD, cert("p256"), key("p256"), signing_time=datetime(2026, 6, 1, 12)
        )


@pytest.mark.parametrize(("kind", "alg"), [("p256", "ES384"), ("p256", "PS256"), ("rsa", "ES256"),
                                           ("rsa", "HS256"), ("p256", "none")])
def test_sign_refuses_an_alg_that_does_not_fit(kind: str, alg: str) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        jws.sign_detached(PAYLOAD, cert(kind), key(kind), signing_time=SIGNED_AT, alg=alg)


def test_sign_refuses_a_key_that_is_not_the_certificates() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        jws.sign_detached(PAYLOAD, cert("p256"), key("p256-other"), signing_time=SIGNED_AT)


def test_sign_refuses_weak_key() -> None:
    with pytest.raises(WeakKey):
        jws.sign_detached(PAYLOAD, cert("rsa1024"), key("rsa1024"), signing_time=SIGNED_AT)


def test_forged_but_valid_headers_pass() -> None:
    compact = forge(header_for(crit=["sigT"], **{"x5t#S256": thumbprint(cert("p256"))}))
    assert jws.verify_detached(compact, PAYLOAD).signing_time == SIGNED_AT


def test_sigt_with_offset_and_fraction() -> None:
    compact = forge(header_for(sigT="2026-06-01T17:00:00.250+05:00"))
    assert jws.verify_detached(compact, PAYLOAD).signing_time == SIGNED_AT + timedelta(
        milliseconds=250
    )


def test_no_sigt() -> None:
    header = header_for()
    del header["sigT"]
    verified = jws.verify_detached(forge(header), PAYLOAD)
    assert verified.signing_time is None


def thumbprint(certificate: x509.Certificate) -> str:
    return encode(hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())


# Refusals.


def test_payload_swapped() -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    failure = refused(compact, PAYLOAD.replace(b"kk", b"ru"))
    # JWS has no separate digest: a changed payload is a signature failure.
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert failure.checks[-1].name == "jws.signature"


@pytest.mark.parametrize("kind", ["rsa", "p384"])
def test_payload_swapped_other_algorithms(kind: str) -> None:
    compact = jws.sign_detached(PAYLOAD, cert(kind), key(kind), signing_time=SIGNED_AT)
    assert refused(compact, b"{}").sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_signature_by_another_key() -> None:
    # Signed by p256-other, but the header names p256's certificate.
    failure = refused(forge(header_for("p256"), kind="p256-other"))
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert failure.checks[-1].name == "jws.signature"


def test_pss_signature_under_rs256() -> None:
    failure = refused(forge(header_for("rsa", "RS256"), kind="rsa", pss=True))
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_alg_none() -> None:
    header = header_for(alg="none")
    compact = f"{encode(json.dumps(header).encode())}.."
    failure = refused(compact)
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "jws.alg"
    assert '"none"' in failure.detail


def test_hs256_keyed_with_the_public_key() -> None:
    # The classic confusion attack: an HMAC whose "secret" is the signer's public key.
    header = header_for(alg="HS256")
    encoded_header = encode(json.dumps(header).encode())
    public_pem = cert("p256").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.new(
        public_pem, f"{encoded_header}.{encode(PAYLOAD)}".encode(), hashlib.sha256
    ).digest()
    failure = refused(f"{encoded_header}..{encode(mac)}")
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "jws.alg"
    assert "HMAC" in failure.detail


@pytest.mark.parametrize("alg", ["ES512", "RS1", "EdDSA", "es256", ""])
def test_unknown_alg(alg: str) -> None:
    failure = refused(forge(header_for(alg=alg)))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "jws.alg"


def test_missing_alg() -> None:
    header = header_for()
    del header["alg"]
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.alg"


@pytest.mark.parametrize("value", [None, []])
def test_missing_x5c(value: Any) -> None:
    header = header_for()
    if value is None:
        del header["x5c"]
    else:
        header["x5c"] = value
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert failure.checks[-1].name == "jws.x5c"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("MIIB", id="a string, not a list"),
        pytest.param(["not base64!"], id="not base64"),
        pytest.param([base64.b64encode(b"not a certificate").decode()], id="not DER"),
        pytest.param([base64url_certificate()], id="base64url instead of base64"),
        pytest.param([1], id="a number"),
    ],
)
def test_malformed_x5c(value: Any) -> None:
    header = header_for()
    header["x5c"] = value
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.x5c"


def test_malformed_chain_certificate() -> None:
    header = header_for()
    header["x5c"] = [*x5c(cert("p256")), "AAAA"]
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert "x5c[1]" in failure.detail


def test_x5t_s256_mismatch() -> None:
    failure = refused(forge(header_for(**{"x5t#S256": thumbprint(cert("rsa"))})))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.x5c"


def test_attached_payload() -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    encoded_header, _, encoded_signature = compact.split(".")
    failure = refused(f"{encoded_header}.{encode(PAYLOAD)}.{encoded_signature}")
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert [c.name for c in failure.checks] == ["jws.compact"]


@pytest.mark.parametrize("compact", ["", "abc", "a.b", "a..b.c", "a....b"])
def test_not_three_parts(compact: str) -> None:
    failure = refused(compact)
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert [c.name for c in failure.checks] == ["jws.compact"]


@pytest.mark.parametrize(
    "crit",
    [["exp"], ["sigT", "b64"], [], "sigT", [1]],
)
def test_crit_not_understood(crit: Any) -> None:
    failure = refused(forge(header_for(crit=crit, exp=1, b64=True)))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.parameters"


def test_crit_names_an_absent_parameter() -> None:
    header = header_for(crit=["sigT"])
    del header["sigT"]
    failure = refused(forge(header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE


def test_b64_false() -> None:
    failure = refused(forge(header_for(b64=False, crit=["b64"])))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.parameters"
    assert "b64" in failure.detail


@pytest.mark.parametrize("parameter", ["jwk", "jku", "x5u"])
def test_other_key_parameters(parameter: str) -> None:
    failure = refused(forge(header_for(**{parameter: "https://attacker.example/key"})))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.parameters"


def test_alg_does_not_fit_the_key() -> None:
    failure = refused(forge(header_for("p256", alg="ES384"), hash_algorithm=hashes.SHA384()))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "jws.signer_key"


def test_rs256_header_with_an_ec_key() -> None:
    failure = refused(forge(header_for("p256", alg="RS256")))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def test_weak_signer_key() -> None:
    failure = refused(forge(header_for("rsa1024", alg="RS256"), kind="rsa1024"))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "jws.signer_key"


def test_p521_signer_key() -> None:
    failure = refused(forge(header_for("p521", alg="ES256"), kind="p521",
                            hash_algorithm=hashes.SHA256()))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def test_der_signature_instead_of_raw() -> None:
    failure = refused(forge(header_for(), der_signature=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.signature"
    assert "DER" in failure.detail


@pytest.mark.parametrize(
    "sig_t",
    ["2026-06-01", "2026-06-01 12:00:00Z", "2026-06-01T12:00:00", "2026-13-01T12:00:00Z",
     "2026-06-01T12:00:60Z", 1780315200, "yesterday",
     # The calendar's edges: outside datetime once in UTC, or no year a signature is made in.
     "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z",
     "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "+10000-01-01T00:00:00Z",
     "99999999999-01-01T00:00:00Z", "2026-06-01T12:00:00+24:00"],
)
def test_malformed_sigt(sig_t: Any) -> None:
    failure = refused(forge(header_for(sigT=sig_t)))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.sigT"


@pytest.mark.parametrize(
    "raw_header",
    [
        pytest.param(b'{"alg":"ES256","alg":"none"}', id="duplicate key"),
        pytest.param(b'["ES256"]', id="not an object"),
        pytest.param(b'{"alg":"ES256",', id="not JSON"),
        pytest.param(b'{"alg":NaN}', id="NaN"),
        pytest.param(b'{"alg":"ES256\xff"}', id="not UTF-8"),
    ],
)
def test_malformed_header(raw_header: bytes) -> None:
    failure = refused(forge(raw_header))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.header"


@pytest.mark.parametrize("mangle", ["padding", "standard alphabet", "whitespace"])
def test_header_not_strict_base64url(mangle: str) -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    encoded_header, _, encoded_signature = compact.split(".")
    if mangle == "padding":
        encoded_header += "=" * (-len(encoded_header) % 4 or 4)
    elif mangle == "standard alphabet":
        encoded_header = encoded_header.replace("-", "+").replace("_", "/") + "+"
    else:
        encoded_header = " " + encoded_header
    failure = refused(f"{encoded_header}..{encoded_signature}")
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.header"


def test_signature_not_base64url() -> None:
    compact = jws.sign_detached(PAYLOAD, cert("p256"), key("p256"), signing_time=SIGNED_AT)
    failure = refused(compact + "=")
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "jws.signature"


# The base64url helpers.


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    encoded = jws.b64url_encode(data)
    assert "=" not in encoded
    assert jws.b64url_decode(encoded) == data


@pytest.mark.parametrize("text", ["QQ==", "QQ=", "Q", "QR", "a+b/", "YQ\n", "ü", "QR=="])
def test_b64url_decode_is_strict(text: str) -> None:
    # "QR" decodes to b"A" only by ignoring set unused bits; the canonical form is "QQ".
    with pytest.raises(ValueError):
        jws.b64url_decode(text)
