"""signing.cms.DetachedSigner.sign: the SignedData its earlier form built with asn1crypto's
types (kept here as the reference), byte for byte: whole for an RSA key (PKCS#1 v1.5 is
deterministic), all but the signature value for ECDSA; and every one verifies."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, parser
from conftest import PKI
from cryptography.hazmat.primitives.asymmetric import ec, padding

from signing import cms
from signing.keys import hash_for

_SIGNED_DATA = asn1_cms.ContentType("signed_data").dump()
_SIGNING_TIME = asn1_cms.CMSAttributeType("signing_time").dump()
_DIGEST = asn1_cms.CMSAttributeType("message_digest").dump()


def _reference_time(moment: datetime) -> asn1_cms.Time:
    utc = moment.astimezone(UTC)
    if 1950 <= utc.year <= 2049:
        return asn1_cms.Time({"utc_time": f"{utc:%y%m%d%H%M%S}Z"})
    return asn1_cms.Time({"generalized_time": f"{utc.year:04d}{utc:%m%d%H%M%S}Z"})


def _reference(signer: Any, content: bytes, signing_time: datetime) -> tuple[bytes, bytes]:
    """(SignedData, the bytes signed) as DetachedSigner.sign made them until 2026-12-06."""
    digest = core.OctetString(hashlib.new(signer._digest, content).digest())
    attributes = [signer._content_type, signer._ess] + [
        parser.emit(0, 1, 16, kind + parser.emit(0, 1, 17, value.dump()))
        for kind, value in ((_SIGNING_TIME, _reference_time(signing_time)), (_DIGEST, digest))
    ]
    loaded = [asn1_cms.CMSAttribute.load(attribute) for attribute in attributes]
    signed_bytes: bytes = asn1_cms.CMSAttributes(loaded).dump()
    if isinstance(signer._key, ec.EllipticCurvePrivateKey):
        signature = signer._key.sign(signed_bytes, ec.ECDSA(hash_for(signer._hash_name)))
    else:
        signature = signer._key.sign(signed_bytes, padding.PKCS1v15(),
                                     hash_for(signer._hash_name))
    signed_attrs = parser.emit(2, 1, 0, asn1_cms.CMSAttributes.load(signed_bytes).contents)
    signer_info = parser.emit(0, 1, 16, signer._signer_head + signed_attrs + signer._algorithm
                              + core.OctetString(signature).dump())
    signed_data = parser.emit(0, 1, 16, signer._signed_data_head + parser.emit(0, 1, 17,
                                                                               signer_info))
    return parser.emit(0, 1, 16, _SIGNED_DATA + parser.emit(2, 1, 0, signed_data)), signed_bytes


def _without_signature(der: bytes) -> tuple[bytes, bytes]:
    """The SignedData with its signature value emptied, and the signed attributes as signed."""
    info = asn1_cms.ContentInfo.load(der)
    signer_info = info["content"]["signer_infos"][0]
    signed = signer_info["signed_attrs"].untag().dump()
    signer_info["signature"] = b""
    return info.dump(force=True), signed


MOMENTS = [
    datetime(2026, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC),
    datetime(2026, 6, 1, 17, 0, 5, tzinfo=timezone(timedelta(hours=5))),
    datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2050, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2049, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
]
CONTENTS = [b"", b"{}", b'{"medical_record":"' + "Қ".encode() * 900 + b'"}']


def test_rsa_signed_data_is_the_reference_s_bytes(pki: PKI) -> None:
    party = pki.rsa_signer
    signer = cms.DetachedSigner(party.certificate, party.key, chain=party.chain)  # type: ignore[arg-type]
    for moment in MOMENTS:
        for content in CONTENTS:
            der = signer.sign(content, signing_time=moment)
            assert der == _reference(signer, content, moment)[0]
            verified = cms.verify_detached(der, content)
            assert verified.signing_time == moment.astimezone(UTC).replace(microsecond=0)


def test_ecdsa_signed_data_is_the_reference_s_but_for_the_signature(pki: PKI) -> None:
    party = pki.facility
    signer = cms.DetachedSigner(party.certificate, party.key, chain=party.chain)  # type: ignore[arg-type]
    for moment in MOMENTS:
        for content in CONTENTS:
            der = signer.sign(content, signing_time=moment)
            reference, signed = _reference(signer, content, moment)
            assert _without_signature(der) == _without_signature(reference)
            assert _without_signature(der)[1] == signed
            assert cms.verify_detached(der, content).signer == party.certificate


def test_a_naive_signing_time_is_refused(pki: PKI) -> None:
    party = pki.facility
    signer = cms.DetachedSigner(party.certificate, party.key, chain=party.chain)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign(b"{}", signing_time=datetime(2026, 6, 1, 12))


def test_der_values_are_what_asn1crypto_emits() -> None:
    for length in [*range(300), 0xFF, 0x100, 0xFFFF, 0x10000, 70000]:
        contents = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
        for tag, (class_, method, number) in {0x04: (0, 0, 4), 0x17: (0, 0, 23), 0x30: (0, 1, 16),
                                             0x31: (0, 1, 17), 0xA0: (2, 1, 0)}.items():
            assert cms.der_value(tag, contents) == parser.emit(class_, method, number, contents)
    rng = random.Random(5280)
    for length in [*range(300), 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 70000]:
        contents = rng.randbytes(length)
        for tag in (0x02, 0x03, 0x30, 0x31):
            assert cms.der_value(tag, contents) == parser.emit(0, tag >= 0x30, tag & 0x1F,
                                                               contents)


def test_der_times_are_asn1crypto_s_to_the_second() -> None:
    """As certificates (RFC 5280) and CMS want them: UTCTime until 2049, then GeneralizedTime."""
    almaty = timezone(timedelta(hours=5))
    moments = [datetime(2026, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC),
               datetime(2026, 6, 1, 17, 0, 0, tzinfo=almaty),
               datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
               datetime(2050, 1, 1, tzinfo=UTC), datetime(2400, 2, 29, 1, 2, 3, tzinfo=UTC),
               datetime(1950, 1, 1, tzinfo=UTC), datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC),
               datetime(1950, 1, 1, 4, 59, 59, tzinfo=almaty)]
    for moment in moments:
        second = moment.astimezone(UTC).replace(microsecond=0)
        kind = core.UTCTime if 1950 <= second.year < 2050 else core.GeneralizedTime
        assert cms.der_time(moment) == kind(second).dump()
