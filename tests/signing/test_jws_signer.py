"""signing.jws.sign_detached for many payloads and certificates (some given in DER), its
header kept for the last few: each the header of its definition (written out here as json.dumps
of the header dict, as sign_detached built it until 2026-12-06), and verifying."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import PKI
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import jws
from signing.ca import Individual, Profile

SIGNED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DER = serialization.Encoding.DER


def _reference_header(alg: str, certificate: x509.Certificate, chain: tuple[Any, ...],
                      moment: datetime) -> bytes:
    header = {
        "alg": alg,
        "kid": jws.key_id(certificate),
        "crit": ["sigT"],
        "sigT": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x5c": [base64.b64encode(c.public_bytes(DER)).decode("ascii")
                for c in (certificate, *chain)],
    }
    return json.dumps(header, separators=(",", ":")).encode("ascii")


def _header(compact: str) -> bytes:
    return jws.b64url_decode(compact.split(".")[0])


def _certificates(pki: PKI, key: ec.EllipticCurvePrivateKey, count: int) -> list[x509.Certificate]:
    people = [Individual(iin="940315400074", surname="Қасымова", given_name="Әйгерім"),
              Individual(iin="940315400084", surname="Smith", given_name="Anna",
                         patronymic="Ивановна")]
    return [pki.ca.issue(key.public_key(), people[i % 2], profile=Profile.INDIVIDUAL,
                         moment=pki.moment + timedelta(minutes=i)) for i in range(count)]


def test_many_certificates_give_sign_detached_s_headers(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    chain = pki.ca.chain
    certificates = _certificates(pki, key, 20)
    almaty = timezone(timedelta(hours=5))
    # Each certificate in turn, then again once the first have been forgotten, then repeated.
    order = [*certificates, *certificates, certificates[0], certificates[0]]
    for index, certificate in enumerate(order):
        moment = pki.moment + timedelta(hours=index, microseconds=index * 1000)
        moment = moment.astimezone(almaty) if index % 2 else moment
        payload = f'{{"n":{index}}}'.encode()
        given = certificate.public_bytes(DER) if index % 3 else certificate
        compact = jws.sign_detached(payload, given, key, signing_time=moment, chain=chain)
        assert _header(compact) == _reference_header("ES256", certificate, chain, moment)
        verified = jws.verify_detached(compact, payload)
        assert verified.signer == certificate
        assert verified.certificates == (certificate, *chain)
        assert verified.signing_time == moment.astimezone(UTC).replace(microsecond=0)
    # The same certificate with another chain, or none, or another alg: their own headers.
    rsa_party = pki.rsa_signer
    for alg in ("RS256", "PS256", "RS256"):
        for chain_given in (rsa_party.chain, ()):
            compact = jws.sign_detached(b"{}", rsa_party.certificate, rsa_party.key,  # type: ignore[arg-type]
                                        signing_time=SIGNED_AT, chain=chain_given, alg=alg)
            assert _header(compact) == _reference_header(alg, rsa_party.certificate,
                                                         tuple(chain_given), SIGNED_AT)
            jws.verify_detached(compact, b"{}")


def test_the_office_seal_s_receipt_header(pki: PKI) -> None:
    office = pki.registry_office
    for minutes in (0, 1, 60 * 24 * 400):
        moment = pki.moment + timedelta(minutes=minutes)
        compact = jws.sign_detached(b"{}", office.certificate, office.key,  # type: ignore[arg-type]
                                    signing_time=moment, chain=office.chain)
        expected = _reference_header("ES256", office.certificate, office.chain, moment)
        assert _header(compact) == expected
        assert jws.verify_detached(compact, b"{}").signer == office.certificate


def test_another_key_s_certificate_is_refused_even_after_a_good_one(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    mine = _certificates(pki, key, 1)[0]
    other = _certificates(pki, ec.generate_private_key(ec.SECP256R1()), 1)[0]
    for given in (mine, mine.public_bytes(DER)):
        jws.sign_detached(b"{}", given, key, signing_time=SIGNED_AT)
    for given in (other, other.public_bytes(DER)):
        with pytest.raises(ValueError, match="does not belong"):
            jws.sign_detached(b"{}", given, key, signing_time=SIGNED_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        jws.sign_detached(b"{}", mine.public_bytes(DER), key,
                          signing_time=datetime(2026, 6, 1, 12))
    with pytest.raises(ValueError):
        jws.sign_detached(b"{}", b"not a certificate", key, signing_time=SIGNED_AT)


def test_chains_are_kept_by_their_certificates_not_their_places(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    mine = _certificates(pki, key, 1)[0]
    chains = [tuple(x509.load_der_x509_certificate(c.public_bytes(DER)) for c in pki.ca.chain)
              for _ in range(20)]
    chains += [(pki.ca.root_certificate,), (pki.rsa_signer.certificate,), ()] * 7
    for chain in chains:  # more than are kept, equal ones loaded anew, and different ones
        compact = jws.sign_detached(b"{}", mine, key, signing_time=SIGNED_AT, chain=chain)
        assert _header(compact) == _reference_header("ES256", mine, chain, SIGNED_AT)
