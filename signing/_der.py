"""A small strict DER reader: one walk that checks every encoding rule we rely on and keeps the
position of every value, so that a structure can be taken apart without a full ASN.1 library.

Only the encoding is checked here (X.690 section 10: definite and minimal lengths, minimal tag
numbers, no constructed strings, nothing trailing); what the values mean is the caller's job,
with the few readers below (tags, fields of a SEQUENCE, INTEGER, OCTET STRING, OBJECT
IDENTIFIER). Every refusal is a DERError, a ValueError.
"""

from __future__ import annotations

from functools import lru_cache

#: Deeper nesting than any SignedData with X.509 certificates needs; bounds the walk.
MAX_DEPTH = 64

#: One TLV: (first identifier octet, offset of the identifier, offset of the value, offset just
#: past the value, the TLVs inside it, the bytes the offsets are into). The inside is None for a
#: primitive value and for one whose inside was left unread (see `parse`). The bytes are those
#: passed to `parse`, or a shared value's own encoding (see `parse`). A plain tuple: a SignedData
#: holds about a hundred of them, and a class per value would cost more than the walk.
Node = tuple[int, int, int, int, "list[Node] | None", bytes]

#: Shared values (see `parse`) longer than this are walked in place, never remembered.
MAX_SHARED = 1024

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18


class DERError(ValueError):
    """The bytes are not DER, or not the DER that was expected."""


# Universal types that DER allows only in constructed form (SEQUENCE, SET, EXTERNAL,
# EMBEDDED PDV); everything else constructed (e.g. a chunked OCTET STRING) is BER.
_CONSTRUCTED_UNIVERSAL = frozenset({8, 11, 16, 17})


def context(number: int, *, constructed: bool) -> int:
    """The identifier octet of a context-specific tag [number] (number below 31)."""
    return 0x80 | (0x20 if constructed else 0) | number


def parse(
    data: bytes, *, opaque: tuple[int, int] | None = None, shared_depth: int | None = None
) -> Node:
    """Walk data, which must be exactly one DER TLV, and return it. Raises DERError.

    opaque=(depth, identifier): the TLVs directly inside a constructed value with that identifier
    at that depth (the outermost value is at depth 0) are read, but not their insides. A
    SignedData's certificates are left so (cryptography's parser, strict DER, reads them) and
    are returned with None inside.

    shared_depth: constructed values at that depth (deeper than `opaque`'s, and of at most
    MAX_SHARED octets) are walked once per distinct encoding and remembered, since a signer sends
    the same ones again and again (its issuer's name, its signing-certificate attribute). Their
    nodes are into their own encoding. What is remembered is what the walk of those octets at
    that depth gives, so the result is the same as without it.
    """
    opaque_depth, opaque_identifier = opaque if opaque is not None else (-1, -1)
    if shared_depth is not None and shared_depth <= opaque_depth:
        raise ValueError("shared values must lie deeper than opaque ones")
    walker = _Walker(
        data, opaque_depth, opaque_identifier, -1 if shared_depth is None else shared_depth
    )
    node = walker.one(0, 0)
    if node[3] != len(data):
        raise DERError(f"{len(data) - node[3]} bytes after the DER value")
    return node


class _Walker:
    __slots__ = ("data", "opaque_depth", "opaque_identifier", "shared_depth")

    def __init__(
        self, data: bytes, opaque_depth: int, opaque_identifier: int, shared_depth: int
    ) -> None:
        self.data = data
        self.opaque_depth = opaque_depth
        self.opaque_identifier = opaque_identifier
        self.shared_depth = shared_depth

    def one(self, pos: int, depth: int) -> Node:
        """The TLV at pos (at `depth`), which may be followed by anything."""
        data = self.data
        identifier = data[pos] if pos < len(data) else 0
        number, value_start, end = _header(data, pos, len(data))
        inside: list[Node] | None = None
        if identifier & 0x20:
            if identifier & 0xC0 == 0 and number not in _CONSTRUCTED_UNIVERSAL:
                raise DERError(f"constructed encoding of universal type {number} is BER, not DER")
            leave = depth == self.opaque_depth and identifier == self.opaque_identifier
            inside = self.walk(value_start, end, depth + 1, leave)
        return (identifier, pos, value_start, end, inside, data)

    def walk(self, pos: int, limit: int, depth: int, leave: bool) -> list[Node]:
        """The TLVs from pos to limit, at `depth`, each walked unless `leave` (the values inside
        a constructed one walked in turn). The usual header (a low tag number, a short length) is
        read inline: this loop is most of the cost of verifying a CMS signature's structure."""
        if depth > MAX_DEPTH and pos < limit:
            raise DERError("DER nested too deeply")
        data = self.data
        shared = depth == self.shared_depth
        nodes: list[Node] = []
        while pos < limit:
            identifier = data[pos]
            if identifier & 0x1F != 0x1F and pos + 1 < limit and data[pos + 1] < 0x80:
                number = identifier & 0x1F
                value_start = pos + 2
                end = value_start + data[pos + 1]
                if end > limit:
                    raise DERError("truncated DER (value shorter than its length)")
            else:
                number, value_start, end = _header(data, pos, limit)
            if identifier & 0x20 and not leave:
                if identifier & 0xC0 == 0 and number not in _CONSTRUCTED_UNIVERSAL:
                    raise DERError(
                        f"constructed encoding of universal type {number} is BER, not DER"
                    )
                if shared and end - pos <= MAX_SHARED:
                    nodes.append(_shared(data[pos:end], depth))
                else:
                    inside = self.walk(
                        value_start,
                        end,
                        depth + 1,
                        depth == self.opaque_depth and identifier == self.opaque_identifier,
                    )
                    nodes.append((identifier, pos, value_start, end, inside, data))
            else:
                nodes.append((identifier, pos, value_start, end, None, data))
            pos = end
        return nodes


@lru_cache(maxsize=1024)
def _shared(encoding: bytes, depth: int) -> Node:
    """One constructed TLV, walked at `depth` (no opaque or shared values below it)."""
    return _Walker(encoding, -1, -1, -1).one(0, depth)


def _header(data: bytes, pos: int, limit: int) -> tuple[int, int, int]:
    """Tag number, value offset and end of the TLV at pos, every DER rule checked."""
    if pos >= limit:
        raise DERError("truncated DER (missing tag)")
    number = data[pos] & 0x1F
    pos += 1
    if number == 0x1F:
        number = 0
        first = True
        while True:
            if pos >= limit:
                raise DERError("truncated DER (tag)")
            octet = data[pos]
            pos += 1
            if first and octet == 0x80:
                raise DERError("non-minimal tag number")
            first = False
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
            if number > 0xFFFFFF:
                raise DERError("tag number too large")
    if pos >= limit:
        raise DERError("truncated DER (length)")
    length = data[pos]
    pos += 1
    if length >= 0x80:
        if length == 0x80:
            raise DERError("indefinite length (BER) is not DER")
        count = length & 0x7F
        if count > 4:
            raise DERError("length field too long")
        if pos + count > limit:
            raise DERError("truncated DER (length)")
        length = int.from_bytes(data[pos : pos + count], "big")
        if data[pos] == 0 or length < 0x80:
            raise DERError("non-minimal length (not DER)")
        pos += count
    end = pos + length
    if end > limit:
        raise DERError("truncated DER (value shorter than its length)")
    return number, pos, end


def expect(node: Node, identifier: int, what: str) -> Node:
    """node, if it has that identifier octet; else DERError naming `what`."""
    if node[0] != identifier:
        raise DERError(f"{what}: expected tag 0x{identifier:02x}, found 0x{node[0]:02x}")
    return node


def inside(node: Node, what: str) -> list[Node]:
    """The TLVs inside a constructed node."""
    children = node[4]
    if children is None:
        raise DERError(f"{what} is not a constructed value")
    return children


def exactly(node: Node, what: str, identifiers: tuple[int, ...]) -> list[Node]:
    """The TLVs inside a constructed node, which must be exactly these, in this order."""
    children = node[4]
    if children is None:
        raise DERError(f"{what} is not a constructed value")
    if len(children) != len(identifiers):
        raise DERError(f"{what}: {len(children)} fields where {len(identifiers)} belong")
    for child, identifier in zip(children, identifiers, strict=True):
        if child[0] != identifier:
            raise DERError(f"{what}: expected tag 0x{identifier:02x}, found 0x{child[0]:02x}")
    return children


class Fields:
    """Reads the TLVs inside a SEQUENCE one field at a time, in order; every mismatch (an
    unexpected tag, a missing field, anything left over) raises DERError naming the SEQUENCE."""

    __slots__ = ("_children", "_index", "_what")

    def __init__(self, node: Node, what: str) -> None:
        self._children = inside(node, what)
        self._index = 0
        self._what = what

    def take_any(self) -> Node:
        """The next field, whatever its tag."""
        if self._index >= len(self._children):
            raise DERError(f"{self._what}: a field is missing")
        node = self._children[self._index]
        self._index += 1
        return node

    def take(self, identifier: int) -> Node:
        """The next field, which must have that identifier octet."""
        index = self._index
        if index >= len(self._children):
            raise DERError(f"{self._what}: a field is missing")
        node = self._children[index]
        if node[0] != identifier:
            raise DERError(f"{self._what}: expected tag 0x{identifier:02x}, found 0x{node[0]:02x}")
        self._index = index + 1
        return node

    def optional(self, identifier: int) -> Node | None:
        """The next field if it has that tag (class and number: whether it is constructed is
        for the reader of the field to check), else None, and nothing is taken."""
        index = self._index
        if index < len(self._children) and self._children[index][0] | 0x20 == identifier | 0x20:
            self._index = index + 1
            return self._children[index]
        return None

    def end(self) -> None:
        """Raise unless every field was taken."""
        if self._index != len(self._children):
            raise DERError(
                f"{self._what}: {len(self._children) - self._index} unexpected field(s) at the end"
            )


def value(node: Node) -> bytes:
    """The value octets (no tag, no length)."""
    return node[5][node[2] : node[3]]


def encoding(node: Node) -> bytes:
    """The whole TLV as it was sent."""
    return node[5][node[1] : node[3]]


def integer(node: Node, what: str) -> int:
    """An INTEGER's value. Leading octets that DER forbids are tolerated, as asn1crypto did."""
    expect(node, INTEGER, what)
    if node[2] == node[3]:
        raise DERError(f"{what}: empty INTEGER")
    return int.from_bytes(node[5][node[2] : node[3]], "big", signed=True)


def octet_string(node: Node, what: str) -> bytes:
    return value(expect(node, OCTET_STRING, what))


def object_identifier(node: Node, what: str) -> str:
    """An OBJECT IDENTIFIER in dotted form."""
    expect(node, OBJECT_IDENTIFIER, what)
    return dotted(node[5][node[2] : node[3]])


@lru_cache(maxsize=1024)
def dotted(encoded: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's value octets (X.690 section 8.19), which must
    be minimal. Remembered: a verifier sees the same few dozen over and over."""
    if not encoded or encoded[-1] & 0x80:
        raise DERError("truncated OBJECT IDENTIFIER")
    arcs: list[int] = []
    arc = 0
    starting = True
    for octet in encoded:
        if starting and octet == 0x80:
            raise DERError("non-minimal OBJECT IDENTIFIER")
        arc = (arc << 7) | (octet & 0x7F)
        starting = not octet & 0x80
        if starting:
            arcs.append(arc)
            arc = 0
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return ".".join(str(part) for part in (*head, *arcs[1:]))


def length_octets(length: int) -> bytes:
    """The DER length octets for a value of `length` octets."""
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets
