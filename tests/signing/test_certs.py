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
from hypothesis import HealthCheck, assume, given, settings
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


def read_subject(certificate: x509.Certificate) -> list[list[tuple[str, str | bytes]]]:
    record = _certs._loaded(certificate)
    assert record is not None
    return [list(rdn) for rdn in record.subject]


def outcome(read: Any, encoding: bytes) -> tuple[Any, ...]:
    try:
        return "ok", read(encoding)
    except Exception as error:
        return "refused", type(error), str(error)


def assert_same_reading(encoding: bytes) -> None:
    """load_certificate refuses exactly what cryptography refuses (with an error of the same
    kind), and otherwise gives what cryptography gives."""
    expected = outcome(cryptography_reads, encoding)
    _certs.load_certificate.cache_clear()  # type: ignore[attr-defined]
    got = outcome(_certs.load_certificate, encoding)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "refused":
        # The same error, in cryptography's words.
        assert got[1] is expected[1]
        assert got[2] == expected[2]
        return
    certificate, reference = got[1], expected[1]
    assert _certs.sha256_fingerprint(certificate) == reference.fingerprint(hashes.SHA256())
    assert _certs.subject_text(certificate) == reference.subject.rfc4514_string()
    assert read_subject(certificate) == [
        [(a.oid.dotted_string, a.value) for a in rdn] for rdn in reference.subject.rdns
    ]
    assert _certs.issuer_public_bytes(certificate) == reference.issuer.public_bytes()
    assert list(_certs.extensions_by_oid(certificate).values()) == list(reference.extensions)


def test_certificates_of_the_pki_read_alike(pki: PKI) -> None:
    for party in (pki.mother, pki.father, pki.facility, pki.rsa_signer, pki.ca_as_signer):
        assert_same_reading(der(party.certificate))
    for certificate in pki.ca.chain:
        assert_same_reading(der(certificate))


def test_certificates_made_elsewhere_are_read_by_cryptography_alike(pki: PKI) -> None:
    """A certificate object that load_certificate did not make (a configured root, one a
    caller built) has no record: cryptography reads it, with the same answers."""
    made = pki.mother.certificate
    loaded = _certs.load_certificate(der(made))
    assert _certs._loaded(made) is None
    assert _certs._loaded(loaded) is not None
    for certificate in (made, loaded):
        assert _certs.sha256_fingerprint(certificate) == made.fingerprint(hashes.SHA256())
        assert _certs.subject_text(certificate) == made.subject.rfc4514_string()
        assert _certs.subject_values(certificate, NameOID.SERIAL_NUMBER.dotted_string) == [
            f"IIN{pki.mother.iin}"
        ]
        assert _certs.issuer_public_bytes(certificate) == made.issuer.public_bytes()
        assert list(_certs.extensions_by_oid(certificate).values()) == list(made.extensions)


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
        with pytest.raises(ValueError) as theirs:
            len(x509.load_der_x509_certificate(broken).extensions)
        with pytest.raises(ValueError) as ours:
            _certs.load_certificate(broken)
        assert str(ours.value) == str(theirs.value)  # in cryptography's words


def with_key_identifier(pki: PKI, extension: x509.ExtensionType, *, critical: bool) -> bytes:
    """The mother's certificate with another subjectKeyIdentifier (the rest as issued)."""
    issued = pki.mother.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(issued.subject)
        .issuer_name(issued.issuer)
        .public_key(pki.mother.key.public_key())
        .serial_number(issued.serial_number + 1)
        .not_valid_before(issued.not_valid_before_utc)
        .not_valid_after(issued.not_valid_after_utc)
    )
    for present in issued.extensions:
        if present.oid == x509.SubjectKeyIdentifier.oid:
            builder = builder.add_extension(extension, critical=critical)
        else:
            builder = builder.add_extension(present.value, critical=present.critical)
    return der(builder.sign(pki.mother.key, hashes.SHA256()))


@pytest.mark.parametrize(
    ("extension", "critical"),
    [
        pytest.param(x509.SubjectKeyIdentifier(b"\x01" * 20), True, id="critical"),
        pytest.param(x509.SubjectKeyIdentifier(b"\x02" * 200), False, id="long identifier"),
        pytest.param(x509.SubjectKeyIdentifier(b""), False, id="empty identifier"),
        pytest.param(
            x509.UnrecognizedExtension(
                x509.SubjectKeyIdentifier.oid, b"\x04\x81\x14" + b"\x03" * 20
            ),
            False,
            id="non-minimal length",
        ),
        pytest.param(
            x509.UnrecognizedExtension(x509.SubjectKeyIdentifier.oid, b"\x04\x02\x01"),
            False,
            id="truncated",
        ),
        pytest.param(
            x509.UnrecognizedExtension(x509.SubjectKeyIdentifier.oid, b"\x04\x01\x01\x00"),
            False,
            id="trailing octet",
        ),
    ],
)
def test_key_identifiers_read_as_cryptography_reads_them(
    pki: PKI, extension: x509.ExtensionType, critical: bool
) -> None:
    _certs.load_certificate(der(pki.father.certificate))  # the shared extensions are known
    assert_same_reading(with_key_identifier(pki, extension, critical=critical))


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
_ASN1Type = x509.name._ASN1Type  # type: ignore[attr-defined]
_ATTRIBUTES = st.builds(
    x509.NameAttribute,
    _OIDS,
    _TEXT,
    st.sampled_from([_ASN1Type.UTF8String, _ASN1Type.BMPString, _ASN1Type.UniversalString, None]),
) | st.builds(
    lambda value: x509.NameAttribute(
        NameOID.X500_UNIQUE_IDENTIFIER,
        value,
        _ASN1Type.BitString,
    ),
    st.binary(max_size=6),
)
_RDNS = st.lists(_ATTRIBUTES, min_size=1, max_size=3, unique_by=lambda a: (a.oid, a.value)).map(
    x509.RelativeDistinguishedName
)
_NAMES = st.lists(_RDNS, max_size=6).map(x509.Name)


def read_name(encoding: bytes) -> tuple[str, list[list[tuple[str, str | bytes]]]]:
    rdns = _certs._rdns(encoding, 0)
    return ",".join(text for _, text in reversed(rdns)), [list(rdn) for rdn, _ in rdns]


def cryptography_name(encoding: bytes) -> tuple[str, list[list[tuple[str, str | bytes]]]]:
    name = x509.Name.from_bytes(encoding)
    return name.rfc4514_string(), [
        [(a.oid.dotted_string, a.value) for a in rdn] for rdn in name.rdns
    ]


@settings(max_examples=500, deadline=None)
@given(_NAMES)
def test_names_read_and_print_as_cryptography_reads_and_prints_them(name: x509.Name) -> None:
    encoding = name.public_bytes()
    expected = outcome(cryptography_name, encoding)
    # What cryptography refuses to parse at all (a PrintableString with "&") is refused when
    # the certificate is loaded, before any Name is read.
    assume(expected[0] == "ok")
    assert read_name(encoding) == expected[1]


@pytest.mark.parametrize(
    "value",
    ["#hash", " lead", "trail ", " ", "#", 'a+b,c;d<e>f"g\\h', "nul\0", "Әбілқасымова Гүлнұр"],
)
def test_rfc4514_escapes(value: str) -> None:
    encoding = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)]).public_bytes()
    assert read_name(encoding) == cryptography_name(encoding)


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _certs_length(len(value)) + value


def _certs_length(length: int) -> bytes:
    return bytes([length]) if length < 0x80 else bytes([0x81, length])


def _name_of(*rdns: list[tuple[bytes, bytes]]) -> bytes:
    return _tlv(
        0x30,
        b"".join(
            _tlv(0x31, b"".join(_tlv(0x30, _tlv(0x06, oid) + value) for oid, value in rdn))
            for rdn in rdns
        ),
    )


_CN = bytes.fromhex("550403")
_UID = bytes.fromhex("55042d")
_C = bytes.fromhex("550406")


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param(_name_of([(_CN, _tlv(0x01, b"\xff"))]), id="BOOLEAN value"),
        pytest.param(_name_of([(_CN, _tlv(0x0C, b"\xff\xfe"))]), id="UTF8String not UTF-8"),
        pytest.param(_name_of([(_CN, _tlv(0x14, b"caf\xe9"))]), id="T61String in Latin-1"),
        pytest.param(_name_of([(_CN, _tlv(0x03, b"\x00\x01"))]), id="BIT STRING common name"),
        pytest.param(_name_of([(_UID, _tlv(0x03, b"\x00\x01"))]), id="BIT STRING unique id"),
        pytest.param(_name_of([(_CN, _tlv(0x04, b"abc"))]), id="OCTET STRING"),
        pytest.param(_name_of([(_CN, _tlv(0x17, b"abc"))]), id="UTCTime"),
        pytest.param(_name_of([(_CN, b"\x1f\x81\x00\x01a")]), id="long-form tag"),
        pytest.param(_name_of([(_CN, _tlv(0x30, b""))]), id="constructed value"),
        pytest.param(_name_of([(_CN, _tlv(0x80, b"a"))]), id="context-specific value"),
        pytest.param(_tlv(0x30, _tlv(0x31, b"")), id="empty RDN"),
        pytest.param(_name_of([(_CN, _tlv(0x0C, b"a")), (_CN, _tlv(0x0C, b"a"))]), id="duplicate"),
        pytest.param(
            _name_of([(_CN, _tlv(0x0C, b"a")), (_CN, _tlv(0x13, b"a"))]),
            id="duplicate value in another type",
        ),
        pytest.param(
            _name_of([(_CN, _tlv(0x1E, "Әбілқасымова".encode("utf-16-be")))]), id="BMPString"
        ),
        pytest.param(
            _name_of([(_CN, _tlv(0x1C, "Гүлнұр".encode("utf-32-be")))]), id="UniversalString"
        ),
        pytest.param(
            _name_of([(_CN, _tlv(0x0C, b"a")), (_C, _tlv(0x13, b"KZ"))]),
            id="multi-valued RDN",
        ),
    ],
)
def test_names_are_refused_as_cryptography_refuses_them(encoding: bytes) -> None:
    expected = outcome(cryptography_name, encoding)
    got = outcome(read_name, encoding)
    assert got[0] == expected[0]
    if got[0] == "refused":
        # Of the same kind; the words are cryptography's own when a certificate is loaded
        # (see test_a_certificate_with_an_unusual_subject_is_read_by_cryptography).
        assert issubclass(got[1], ValueError) == issubclass(expected[1], ValueError)
        assert issubclass(got[1], TypeError) == issubclass(expected[1], TypeError)
    else:
        assert got == expected


def signed_with_subject(pki: PKI, *attributes: x509.NameAttribute[str]) -> bytes:
    key = pki.mother.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(list(attributes)))
        .issuer_name(pki.issuing.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(pki.moment)
        .not_valid_after(pki.moment)
    )
    return der(builder.sign(key, hashes.SHA256()))


def test_a_certificate_with_an_unusual_subject_is_read_by_cryptography(pki: PKI) -> None:
    """A length cryptography warns of: its warning, word for word, and its reading."""
    with pytest.warns(UserWarning):
        unusual = x509.NameAttribute(NameOID.COUNTRY_NAME, "KAZ", _validate=False)
    encoding = signed_with_subject(pki, unusual)
    with pytest.warns(UserWarning) as theirs:
        cryptography_reads(encoding)
    _certs.load_certificate.cache_clear()  # type: ignore[attr-defined]
    with pytest.warns(UserWarning) as ours:
        certificate = _certs.load_certificate(encoding)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert _certs.subject_text(certificate) == "C=KAZ"


def test_a_certificate_with_a_malformed_subject_is_refused_in_cryptographys_words(
    pki: PKI,
) -> None:
    encoding = bytearray(
        signed_with_subject(pki, x509.NameAttribute(NameOID.COMMON_NAME, "Әбілқасымова"))
    )
    encoded = "Әбілқасымова".encode()
    at = bytes(encoding).index(encoded)
    encoding[at] = 0xFF  # no longer UTF-8
    expected = outcome(cryptography_reads, bytes(encoding))
    with pytest.raises(ValueError) as refused:
        x509.load_der_x509_certificate(bytes(encoding)).subject  # noqa: B018
    _certs.load_certificate.cache_clear()  # type: ignore[attr-defined]
    with pytest.raises(ValueError) as ours:
        _certs.load_certificate(bytes(encoding))
    assert expected[0] == "refused"
    assert str(ours.value) == str(refused.value)
