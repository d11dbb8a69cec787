"""signing.seal: Base45 (RFC 9285 vectors), the COSE_Sign1 seal made and read, every refusal,
and the QR code's size for the longest names the registry accepts."""

from __future__ import annotations

import hashlib
import random
import zlib
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

import base45
import cbor2
import pytest
from conftest import PKI
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from signing import seal
from signing.names import MAX_NAME_LENGTH, validate_person_name
from signing.seal import (
    SealError,
    base45_decode,
    base45_encode,
    key_id,
    make_seal,
    qr_text,
    read_seal,
)

# RFC 9285 sections 4.3 and 4.4.
BASE45_VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
]

FIELDS: dict[str, Any] = {
    "certificate_number": "TEST-I № 000123",
    "child_iin": "260530600011",
    "child_surname": "Әбілқасымова",
    "child_given_name": "Айару",
    "child_patronymic": "Ерланқызы",
    "date_of_birth": date(2026, 5, 30),
    "sex": "F",
    "act_record_number": 123,
    "act_record_date": date(2026, 6, 1),
    "registry_office_code": "ESK-01",
    "issued_on": date(2026, 6, 1),
}

# The longest names the registry accepts (signing.names: 64 letters), in Kazakh Cyrillic with
# the letters that take two bytes in UTF-8 and separators: the worst case for the QR code.
LONGEST_NAMES = {
    "child_surname": "Нұрмұхамбетқалиева-Сейітжапарова-Әбдірахманова-Төлеуғалиқызы-Қай",
    "child_given_name": "Гүлмирахан-Ақбөпе-Әйгерім-Нұржамал-Құралайсұлу-Жансаяқызы-Ұлжаны",
    "child_patronymic": "Жанкелдіқызы-Әбдіғаппарқызы-Нұрсұлтанқызы-Серікбайқызы-Төреқызық",
}
#: A long public address, longer than the service's own.
LONG_BASE_URL = "https://birthreg.test.example.kz"


def _seal(pki: PKI, **changes: Any) -> str:
    return make_seal({**FIELDS, **changes}, pki.registry_office.key,  # type: ignore[arg-type]
                     pki.registry_office.certificate)


def _forge(pki: PKI, *, protected: Any = None, payload: Any = None, key: Any = None,
           unprotected: Any = None, signature: bytes | None = None, tag: int = 18) -> str:
    """A COSE_Sign1 built by hand, so that each refusal is provoked by exactly one defect."""
    kid = key_id(pki.registry_office.certificate)
    protected_bytes = cbor2.dumps(
        protected if protected is not None else {1: -7, 4: kid}, canonical=True
    )
    payload_bytes = payload if payload is not None else seal.encode_payload(FIELDS)
    to_sign = cbor2.dumps(["Signature1", protected_bytes, b"", payload_bytes])
    signer = key or pki.registry_office.key
    r, s = decode_dss_signature(signer.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    raw = signature if signature is not None else r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(
        tag, [protected_bytes, unprotected if unprotected is not None else {}, payload_bytes, raw]
    ))
    return base45_encode(cose)


@pytest.mark.parametrize(("data", "text"), BASE45_VECTORS)
def test_base45_rfc_vectors(data: bytes, text: str) -> None:
    assert base45_encode(data) == text
    assert base45_decode(text) == data


def test_base45_encodes_as_the_package_does() -> None:
    # Every length up to a long seal's, random bytes, and each extreme two-byte group.
    rng = random.Random(45)
    samples = [rng.randbytes(length) for length in range(402) for _ in range(3)]
    samples += [b"\x00\x00", b"\xff\xff", b"\x00\xff", b"\xff\x00", b"\xff", b"\x00"]
    for data in samples:
        assert base45_encode(data) == base45.b45encode(data).decode("ascii")
        assert base45_decode(base45_encode(data)) == data


@pytest.mark.parametrize("text", ["GGW", "ZZZ", "A", "ABCD", "aB8", "BB8=", "::", "BB8\n"])
def test_base45_refuses_what_it_would_never_write(text: str) -> None:
    # GGW is 65536 (RFC 9285 section 6), ZZZ more; "::" is 2024 > 255; lowercase is not Base45.
    with pytest.raises(ValueError):
        base45_decode(text)


def test_key_id_is_the_start_of_the_certificates_sha256(pki: PKI) -> None:
    # The kid the browser computes (SHA-256 of the DER, first 8 bytes), for a certificate made
    # here and for one read back from its DER, and for two distinct seals.
    der = pki.registry_office.certificate.public_bytes(serialization.Encoding.DER)
    expected = hashlib.sha256(der).digest()[:8]
    assert key_id(pki.registry_office.certificate) == expected
    assert key_id(x509.load_der_x509_certificate(der)) == expected
    assert key_id(pki.facility.certificate) != expected


def test_seal_round_trip(pki: PKI) -> None:
    text = _seal(pki)
    contents = read_seal(text, [pki.registry_office.certificate])
    assert contents.signer == pki.registry_office.certificate
    assert contents.fields() == {
        "certificate_number": "TEST-I № 000123",
        "child_iin": "260530600011",
        "child_surname": "Әбілқасымова",
        "child_given_name": "Айару",
        "child_patronymic": "Ерланқызы",
        "date_of_birth": "2026-05-30",
        "sex": "F",
        "act_record_number": 123,
        "act_record_date": "2026-06-01",
        "registry_office_code": "ESK-01",
        "issued_on": "2026-06-01",
    }
    # Among several trusted certificates the kid picks the right one.
    others = [pki.facility.certificate, pki.mother.certificate]
    assert read_seal(text, [*others, pki.registry_office.certificate]).signer == (
        pki.registry_office.certificate
    )


def test_a_sealer_seals_many_as_make_seal_does(pki: PKI) -> None:
    """Sealer makes its protected header once: each of its seals has make_seal's structure but
    for the (randomised) signature, carries its own fields, and reads back with the certificate;
    a seal by another key under the same kid is refused."""
    sealer = seal.Sealer(pki.registry_office.key, pki.registry_office.certificate)
    for number, names in ((7, {}), (8, LONGEST_NAMES)):
        fields = {**FIELDS, **names, "act_record_number": number}
        made = sealer.seal(fields)
        contents = read_seal(made, [pki.registry_office.certificate])
        assert contents.act_record_number == number
        assert contents.child_surname == fields["child_surname"]
        ours, theirs = (_cose_parts(text) for text in (made, make_seal(
            fields, pki.registry_office.key, pki.registry_office.certificate)))
        assert ours[:3] == theirs[:3]  # protected header, unprotected map, payload
    forger = seal.Sealer(ec.generate_private_key(ec.SECP256R1()), pki.registry_office.certificate)
    with pytest.raises(SealError) as refused:
        read_seal(forger.seal(FIELDS), [pki.registry_office.certificate])
    assert refused.value.code == "bad_seal_signature"
    with pytest.raises(SealError) as refused:
        seal.Sealer(ec.generate_private_key(ec.SECP384R1()), pki.registry_office.certificate)
    assert refused.value.code == "unsupported_seal_algorithm"


def _cose_parts(text: str) -> list[Any]:
    raw = base45_decode(text)
    cose = raw if raw[0] == 0xD2 else zlib.decompress(raw, -15)
    return list(cbor2.loads(cose).value)


def test_seal_structure(pki: PKI) -> None:
    raw = base45_decode(_seal(pki))
    assert raw[0] == 0xD2  # tag 18, uncompressed at this size
    cose = cbor2.loads(raw)
    protected, unprotected, payload, signature = cose.value
    assert cbor2.loads(protected) == {1: -7, 4: key_id(pki.registry_office.certificate)}
    assert unprotected == {}
    assert len(signature) == 64
    decoded = cbor2.loads(payload)
    assert sorted(decoded) == list(range(1, 12))
    assert decoded[3] == "Әбілқасымова".encode("kz1048")
    assert decoded[6] == (date(2026, 5, 30) - date(1970, 1, 1)).days


def test_no_patronymic(pki: PKI) -> None:
    text = _seal(pki, child_patronymic=None)
    assert 5 not in cbor2.loads(cbor2.loads(base45_decode(text)).value[2])
    assert read_seal(text, [pki.registry_office.certificate]).child_patronymic is None


def test_qr_text_is_a_url_with_the_seal_in_the_fragment(pki: PKI) -> None:
    text = _seal(pki)
    url = qr_text("http://127.0.0.1:8000/", text)
    prefix, fragment = url.split("#", 1)
    assert prefix == "http://127.0.0.1:8000/verify"
    assert " " not in url
    assert unquote(fragment) == text
    # Every character of the fragment is in the QR code's alphanumeric set.
    assert set(fragment) <= set(base45.BASE45_CHARSET) - {" "}
    assert read_seal(url, [pki.registry_office.certificate]).child_iin == "260530600011"


def test_tampered_payload_is_refused(pki: PKI) -> None:
    cose = cbor2.loads(base45_decode(_seal(pki)))
    payload = cbor2.loads(cose.value[2])
    payload[2] = 260530600022
    parts = list(cose.value)  # cbor2 6 decodes arrays as tuples
    parts[2] = cbor2.dumps(payload, canonical=True)
    tampered = cbor2.dumps(cbor2.CBORTag(18, parts))
    with pytest.raises(SealError) as caught:
        read_seal(base45_encode(tampered), [pki.registry_office.certificate])
    assert caught.value.code == "bad_seal_signature"


def test_tampered_signature_is_refused(pki: PKI) -> None:
    raw = bytearray(base45_decode(_seal(pki)))
    raw[-1] ^= 0x01
    with pytest.raises(SealError) as caught:
        read_seal(base45_encode(bytes(raw)), [pki.registry_office.certificate])
    assert caught.value.code == "bad_seal_signature"


def test_signature_by_another_key_with_the_right_kid_is_refused(pki: PKI) -> None:
    forged = _forge(pki, key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SealError) as caught:
        read_seal(forged, [pki.registry_office.certificate])
    assert caught.value.code == "bad_seal_signature"


def test_unknown_kid_is_refused(pki: PKI) -> None:
    forged = _forge(pki, protected={1: -7, 4: b"\x00" * 8})
    with pytest.raises(SealError) as caught:
        read_seal(forged, [pki.registry_office.certificate])
    assert caught.value.code == "unknown_key"
    # A real seal, checked against certificates that do not include its signer.
    with pytest.raises(SealError) as caught:
        read_seal(_seal(pki), [pki.facility.certificate])
    assert caught.value.code == "unknown_key"


@pytest.mark.parametrize("alg", [-35, -8, 0, "ES256"])
def test_other_algorithms_are_refused(pki: PKI, alg: Any) -> None:
    forged = _forge(pki, protected={1: alg, 4: key_id(pki.registry_office.certificate)})
    with pytest.raises(SealError) as caught:
        read_seal(forged, [pki.registry_office.certificate])
    assert caught.value.code == "unsupported_seal_algorithm"


@pytest.mark.parametrize(
    "defect",
    ["extra_header", "unprotected", "tag", "extra_field", "missing_field", "wrong_type",
     "not_canonical", "trailing", "short_signature", "not_base45", "bad_zlib"],
)
def test_malformed_seals_are_refused(pki: PKI, defect: str) -> None:
    kid = key_id(pki.registry_office.certificate)
    payload = cbor2.loads(seal.encode_payload(FIELDS))
    if defect == "extra_header":
        text = _forge(pki, protected={1: -7, 4: kid, 3: 0})
    elif defect == "unprotected":
        text = _forge(pki, unprotected={4: kid})
    elif defect == "tag":
        text = _forge(pki, tag=98)
    elif defect == "extra_field":
        text = _forge(pki, payload=cbor2.dumps({**payload, 99: "x"}, canonical=True))
    elif defect == "missing_field":
        del payload[2]
        text = _forge(pki, payload=cbor2.dumps(payload, canonical=True))
    elif defect == "wrong_type":
        text = _forge(pki, payload=cbor2.dumps({**payload, 8: "123"}, canonical=True))
    elif defect == "not_canonical":
        # The same map with its keys in the wrong order: signed, but not deterministic CBOR.
        text = _forge(pki, payload=cbor2.dumps(dict(reversed(payload.items()))))
    elif defect == "trailing":
        text = base45_encode(base45_decode(_seal(pki)) + b"\x00")
    elif defect == "short_signature":
        text = _forge(pki, signature=b"\x01" * 63)
    elif defect == "not_base45":
        text = "not a seal"
    else:
        text = base45_encode(b"\x05\xff" + b"\x00" * 20)
    with pytest.raises(SealError) as caught:
        read_seal(text, [pki.registry_office.certificate])
    expected = "bad_seal_signature" if defect == "short_signature" else "malformed_seal"
    assert caught.value.code == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (8, True),  # act_record_number: a boolean is no integer
        (8, -1),
        (6, True),  # date_of_birth
        (6, -1),  # before 1970
        (6, 10**9),  # beyond the calendar
        (6, 1.5),
        (2, 10**12),  # child_iin of 13 digits
        (2, -5),
        (2, "260530600011"),  # the IIN travels as an integer
        (3, "Айару"),  # a name travels as KZ-1048 bytes
        (3, b""),
        (3, b"a" * 129),
        (7, "X"),  # sex
        (7, b"F"),
        (10, "ESK 01"),  # registry_office_code
    ],
)
def test_signed_fields_of_the_wrong_type_or_form_are_refused(
    pki: PKI, key: int, value: Any
) -> None:
    payload = cbor2.loads(seal.encode_payload(FIELDS))
    text = _forge(pki, payload=cbor2.dumps({**payload, key: value}, canonical=True))
    with pytest.raises(SealError) as caught:
        read_seal(text, [pki.registry_office.certificate])
    assert caught.value.code == "malformed_seal"


def test_make_seal_refuses_unknown_or_missing_fields(pki: PKI) -> None:
    with pytest.raises(SealError):
        _seal(pki, mother_iin="940315400014")
    with pytest.raises(SealError):
        make_seal({k: v for k, v in FIELDS.items() if k != "child_iin"},
                  pki.registry_office.key, pki.registry_office.certificate)  # type: ignore[arg-type]
    with pytest.raises(SealError):
        _seal(pki, child_surname="Smith 山田")  # not in KZ-1048


def test_longest_names_make_a_short_compressed_seal(pki: PKI) -> None:
    for name, value in LONGEST_NAMES.items():
        assert len(validate_person_name(value, field=name)) == MAX_NAME_LENGTH
    fields = {**LONGEST_NAMES, "certificate_number": "TEST-I № 999999",
              "act_record_number": 999999}
    uncompressed = len(cbor2.dumps(cbor2.CBORTag(18, [
        cbor2.dumps({1: -7, 4: key_id(pki.registry_office.certificate)}, canonical=True), {},
        seal.encode_payload({**FIELDS, **fields}), bytes(64)])))
    # ECDSA signatures differ each time, and with them the DEFLATE stream: try several. The
    # QR code's size follows from this length (tests/registry/test_certificate.py: version 16
    # at most, for a certificate printed with these names).
    for _ in range(10):
        text = _seal(pki, **fields)
        data = base45_decode(text)
        assert data[0] != 0xD2  # compressed: it is shorter
        assert len(data) <= min(340, uncompressed - 6)
        url = qr_text(LONG_BASE_URL, text)
        assert unquote(url.partition("#")[2]) == text
        assert read_seal(text, [pki.registry_office.certificate]).child_surname == (
            LONGEST_NAMES["child_surname"]
        )


def test_compressed_seal_is_bounded(pki: PKI) -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = base45_encode(deflater.compress(b"\x00" * 100_000) + deflater.flush())
    with pytest.raises(SealError) as caught:
        read_seal(bomb, [pki.registry_office.certificate])
    assert caught.value.code == "malformed_seal"


# -- the faster ways are the general ones' bytes ---------------------------------------------------


def test_qr_text_quotes_as_urllib_does() -> None:
    rng = random.Random(9285)
    alphabet = base45.BASE45_CHARSET
    texts = ["", " ", "%", "% %", alphabet, "a b#c", "Ә %", "ab/c?d"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 400))) for _ in range(300)]
    for text in texts:
        assert qr_text("http://x/", text) == f"http://x/verify#{quote(text, safe='$*+-./:')}"


def _deflate(data: bytes, wbits: int) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return deflater.compress(data) + deflater.flush()


def test_a_seal_is_deflated_as_with_a_32_kb_window(pki: PKI) -> None:
    """make_seal's 8 KB window: the stream a 32 KB window gives, for anything up to
    MAX_SEAL_BYTES (random, repetitive and mixed inputs), and for long-named seals."""
    rng = random.Random(1951)
    words = [rng.randbytes(rng.randint(1, 40)) for _ in range(30)]
    for length in [*range(0, 600), *range(600, seal.MAX_SEAL_BYTES + 1, 7)]:
        samples = (rng.randbytes(length), bytes(length), (words[length % 30] * length)[:length],
                   b"".join(rng.choices(words, k=length))[:length])
        for data in samples:
            assert _deflate(data, -13) == _deflate(data, -15), length
    compressed = 0
    for _ in range(20):
        raw = base45_decode(_seal(pki, **LONGEST_NAMES))
        if raw[0] != 0xD2:
            compressed += 1
            assert _deflate(zlib.decompress(raw, -15), -15) == raw
    assert compressed

