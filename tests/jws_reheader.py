"""Re-sign a detached JWS under a changed protected header: a hostile signer's own signature over
a header our signer would never write (a `sigT` at the calendar's edge), so that what is refused
is the header, not a broken signature."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from signing.canonical import canonicalize
from signing.jws import b64url_decode, b64url_encode


def reheader(
    compact: str, key: ec.EllipticCurvePrivateKey, content: Any, **changes: Any
) -> str:
    """`compact` (ES256, detached) signed again by `key` with `changes` in its header."""
    encoded_header = compact.split(".", 1)[0]
    header = {**json.loads(b64url_decode(encoded_header)), **changes}
    new_header = b64url_encode(json.dumps(header).encode())
    payload = b64url_encode(canonicalize(content))
    der = key.sign(f"{new_header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{new_header}..{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
