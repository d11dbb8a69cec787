"""signing._der, the strict DER reader under CMS verification, and the CMS refusals it drives.

The malformed signatures are made from real ones by re-encoding one TLV the wrong way (BER
lengths, chunked strings, another tag) and fixing up the lengths around it, so that each case has
exactly one defect. The check each one fails is the one the asn1crypto-based verifier failed it
with, except where noted (the reader is stricter in a few places, named in the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cms import CONTENT, SIGNED_AT, build, cert, key

from signing import _der
from signing import cms as signing_cms
from signing.errors import SignatureFailure, SigningError
from signing.report import SubIndication

# -- the reader --------------------------------------------------------------------------------


def test_parse_gives_every_position() -> None:
    # SEQUENCE { INTEGER 5, [0] { NULL }, OCTET STRING "ab" }
    encoding = bytes.fromhex("300b 020105 a0020500 04026162".replace(" ", ""))
    root = _der.parse(encoding)
    assert root == (
        0x30,
        0,
        2,
        13,
        [
            (0x02, 2, 4, 5, None, encoding),
            (0xA0, 5, 7, 9, [(0x05, 7, 9, 9, None, encoding)], encoding),
            (0x04, 9, 11, 13, None, encoding),
        ],
        encoding,
    )
    integer, tagged, octets = _der.inside(root, "test")
    assert _der.integer(integer, "n") == 5
    assert _der.encoding(tagged) == bytes.fromhex("a0020500")
    assert _der.octet_string(octets, "s") == b"ab"


def test_long_form_length_and_high_tag_number() -> None:
    encoding = b"\x30\x81\x87" + b"\x04\x81\x80" + b"\x00" * 128 + b"\x9f\x81\x00\x00"
    root = _der.parse(encoding)
    first, second = _der.inside(root, "test")
    assert first[2:4] == (6, 134)
    assert second == (0x9F, 134, 138, 138, None, encoding)


def test_opaque_values_are_read_but_not_walked() -> None:
    # [0] at depth 1 holds an indefinite-length SEQUENCE at depth 2: inside the opaque value,
    # so only its own header is read (and that one is a definite, minimal length).
    inner = b"\x30\x04\x30\x80\x00\x00"
    encoding = b"\x30\x08\xa0\x06" + inner
    with pytest.raises(_der.DERError, match="indefinite"):
        _der.parse(encoding)
    root = _der.parse(encoding, opaque=(1, 0xA0))
    [tagged] = _der.inside(root, "test")
    assert _der.inside(tagged, "test") == [(0x30, 4, 6, 10, None, encoding)]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        pytest.param(b"", "truncated DER (missing tag)", id="empty"),
        pytest.param(b"\x30", "truncated DER (length)", id="no length"),
        pytest.param(b"\x30\x05\x04\x01\x00", "value shorter than its length", id="truncated"),
        pytest.param(b"\x30\x03\x04\x02\x00", "value shorter than its length", id="inner overrun"),
        pytest.param(b"\x04\x01\x00\x00", "1 bytes after the DER value", id="trailing byte"),
        pytest.param(b"\x30\x80\x04\x01\x00\x00\x00", "indefinite length", id="indefinite"),
        pytest.param(b"\x30\x03\x24\x80\x00", "indefinite length", id="inner indefinite"),
        pytest.param(b"\x04\x81\x05" + b"\x00" * 5, "non-minimal length", id="long form, short"),
        pytest.param(b"\x04\x82\x00\x80" + b"\x00" * 128, "non-minimal length", id="leading zero"),
        pytest.param(b"\x04\x85\x01\x00\x00\x00\x00", "length field too long", id="5 octets"),
        pytest.param(b"\x04\x84\xff\xff\xff\xff", "value shorter than its length", id="oversized"),
        pytest.param(b"\x04\x82\x01", "truncated DER (length)", id="length cut"),
        pytest.param(b"\x24\x03\x04\x01\x00", "universal type 4 is BER", id="chunked OCTET STRING"),
        pytest.param(b"\x30\x04\x3f\x21\x00\x00", "universal type 33 is BER", id="high universal"),
        pytest.param(b"\x9f\x80\x01\x00", "non-minimal tag number", id="non-minimal tag"),
        pytest.param(b"\x9f\x81", "truncated DER (tag)", id="tag cut"),
        pytest.param(b"\x9f\xff\xff\xff\xff\x7f\x00", "tag number too large", id="huge tag"),
    ],
)
def test_parse_refuses(encoding: bytes, message: str) -> None:
    with pytest.raises(_der.DERError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _der.parse(encoding)


def nested(depth: int) -> bytes:
    encoding = b"\x05\x00"
    for _ in range(depth):
        encoding = b"\x30" + _der.length_octets(len(encoding)) + encoding
    return encoding


def test_depth_is_bounded() -> None:
    _der.parse(nested(_der.MAX_DEPTH))
    with pytest.raises(_der.DERError, match="nested too deeply"):
        _der.parse(nested(_der.MAX_DEPTH + 1))
    # An empty SEQUENCE at the deepest level holds nothing deeper.
    empty = b"\x30\x00"
    for _ in range(_der.MAX_DEPTH):
        empty = b"\x30" + _der.length_octets(len(empty)) + empty
    _der.parse(empty)


@pytest.mark.parametrize(
    ("encoded", "dotted"),
    [
        (bytes.fromhex("2a864886f70d010702"), "1.2.840.113549.1.7.2"),
        (bytes.fromhex("608648016503040201"), "2.16.840.1.101.3.4.2.1"),
        (bytes.fromhex("2b0e03021a"), "1.3.14.3.2.26"),
        (bytes.fromhex("00"), "0.0"),
        (bytes.fromhex("8837"), "2.999"),
    ],
)
def test_object_identifier(encoded: bytes, dotted: str) -> None:
    assert _der.dotted(encoded) == dotted


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (b"", "truncated"),
        (bytes.fromhex("2a8648f7"), "truncated"),  # the last octet says more follow
        (bytes.fromhex("2a80860d"), "non-minimal"),
    ],
)
def test_object_identifier_refused(encoded: bytes, message: str) -> None:
    with pytest.raises(_der.DERError, match=message):
        _der.dotted(encoded)


def test_field_readers() -> None:
    encoding = bytes.fromhex("3009 0201ff 0500 a0020500".replace(" ", ""))
    root = _der.parse(encoding)
    fields = _der.Fields(root, "Thing")
    assert _der.integer(fields.take(_der.INTEGER), "n") == -1
    assert fields.optional(_der.OCTET_STRING) is None
    assert fields.take(_der.NULL)[0] == _der.NULL
    # An optional field is matched by class and number; whether it is constructed is the
    # reader's to check.
    assert fields.optional(0x80) is not None
    fields.end()
    with pytest.raises(_der.DERError, match="a field is missing"):
        fields.take_any()

    fields = _der.Fields(root, "Thing")
    with pytest.raises(_der.DERError, match=r"Thing: expected tag 0x04, found 0x02"):
        fields.take(_der.OCTET_STRING)
    with pytest.raises(_der.DERError, match="2 unexpected field"):
        fields.take_any()
        fields.end()
    with pytest.raises(_der.DERError, match="3 fields where 2 belong"):
        _der.exactly(root, "Thing", (_der.INTEGER, _der.NULL))
    with pytest.raises(_der.DERError, match="not a constructed value"):
        _der.inside(_der.inside(root, "Thing")[0], "n")
    with pytest.raises(_der.DERError, match="empty INTEGER"):
        _der.integer(_der.parse(b"\x02\x00"), "n")


def encode(node: _der.Node) -> bytes:
    """The DER of a parsed tree, from its parts: equal to what was parsed."""
    children = node[4]
    if children is None:
        return _der.encoding(node)
    header = node[5][node[1] : node[2]]
    identifier = header[: len(header) - len(_der.length_octets(node[3] - node[2]))]
    contents = b"".join(encode(child) for child in children)
    return identifier + _der.length_octets(len(contents)) + contents


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_parse_fuzz(data: bytes) -> None:
    # Anything is either refused with DERError or is DER that re-encodes to itself.
    try:
        root = _der.parse(data)
    except _der.DERError:
        with pytest.raises(_der.DERError):
            _der.parse(data, shared_depth=1)
        return
    assert encode(root) == data
    assert encode(_der.parse(data, shared_depth=1)) == data


def test_shared_values_are_walked_once() -> None:
    # SEQUENCE { SEQUENCE { INTEGER 1 }, SEQUENCE { INTEGER 1 }, SEQUENCE { INTEGER 2 } }
    encoding = bytes.fromhex("300f 3003020101 3003020101 3003020102".replace(" ", ""))
    first, again, other = _der.inside(_der.parse(encoding, shared_depth=1), "test")
    assert first is again, "one walk for one encoding"
    assert _der.encoding(first) == first[5] == bytes.fromhex("3003020101")
    assert _der.integer(_der.inside(other, "test")[0], "n") == 2
    assert _der.inside(_der.parse(encoding, shared_depth=1), "test")[2] is other


def test_shared_values_keep_every_rule() -> None:
    # Refusals are never remembered, and the depth bound counts from the real depth.
    bad = b"\x30\x06" + b"\x30\x04\x24\x02\x04\x00"
    for _ in range(2):
        with pytest.raises(_der.DERError, match="BER"):
            _der.parse(bad, shared_depth=1)
    deep = nested(_der.MAX_DEPTH + 1)
    with pytest.raises(_der.DERError, match="nested too deeply"):
        _der.parse(deep, shared_depth=_der.MAX_DEPTH - 3)
    _der.parse(nested(_der.MAX_DEPTH), shared_depth=_der.MAX_DEPTH - 3)
    with pytest.raises(ValueError, match="deeper"):
        _der.parse(b"\x30\x00", opaque=(3, 0xA0), shared_depth=3)


def test_large_values_are_not_shared() -> None:
    big = b"\x30\x82\x04\x04" + b"\x04\x82\x04\x00" + b"\x00" * 1024
    encoding = b"\x30\x82\x04\x08" + big
    [inner] = _der.inside(_der.parse(encoding, shared_depth=1), "test")
    assert inner[5] is encoding, "walked in place"


# -- CMS built on it ---------------------------------------------------------------------------


def signature() -> bytes:
    return signing_cms.sign_detached(CONTENT, cert("p256"), key("p256"), signing_time=SIGNED_AT)


#: Paths (child indexes from the ContentInfo) in one of our signatures: SignedData's fields are
#: version, digestAlgorithms, encapContentInfo, certificates, signerInfos.
SIGNED_DATA = (1, 0)
SIGNER_INFO = (*SIGNED_DATA, 4, 0)
SIGNED_ATTRS = (*SIGNER_INFO, 3)

Rewrite = Callable[[bytes, bytes], bytes]


def rewrite(data: bytes, path: tuple[int, ...], change: Rewrite) -> bytes:
    """data with the TLV at path replaced by change(identifier octets, contents), and the lengths
    of everything around it fixed up (minimal, definite)."""
    root = _der.parse(data, opaque=(3, 0xA0))

    def walk(node: _der.Node, rest: tuple[int, ...]) -> bytes:
        header = node[5][node[1] : node[2]]
        identifier = header[: len(header) - len(_der.length_octets(node[3] - node[2]))]
        if not rest:
            return change(identifier, _der.value(node))
        children = _der.inside(node, "test")
        contents = b"".join(
            walk(child, rest[1:]) if index == rest[0] else _der.encoding(child)
            for index, child in enumerate(children)
        )
        return identifier + _der.length_octets(len(contents)) + contents

    return walk(root, path)


def tlv(identifier: bytes, contents: bytes) -> bytes:
    return identifier + _der.length_octets(len(contents)) + contents


def indefinite(identifier: bytes, contents: bytes) -> bytes:
    return identifier + b"\x80" + contents + b"\x00\x00"


def long_form(identifier: bytes, contents: bytes) -> bytes:
    return identifier + b"\x82" + len(contents).to_bytes(2, "big") + contents


def chunked(identifier: bytes, contents: bytes) -> bytes:
    half = len(contents) // 2
    return tlv(
        bytes([identifier[0] | 0x20]), tlv(b"\x04", contents[:half]) + tlv(b"\x04", contents[half:])
    )


def retag(new: int) -> Rewrite:
    return lambda identifier, contents: tlv(bytes([new]), contents)


def refused(data: bytes, content: bytes = CONTENT) -> SignatureFailure:
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(data, content)
    failure = caught.value
    assert all(check.passed for check in failure.checks[:-1])
    assert not failure.checks[-1].passed
    return failure


def test_rewriting_nothing_changes_nothing() -> None:
    original = signature()
    assert rewrite(original, SIGNER_INFO, tlv) == original
    signing_cms.verify_detached(original, CONTENT)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        pytest.param(SIGNER_INFO, indefinite, id="indefinite SignerInfo"),
        pytest.param(SIGNED_ATTRS, indefinite, id="indefinite signed attributes"),
        pytest.param((*SIGNED_DATA, 3), indefinite, id="indefinite certificates"),
        pytest.param((*SIGNER_INFO, 5), long_form, id="long-form length of the signature"),
        pytest.param((*SIGNED_DATA, 0), long_form, id="long-form length of the version"),
        pytest.param((*SIGNER_INFO, 5), chunked, id="constructed signature OCTET STRING"),
        pytest.param((*SIGNED_ATTRS, 2, 1, 0), chunked, id="constructed message-digest"),
    ],
)
def test_ber_inside_is_a_der_failure(path: tuple[int, ...], change: Rewrite) -> None:
    failure = refused(rewrite(signature(), path, change))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert [c.name for c in failure.checks] == ["cms.der"]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: d[:-1], id="truncated by one byte"),
        pytest.param(lambda d: d[:100], id="truncated in the certificates"),
        pytest.param(lambda d: d + b"\x30\x00", id="a second value after it"),
        pytest.param(lambda d: d[:1] + b"\x84\xff" + d[2:], id="oversized outer length"),
        pytest.param(
            lambda d: rewrite(d, (*SIGNER_INFO, 5), lambda i, c: i + b"\x7f" + c),
            id="an inner length longer than its value",
        ),
    ],
)
def test_truncated_or_oversized(mangle: Callable[[bytes], bytes]) -> None:
    failure = refused(mangle(signature()))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert [c.name for c in failure.checks] == ["cms.der"]


@pytest.mark.parametrize(
    ("path", "new_tag", "check"),
    [
        ((0,), 0x04, "cms.der"),  # contentType
        ((1,), 0xA1, "cms.content_type"),  # ContentInfo [0] content: none, and a stray [1]
        ((*SIGNED_DATA, 0), 0x04, "cms.content_type"),  # version
        ((*SIGNED_DATA, 4), 0x30, "cms.content_type"),  # signerInfos
        ((*SIGNED_DATA, 2), 0x31, "cms.detached"),  # encapContentInfo
        ((*SIGNED_DATA, 1), 0x30, "cms.digest_algorithm"),  # digestAlgorithms
        ((*SIGNED_DATA, 3), 0x80, "cms.certificates"),  # certificates, primitive
        ((*SIGNED_DATA, 3, 0), 0xA1, "cms.certificates"),  # an attribute certificate
        ((*SIGNER_INFO, 2), 0x31, "cms.digest_algorithm"),  # digestAlgorithm
        ((*SIGNER_INFO, 4), 0x31, "cms.signature_algorithm"),  # signatureAlgorithm
        ((*SIGNER_INFO, 0), 0x04, "cms.signer_certificate"),  # version
        ((*SIGNER_INFO, 1), 0x31, "cms.signer_certificate"),  # sid
        ((*SIGNER_INFO, 5), 0x03, "cms.signature"),  # signature
    ],
)
def test_wrong_tag(path: tuple[int, ...], new_tag: int, check: str) -> None:
    failure = refused(rewrite(signature(), path, retag(new_tag)))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == check


def test_primitive_signed_attributes() -> None:
    # [0] IMPLICIT SET OF must be constructed; the signature is then over a changed tag, but the
    # malformed attributes are reported first.
    failure = refused(rewrite(signature(), SIGNED_ATTRS, lambda i, c: tlv(b"\x80", b"\x05\x00")))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signed_attributes"


@pytest.mark.parametrize(
    ("attribute", "check"),
    [(0, "cms.signed_attributes"), (1, "cms.signing_time"), (2, "cms.message_digest")],
)
def test_attribute_values_must_be_a_set(attribute: int, check: str) -> None:
    failure = refused(rewrite(signature(), (*SIGNED_ATTRS, attribute, 1), retag(0x30)))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == check


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(SIGNER_INFO, id="SignerInfo"),
        pytest.param((*SIGNED_ATTRS, 3, 1, 0, 0, 0), id="ESSCertIDv2"),
        pytest.param((*SIGNER_INFO, 1), id="IssuerAndSerialNumber"),
    ],
)
def test_fields_after_the_last_are_refused(path: tuple[int, ...]) -> None:
    """Stricter than asn1crypto, which kept unknown trailing fields of a SEQUENCE: a SignerInfo
    with a NULL after its unsigned attributes used to verify."""
    failure = refused(rewrite(signature(), path, lambda i, c: tlv(i, c + b"\x05\x00")))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE


def test_truncated_object_identifier_is_a_der_failure() -> None:
    """Stricter than asn1crypto, which read 2a864886f70d0107 82 as 1.2.840.113549.1.7 and
    refused it later as another content type."""
    failure = refused(rewrite(signature(), (0,), lambda i, c: tlv(i, c[:-1] + b"\x82")))
    assert [c.name for c in failure.checks] == ["cms.der"]


def test_unsigned_attributes_and_crls_are_ignored() -> None:
    original = signature()
    with_unsigned = rewrite(
        original,
        SIGNER_INFO,
        lambda i, c: tlv(i, c + tlv(b"\xa1", tlv(b"\x30", b"\x06\x01\x2a\x31\x00"))),
    )
    with_crls = rewrite(
        with_unsigned,
        SIGNED_DATA,
        lambda i, c: tlv(i, _insert_before_signer_infos(c, tlv(b"\xa1", b""))),
    )
    verified = signing_cms.verify_detached(with_crls, CONTENT)
    assert verified.signing_time == SIGNED_AT


def _insert_before_signer_infos(contents: bytes, extra: bytes) -> bytes:
    node = _der.parse(tlv(b"\x30", contents), opaque=(0, 0xA0))
    signer_infos = _der.inside(node, "SignedData")[-1]
    at = signer_infos[1] - len(tlv(b"\x30", contents)) + len(contents)
    return contents[:at] + extra + contents[at:]


def read_time(tag: bytes, text: bytes) -> datetime:
    encoding = tlv(tag, text)
    return signing_cms._time(_der.parse(encoding))


@pytest.mark.parametrize(
    ("tag", "text", "moment"),
    [
        (b"\x17", b"260601120000Z", SIGNED_AT),
        (b"\x18", b"20260601120000Z", SIGNED_AT),
        (b"\x17", b"500101000000Z", datetime(1950, 1, 1, tzinfo=UTC)),
        (b"\x17", b"491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        # Not DER (no seconds, an offset, a fraction): read as asn1crypto always read them.
        (b"\x17", b"2606011200Z", SIGNED_AT),
        (b"\x17", b"2606011700+0500", SIGNED_AT),
        (b"\x18", b"20260601120000.5Z", SIGNED_AT.replace(microsecond=500000)),
    ],
)
def test_time_forms(tag: bytes, text: bytes, moment: datetime) -> None:
    assert read_time(tag, text) == moment


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        (b"\x17", b"261301120000Z"),  # month 13
        (b"\x18", b"20260601120000"),  # local time
        (b"\x18", b"00000101000000Z"),  # year 0
        (b"\x17", b"26060112000+Z"),
        (b"\x04", b""),
    ],
)
def test_time_refused(tag: bytes, text: bytes) -> None:
    with pytest.raises(ValueError):
        read_time(tag, text)


# -- mutations never escape as anything but SignatureFailure -------------------------------------

_SAMPLES = {
    "ours": signature,
    "subject key identifier, no attributes": lambda: build(
        sid="key_identifier", no_attributes=True
    ),
    "rsa-pss": lambda: build(signer="rsa", pss={}),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(sorted(_SAMPLES)),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["set", "insert", "delete", "xor"]),
            st.floats(min_value=0, max_value=1, exclude_max=True),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutations_only_ever_fail_as_signature_failures(
    sample: str, edits: list[tuple[str, float, int]]
) -> None:
    data = bytearray(_sample(sample))
    for operation, where, value in edits:
        at = int(where * len(data))
        if operation == "set":
            data[at] = value
        elif operation == "insert":
            data.insert(at, value)
        elif operation == "delete":
            del data[at]
        else:
            data[at] ^= value or 1
    try:
        verified = signing_cms.verify_detached(bytes(data), CONTENT)
    except SignatureFailure as failure:
        assert failure.checks and not failure.checks[-1].passed
        return
    except SigningError as error:  # pragma: no cover - would be a bug in itself
        raise AssertionError(f"{type(error).__name__} instead of SignatureFailure") from error
    # A mutation that still verifies changed nothing that is signed or checked.
    assert all(check.passed for check in verified.checks)


_CACHE: dict[str, bytes] = {}


def _sample(name: str) -> bytes:
    if name not in _CACHE:
        _CACHE[name] = _SAMPLES[name]()
    return _CACHE[name]


def test_long_signatures_are_examined_every_time() -> None:
    # Past the length up to which examinations are remembered (and past MAX_SHARED): a 17 KB
    # unsigned attribute.
    padding = tlv(b"\x30", b"\x06\x01\x2a" + tlv(b"\x31", tlv(b"\x04", b"\x00" * 17000)))
    long = rewrite(signature(), SIGNER_INFO, lambda i, c: tlv(i, c + tlv(b"\xa1", padding)))
    assert len(long) > signing_cms._REMEMBERED_LENGTH
    for _ in range(2):
        assert signing_cms.verify_detached(long, CONTENT).signing_time == SIGNED_AT
        assert refused(long[:-1]).checks[-1].name == "cms.der"
        failure = refused(rewrite(long, SIGNED_ATTRS, lambda i, c: tlv(i, c)), b"other")
        assert failure.sub_indication is SubIndication.HASH_FAILURE
