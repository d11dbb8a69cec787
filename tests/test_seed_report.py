"""birthreg.seed_report._signed_at: the sigT of a JWS read from its header's start, the value
the whole header gives (for sign_detached's headers and for others)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

from conftest import PKI

from birthreg.seed_report import _signed_at
from signing import jws


def _whole(compact: str) -> str:
    encoded = compact.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return datetime.fromisoformat(header["sigT"]).isoformat()


def _forged(header: dict[str, object]) -> str:
    return f"{jws.b64url_encode(json.dumps(header, separators=(',', ':')).encode())}..c2ln"


def test_the_signing_time_is_the_whole_headers(pki: PKI) -> None:
    almaty = timezone(timedelta(hours=5))
    moments = [pki.moment, pki.moment.astimezone(almaty) + timedelta(seconds=59, microseconds=7),
               datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)]
    for party in (pki.mother, pki.registry_office, pki.rsa_signer):
        for moment in moments:
            compact = jws.sign_detached(b"{}", party.certificate, party.key,  # type: ignore[arg-type]
                                        signing_time=moment, chain=party.chain)
            assert _signed_at(compact) == _whole(compact)
    # Headers of other shapes: read whole.
    for header in ({"alg": "ES256", "sigT": "2026-06-01T12:00:00Z", "x5c": ["QUJD"]},
                   {"alg": "ES256", "kid": "k", "sigT": "2026-06-01T17:00:00+05:00"},
                   {"alg": "ES256", "x5c": ["QUJD" * 40], "sigT": "2026-06-01T12:00:00.5Z"}):
        assert _signed_at(_forged(header)) == _whole(_forged(header))
