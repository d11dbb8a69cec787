"""Key and algorithm policy, shared by issuance and verification, in one place.

DESIGN.md allows ECDSA P-256/P-384 and RSA ≥ 2048 with PKCS#1 v1.5 or PSS, and SHA-256 or
stronger. Anything missing from these tables is refused, so adding an algorithm is a deliberate
edit here, never an accident of a library default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing.errors import WeakKey

#: Curves we issue for and accept signatures from.
ALLOWED_CURVES: tuple[type[ec.EllipticCurve], ...] = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048


def check_key_strength(public_key: PublicKeyTypes) -> None:
    """Raise `WeakKey` unless the key is ECDSA P-256/P-384 or RSA of at least 2048 bits: the
    national profile and our verifiers know no other (Ed25519, DSA)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ALLOWED_CURVES):
            raise WeakKey(f"curve {public_key.curve.name} is not allowed (P-256 or P-384 only)")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise WeakKey(f"RSA key of {public_key.key_size} bits; at least {MIN_RSA_BITS} needed")
    else:
        raise WeakKey(f"{type(public_key).__name__} keys are not allowed (ECDSA or RSA only)")


def describe_key(public_key: PublicKeyTypes) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    return type(public_key).__name__


HashName = Literal["SHA-256", "SHA-384", "SHA-512"]
SignatureScheme = Literal["ecdsa", "pkcs1v15", "pss"]

#: Digest algorithm OIDs (RFC 5754) that a CMS signer may use.
DIGEST_OIDS: dict[str, HashName] = {
    "2.16.840.1.101.3.4.2.1": "SHA-256",
    "2.16.840.1.101.3.4.2.2": "SHA-384",
    "2.16.840.1.101.3.4.2.3": "SHA-512",
}

#: Well-known digests that are refused, named so that the refusal says what it saw.
WEAK_DIGEST_OIDS: dict[str, str] = {
    "1.3.14.3.2.26": "SHA-1",
    "1.2.840.113549.2.5": "MD5",
    "1.2.840.113549.2.2": "MD2",
    "2.16.840.1.101.3.4.2.4": "SHA-224",
}

#: MGF1 (RFC 8017), the only mask generation function RSASSA-PSS parameters may name.
MGF1_OID = "1.2.840.113549.1.1.8"


_HASHES: dict[HashName, type[hashes.HashAlgorithm]] = {
    "SHA-256": hashes.SHA256, "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512,
}


def hash_for(name: HashName) -> hashes.HashAlgorithm:
    """A fresh cryptography hash object for one of the allowed digest names."""
    return _HASHES[name]()


def verify_data(
    public_key: PublicKeyTypes, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm,
    rsa_padding: padding.AsymmetricPadding | None = None,
) -> None:
    """Raise InvalidSignature unless signature (ECDSA in DER; RSA in PKCS#1 v1.5 unless
    rsa_padding) is public_key's over data; any key but ECDSA and RSA raises it too."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, rsa_padding or padding.PKCS1v15(), algorithm)
    else:
        raise InvalidSignature(f"a {describe_key(public_key)} key makes no signature we accept")


def raw_ecdsa_signature(der: bytes, curve: ec.EllipticCurve) -> bytes:
    """A DER ECDSA signature as r‖s, each as long as the curve's order (IEEE P1363: what JOSE,
    COSE and WebCrypto write)."""
    size = (curve.key_size + 7) // 8
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def der_ecdsa_signature(raw: bytes, curve: ec.EllipticCurve) -> bytes:
    """The DER form of an r‖s signature; ValueError unless it has the curve's length."""
    size = (curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        raise ValueError(f"an r‖s signature of {2 * size} bytes, not {len(raw)}")
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    return utils.encode_dss_signature(r, s)


@dataclass(frozen=True)
class JWSAlgorithm:
    """One JWS `alg` (RFC 7518 section 3) that we accept."""

    name: str
    scheme: SignatureScheme
    hash_name: HashName
    #: For ECDSA: the only curve this alg may be used with (RFC 7518 section 3.4).
    curve: type[ec.EllipticCurve] | None = None

    def fits(self, public_key: PublicKeyTypes) -> bool:
        """Whether this alg may go with public_key: ES256 ↔ P-256, ES384 ↔ P-384, RS/PS ↔ RSA."""
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            return self.curve is not None and isinstance(public_key.curve, self.curve)
        return self.scheme != "ecdsa" and isinstance(public_key, rsa.RSAPublicKey)

    def padding(self) -> padding.AsymmetricPadding:
        """The RSA padding of this alg; PSS salt is the hash length (RFC 7518 section 3.5)."""
        if self.scheme == "pss":
            digest = hash_for(self.hash_name)
            return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return padding.PKCS1v15()


JWS_ALGORITHMS: dict[str, JWSAlgorithm] = {
    "ES256": JWSAlgorithm("ES256", "ecdsa", "SHA-256", ec.SECP256R1),
    "ES384": JWSAlgorithm("ES384", "ecdsa", "SHA-384", ec.SECP384R1),
    "RS256": JWSAlgorithm("RS256", "pkcs1v15", "SHA-256"),
    "PS256": JWSAlgorithm("PS256", "pss", "SHA-256"),
}


@dataclass(frozen=True)
class CMSSignatureAlgorithm:
    """One CMS signatureAlgorithm OID that we accept; `hash_name` None when the digest comes from
    the SignerInfo's digestAlgorithm (id-ecPublicKey, rsaEncryption) or from PSS parameters."""

    scheme: SignatureScheme
    hash_name: HashName | None = None

    def name(self, hash_name: HashName) -> str:
        """The readable name of this algorithm with hash_name, e.g. "ecdsa-with-SHA256",
        "sha384WithRSAEncryption" or "rsassa-pss/SHA-256"."""
        plain = hash_name.replace("-", "")
        if self.scheme == "ecdsa":
            return f"ecdsa-with-{plain}"
        if self.scheme == "pss":
            return f"rsassa-pss/{hash_name}"
        return f"{plain.lower()}WithRSAEncryption"


CMS_SIGNATURE_OIDS: dict[str, CMSSignatureAlgorithm] = {
    "1.2.840.10045.4.3.2": CMSSignatureAlgorithm("ecdsa", "SHA-256"),
    "1.2.840.10045.4.3.3": CMSSignatureAlgorithm("ecdsa", "SHA-384"),
    "1.2.840.10045.4.3.4": CMSSignatureAlgorithm("ecdsa", "SHA-512"),
    # id-ecPublicKey used as a signature algorithm (seen from some older signers).
    "1.2.840.10045.2.1": CMSSignatureAlgorithm("ecdsa"),
    "1.2.840.113549.1.1.1": CMSSignatureAlgorithm("pkcs1v15"),
    "1.2.840.113549.1.1.11": CMSSignatureAlgorithm("pkcs1v15", "SHA-256"),
    "1.2.840.113549.1.1.12": CMSSignatureAlgorithm("pkcs1v15", "SHA-384"),
    "1.2.840.113549.1.1.13": CMSSignatureAlgorithm("pkcs1v15", "SHA-512"),
    "1.2.840.113549.1.1.10": CMSSignatureAlgorithm("pss"),
}
