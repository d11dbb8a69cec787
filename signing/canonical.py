"""RFC 8785 JSON Canonicalization Scheme, over the maintained `rfc8785` package."""

from __future__ import annotations

from typing import Any


def canonicalize(document: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value. Raises CanonicalizationError for what
    JSON cannot carry exactly (NaN, infinities, integers beyond 2**53, non-string keys)."""
    raise NotImplementedError


def sha256_hex(document: Any) -> str:
    """Lowercase hex SHA-256 of the canonical bytes."""
    raise NotImplementedError


def parse_json(text: bytes | str, *, max_depth: int = 32) -> Any:
    """Strict JSON parse: refuses duplicate keys, NaN/Infinity, lone surrogates and nesting deeper
    than max_depth. Raises CanonicalizationError."""
    raise NotImplementedError


def is_canonical(text: bytes) -> bool:
    raise NotImplementedError
