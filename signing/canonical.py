"""RFC 8785 JSON Canonicalization Scheme, over the maintained `rfc8785` package.

What is signed in a dossier is the canonical UTF-8 form of each document, so the ward, the mother's
browser and the registry must produce the same bytes for the same value. Hence: an int beyond
±(2**53 - 1) has no exact IEEE 754 double, so canonicalize() refuses it rather than sign a number
a JavaScript peer reads differently (in JSON text such a literal is read as the nearest double,
as such a peer reads it: see _parse_int); lone surrogates, NaN, infinities and duplicate keys
have no single meaning across parsers and are refused. Errors are CanonicalizationError and
never quote values from the document (they may be personal data).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from typing import Any, NoReturn

import rfc8785

from signing.errors import CanonicalizationError

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer that every JSON peer (IEEE 754 double) represents exactly."""

MAX_CANONICAL_DEPTH = 256
"""Deepest nesting canonicalize() accepts: `rfc8785` recurses once per level, and a
self-referencing list must be an error, not a RecursionError."""

_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Integer literals with at most this many digits may be safe integers; longer ones never are.
_MAX_SAFE_INTEGER_DIGITS = len(str(MAX_SAFE_INTEGER))


def _check_tree(document: Any, max_depth: int = MAX_CANONICAL_DEPTH) -> None:
    """Refuse, without recursion, anything rfc8785 would choke on or serialise ambiguously, and
    arrays and objects nested deeper than max_depth ("[]" is depth 1)."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        # bool before int: bool is a subclass of int.
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise CanonicalizationError("a string contains a lone UTF-16 surrogate")
        elif isinstance(value, int):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise CanonicalizationError("an integer is outside ±(2**53 - 1)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise CanonicalizationError("NaN and infinities cannot be written in JSON")
        elif isinstance(value, (list, tuple, dict)):
            if depth >= max_depth:
                raise CanonicalizationError(f"nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise CanonicalizationError("object keys must be strings")
                    if _SURROGATE.search(key):
                        raise CanonicalizationError("a key contains a lone UTF-16 surrogate")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        else:
            raise CanonicalizationError(f"a {type(value).__name__} has no JSON form")


_LEAF_TYPES = (str, type(None), bool)


def _is_plain(document: Any) -> bool:
    """Whether the standard encoder writes this tree exactly as RFC 8785 does (see _PLAIN):
    only dicts, lists, strings, booleans, None and integers within ±(2**53 - 1), every key a
    string inside the BMP, nested no deeper than MAX_CANONICAL_DEPTH. Anything else (floats,
    subclasses, tuples, what JSON cannot carry) takes the general way, where _check_tree names
    what is refused; so does a lone surrogate, which the output's UTF-8 encoding catches."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        kind = type(value)
        if kind is dict:
            if depth >= MAX_CANONICAL_DEPTH:
                return False
            for key, item in value.items():
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
                if type(item) not in _LEAF_TYPES:
                    stack.append((item, depth + 1))
        elif kind is list:
            if depth >= MAX_CANONICAL_DEPTH:
                return False
            stack.extend((item, depth + 1) for item in value if type(item) not in _LEAF_TYPES)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
        elif kind not in _LEAF_TYPES:
            return False
    return True


# For a plain tree (no floats, every key inside the BMP) the standard encoder is RFC 8785:
# - keys: Python sorts by code point, RFC 8785 by UTF-16 code unit; the two orders differ only
#   between a character beyond U+FFFF (a surrogate pair, 0xD800-0xDBFF first) and one in
#   U+E000-U+FFFF, so with every key inside the BMP they agree;
# - strings: both escape exactly `"`, `\\`, and U+0000-U+001F, with \b \t \n \f \r by name
#   and the rest as lowercase \u00xx, and write everything else as UTF-8 (ensure_ascii=False);
# - integers (within ±(2**53 - 1), checked) are their decimal digits, true/false/null as such.
# Floats need ECMAScript's shortest round-trip form, so a tree with any goes to rfc8785.
# It is two to three times faster (the audit chain hashes one canonical array per entry).
# tests/signing/test_canonical.py checks the equivalence on generated values.
_PLAIN = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
)


def canonicalize(document: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, tuple, str, int, float,
    bool, None). Raises CanonicalizationError for what JSON cannot carry exactly, other types,
    and nesting deeper than MAX_CANONICAL_DEPTH (or self-referencing).

    Caveats: 1 and 1.0 both give "1"; carry identifiers beyond 2**53 as strings; convert
    Decimal, datetime or UUID first (pydantic's model_dump(mode="json")); a str-valued Enum is
    written as its value.
    """
    if _is_plain(document):
        try:
            return _PLAIN.encode(document).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: _check_tree names it
    _check_tree(document)
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, RecursionError):
        # Should be unreachable after _check_tree. The package's message may quote the value,
        # so it is not passed on.
        raise CanonicalizationError("value cannot be canonicalised") from None


def sha256_hex(document: Any) -> str:
    """Lowercase hex SHA-256 of the canonical bytes. Raises CanonicalizationError like
    canonicalize()."""
    return hashlib.sha256(canonicalize(document)).hexdigest()


def _refuse_constant(name: str) -> NoReturn:
    raise CanonicalizationError(f"{name} is not a JSON value")


def _parse_int(literal: str) -> int | float:
    """Integer literals within ±(2**53 - 1) become int; larger ones become the nearest double,
    the value a JavaScript signer signed: RFC 8785 writes a large double without a fraction
    (2**68 is "295147905179352830000"), so refusing them would refuse a conformant peer's text.
    """
    if len(literal.lstrip("-")) <= _MAX_SAFE_INTEGER_DIGITS:
        value = int(literal)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
    # float() rather than int(): no 4300-digit limit and no quadratic conversion of huge literals.
    return _parse_float(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        # "1e400" is valid JSON text but overflows a double to infinity.
        raise CanonicalizationError("a number is too large for an IEEE 754 double")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        key = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        # !a (ascii) and the cut keep a hostile key from forging log lines; keys are field
        # names, not personal data.
        raise CanonicalizationError(f"duplicate key {key[:64]!a} in an object")
    return result


def parse_json(text: bytes | str, *, max_depth: int = 32) -> Any:
    """Strict JSON parse: refuses duplicate keys, NaN/Infinity, lone surrogates, bytes that are
    not UTF-8 (no BOM, UTF-16/32 not sniffed), number literals that overflow a double ("1e400")
    and nesting deeper than max_depth ("[]" is depth 1). Raises CanonicalizationError.

    Integer literals within ±(2**53 - 1) give int, all other numbers a rounded float. Caveat:
    there is no size limit here; bound the request body before calling.
    """
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0")
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            decoded = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise CanonicalizationError("JSON text is not valid UTF-8") from None
    elif isinstance(text, str):
        decoded = text
    else:
        raise CanonicalizationError("JSON text must be bytes or str")
    try:
        value = json.loads(
            decoded,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as exc:
        # exc.msg describes the syntax error without quoting the document.
        raise CanonicalizationError(
            f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        # CPython's decoder counts its nesting against the recursion limit and stops there.
        raise CanonicalizationError("JSON nested deeper than the parser allows") from None
    _check_tree(value, max_depth)
    return value
