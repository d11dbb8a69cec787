"""signing._certs: loading a certificate reads what cryptography's `subject`, `issuer` and
`extensions` read, refuses what they refuse, and gives the same answers (fingerprint, RFC 4514
subject text, extensions), while reusing what certificates of one CA share.

The reference is cryptography itself: every property below compares with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PKI
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import _certs


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def cryptography_reads(encoding: bytes) -> x509.Certificate:
    """What load_certificate did before it reused anything: cryptography parses it all."""
    certificate = x509.load_der_x509_certificate(encoding)
    _ = certificate.subject, certificate.issuer
    len(certificate.extensions)
    return certificate


def outcome(read: Any, encoding: bytes) -> tuple[str, Any]:
    try:
        return "ok", read(encoding)
    except Exception as error:
        return "refused", type(error)


def assert_same_reading(encoding: bytes) -> None:
    """load_certificate refuses exactly what cryptography refuses (with an error of the same
    kind), and otherwise gives what cryptography gives."""
    expected = outcome(cryptography_reads, encoding)
    _certs.load_certificate.cache_clear()  # type: ignore[attr-defined]
    got = outcome(_certs.load_certificate, encoding)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "refused":
        assert issubclass(got[1], ValueError) == issubclass(expected[1], ValueError)
        return
    certificate, reference = got[1], expected[1]
    assert _certs.sha256_fingerprint(certificate) == reference.fingerprint(hashes.SHA256())
    assert _certs.subject_text(certificate) == reference.subject.rfc4514_string()
    assert _certs.subject(certificate) == reference.subject
    assert x509.Name.from_bytes(_certs.issuer_encoding(certificate)) == reference.issuer
    assert list(_certs.extensions_by_oid(certificate).values()) == list(reference.extensions)


def test_certificates_of_the_pki_read_alike(pki: PKI) -> None:
    for party in (pki.mother, pki.father, pki.facility, pki.rsa_signer, pki.ca_as_signer):
        assert_same_reading(der(party.certificate))
    for certificate in pki.ca.chain:
        assert_same_reading(der(certificate))


def test_shared_extensions_are_reused_with_each_own_key_identifier(pki: PKI) -> None:
    _certs.forget()
    mother = _certs.load_certificate(der(pki.mother.certificate))
    father = _certs.load_certificate(der(pki.father.certificate))
    ski = x509.SubjectKeyIdentifier
    assert _certs.extensions_by_oid(mother)[ski.oid] != _certs.extensions_by_oid(father)[ski.oid]
    assert list(_certs.extensions_by_oid(father).values()) == list(
        pki.father.certificate.extensions
    )
    # The other extensions are the very objects parsed for the mother's certificate.
    assert (
        _certs.extensions_by_oid(mother)[x509.KeyUsage.oid]
        is _certs.extensions_by_oid(father)[x509.KeyUsage.oid]
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_changed_byte_is_refused_as_cryptography_refuses_it(pki: PKI, data: Any) -> None:
    """One byte of a certificate changed (anywhere in its to-be-signed part, where names and
    extensions are), with a sibling certificate already loaded, so that its shared extensions
    are known: refused exactly when cryptography refuses it."""
    _certs.load_certificate(der(pki.father.certificate))
    encoding = bytearray(der(pki.mother.certificate))
    position = data.draw(st.integers(4, len(encoding) - 80))
    encoding[position] = data.draw(st.integers(0, 255))
    assert_same_reading(bytes(encoding))


def test_a_malformed_key_identifier_is_refused_when_the_rest_is_known(pki: PKI) -> None:
    _certs.load_certificate(der(pki.father.certificate))
    encoding = der(pki.mother.certificate)
    ski = x509.SubjectKeyIdentifier.from_public_key(
        pki.mother.certificate.public_key()  # type: ignore[arg-type]
    ).digest
    inner = b"\x04\x14" + ski
    assert encoding.count(inner) == 1
    for replacement in (b"\x05\x14" + ski, b"\x24\x14" + ski, b"\x04\x13" + ski[:-1] + b"\x00"):
        broken = encoding.replace(inner, replacement)
        assert_same_reading(broken)
        with pytest.raises(ValueError):
            _certs.load_certificate(broken)


# -- RFC 4514 text -------------------------------------------------------------------------------

_TEXT = st.text(
    st.one_of(
        st.sampled_from([*' #"+,;<>\\=\0\t\n', "Ә", "ұ", "Қ", "ғ", "ө", "ү", "і", "ң", "һ"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    min_size=1,
    max_size=12,
)
_OIDS = st.sampled_from(
    [
        NameOID.COMMON_NAME,
        NameOID.SURNAME,
        NameOID.GIVEN_NAME,
        NameOID.SERIAL_NUMBER,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.STREET_ADDRESS,
        NameOID.DOMAIN_COMPONENT,
        NameOID.USER_ID,
        NameOID.EMAIL_ADDRESS,
        x509.ObjectIdentifier("1.2.398.3.3.4.1.1"),
        x509.ObjectIdentifier("2.999.1"),
    ]
)
_ATTRIBUTES = st.builds(x509.NameAttribute, _OIDS, _TEXT) | st.builds(
    lambda value: x509.NameAttribute(
        NameOID.X500_UNIQUE_IDENTIFIER,
        value,
        x509.name._ASN1Type.BitString,  # type: ignore[attr-defined]
    ),
    st.binary(max_size=6),
)
_RDNS = st.lists(_ATTRIBUTES, min_size=1, max_size=3, unique_by=lambda a: (a.oid, a.value)).map(
    x509.RelativeDistinguishedName
)
_NAMES = st.lists(_RDNS, max_size=6).map(x509.Name)


@settings(max_examples=500, deadline=None)
@given(_NAMES)
def test_rfc4514_text_is_cryptographys(name: x509.Name) -> None:
    assert _certs.rfc4514_string(name) == name.rfc4514_string()


@pytest.mark.parametrize(
    "value",
    ["#hash", " lead", "trail ", " ", "#", 'a+b,c;d<e>f"g\\h', "nul\0", "Әбілқасымова Гүлнұр"],
)
def test_rfc4514_escapes(value: str) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])
    assert _certs.rfc4514_string(name) == name.rfc4514_string()
