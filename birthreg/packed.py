"""Texts kept compactly: DEFLATE with a preset dictionary made of earlier texts of their kind.

A registry keeps every dossier, its verification report and its signed receipt for ever. Most of
their bytes repeat from one submission to the next: the facility's seal certificate and the CA
chain inside every signature (base64, which PostgreSQL's own TOAST compression, pglz, does not
shrink at all), the report's checks and subjects, the registry office's chain in every receipt.
DEFLATE given a preset dictionary (RFC 1950's FDICT, zlib's `zdict`) that holds a few earlier
texts of the same kind finds those repeats: a 7 KB dossier keeps about 1.6 KB, a 9.5 KB report
0.4 KB, a 3.5 KB receipt 0.3 KB (measured on seeded data; README, "Storage").

The stored value is one of
    b"\\x00" + the UTF-8 text                       (tiny texts: nothing to gain)
    b"\\x01" + raw DEFLATE of it                    (no dictionary helped)
    b"\\x02" + 16-byte dictionary id + raw DEFLATE  (with that dictionary)
and decoding it gives back the exact text that was stored (nothing is re-serialised, so a
signature over any of it still verifies).

Dictionaries (`stored_dictionary`) are addressed by their content (the first 16 bytes of its
SHA-256), never changed, and kept per kind (e.g. "dossier:<facility BIN>"). A text that the
kind's newest dictionary helps little (its DEFLATE with the dictionary is more than
`POOR` × its DEFLATE without) makes a new dictionary of the old one's newest part and the text,
at most `MAX_PER_KIND` a kind, so they stay few: new content only comes with a new facility, a
new seal, a new CA. Being content-addressed, a dictionary read once is cached for the process,
whatever database it came from.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session

RAW: Final = 0
DEFLATED: Final = 1
WITH_DICTIONARY: Final = 2
ID_BYTES: Final = 16
#: zlib's window: a dictionary longer than this is cut to its end anyway.
DICTIONARY_BYTES: Final = 32 * 1024
#: Texts shorter than this are kept as they are.
SMALL: Final = 64
#: A dictionary that leaves more than this share of what plain DEFLATE leaves is renewed.
POOR: Final = 0.6
MAX_PER_KIND: Final = 64
LEVEL: Final = 9

_DICTIONARIES = sa.table(
    "stored_dictionary",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("data", sa.LargeBinary),
    sa.column("created_at", sa.DateTime),
)
#: Dictionaries by id: their content never changes, so this holds across databases.
_CACHE: dict[bytes, bytes] = {}


class PackedError(ValueError):
    """A stored value that cannot be read (an unknown form or dictionary)."""


#: zlib's `compressobj`, or another library's with the same signature writing the same format
#: (zlib-ng's, faster: `birthreg seed` packs with it).
Compressor = Callable[..., Any]


def _deflate(data: bytes, dictionary: bytes | None = None, level: int = LEVEL,
             compressobj: Compressor = zlib.compressobj) -> bytes:
    if dictionary is None:
        packer = compressobj(level, zlib.DEFLATED, -15)
    else:
        packer = compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    deflated: bytes = packer.compress(data) + packer.flush()
    return deflated


def _inflate(data: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        unpacker = zlib.decompressobj(-15)
    else:
        unpacker = zlib.decompressobj(-15, zdict=dictionary)
    return unpacker.decompress(data) + unpacker.flush()


def dictionary_id(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:ID_BYTES]


class Packer:
    """Packs texts, reading dictionaries through `connection`, and remembers each kind's newest
    dictionary while it lives (one per intake, one per seed batch). A dictionary it makes is
    kept in `made` until `write` stores it, in the transaction that stores the packed values
    (so that packing can run before that transaction starts).

    Without a connection (`birthreg seed`'s worker processes) it knows only the dictionaries it
    made itself, and the caller writes `made` where the values go.
    """

    def __init__(
        self, connection: Connection | None, *, check_every: int = 1, level: int = LEVEL,
        compressobj: Compressor = zlib.compressobj,
    ) -> None:
        self.connection = connection
        #: A dictionary's worth (`POOR`) is checked against plain DEFLATE for one text of a
        #: kind in `check_every` (the check doubles the packing's cost): every text in the
        #: service; `birthreg seed`, packing a million texts of one shape, checks fewer.
        self.check_every = check_every
        #: zlib's compression level (the service's: `LEVEL`). Any level gives a value that
        #: unpacks the same way; a lower one is faster and leaves a little more.
        self.level = level
        #: The DEFLATE library's compressobj: any writes values `unpack` reads.
        self.compressobj = compressobj
        self._packed: dict[str, int] = {}
        self._newest: dict[str, tuple[bytes, bytes] | None] = {}
        self._made_count: dict[str, int] = {}
        self.made: list[dict[str, object]] = []

    def write(self, connection: Connection) -> None:
        """Store the dictionaries made so far (in the transaction of the values packed)."""
        store_dictionaries(connection, self.made)
        self.made.clear()

    def pack(self, kind: str, text: str) -> bytes:
        data = text.encode("utf-8")
        if len(data) < SMALL:
            return bytes([RAW]) + data
        newest = self._current(kind)
        packed_before = self._packed.get(kind, 0)
        self._packed[kind] = packed_before + 1
        if newest is not None and packed_before % self.check_every:
            return bytes([WITH_DICTIONARY]) + newest[0] + self._deflate(data, newest[1])
        plain = self._deflate(data, None)
        best = bytes([DEFLATED]) + plain if len(plain) < len(data) else bytes([RAW]) + data
        if newest is not None:
            ident, dictionary = newest
            deflated = self._deflate(data, dictionary)
            packed = bytes([WITH_DICTIONARY]) + ident + deflated
            if len(deflated) <= POOR * len(plain):
                return packed
            best = min(best, packed, key=len)
        renewed = self._renew(kind, newest, data)
        if renewed is None:
            return best
        ident, dictionary = renewed
        deflated = self._deflate(data, dictionary)
        return min(best, bytes([WITH_DICTIONARY]) + ident + deflated, key=len)

    def _deflate(self, data: bytes, dictionary: bytes | None) -> bytes:
        return _deflate(data, dictionary, self.level, self.compressobj)

    def _current(self, kind: str) -> tuple[bytes, bytes] | None:
        if kind not in self._newest and self.connection is not None:
            found = self.connection.execute(
                sa.select(_DICTIONARIES.c.id)
                .where(_DICTIONARIES.c.kind == kind)
                .order_by(_DICTIONARIES.c.created_at.desc(), _DICTIONARIES.c.id)
                .limit(1)
            ).scalar_one_or_none()
            self._newest[kind] = None
            if found is not None:
                ident = bytes.fromhex(found)
                self._newest[kind] = (ident, dictionary(self.connection, ident))
        return self._newest.get(kind)

    def _renew(
        self, kind: str, newest: tuple[bytes, bytes] | None, data: bytes
    ) -> tuple[bytes, bytes] | None:
        """A new dictionary for `kind`: the newest one's end followed by `data` (zlib finds near
        matches cheapest, and the newest texts are the likeliest to repeat); None when the kind
        has its `MAX_PER_KIND` already."""
        count = self._made_count.get(kind, 0)
        if self.connection is not None:
            count += self.connection.execute(
                sa.select(sa.func.count()).select_from(_DICTIONARIES).where(
                    _DICTIONARIES.c.kind == kind
                )
            ).scalar_one()
        if count >= MAX_PER_KIND:
            return None
        content = ((newest[1] if newest else b"") + data)[-DICTIONARY_BYTES:]
        ident = dictionary_id(content)
        self.made.append({
            "id": ident.hex(), "kind": kind, "data": content,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        })
        _CACHE[ident] = content
        self._newest[kind] = (ident, content)
        self._made_count[kind] = self._made_count.get(kind, 0) + 1
        return ident, content


def store_dictionaries(connection: Connection, made: list[dict[str, object]]) -> None:
    """Store dictionaries a packer made (`Packer.made`), in the transaction of the values packed
    with them. The same content made by a concurrent writer is the same dictionary: kept once."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    for values in made:
        connection.execute(dialect.insert(_DICTIONARIES).values(values).on_conflict_do_nothing())


def text_of(row: Any, column: str) -> str | None:
    """The text of a packed column of an ORM object (None stays None). The object's session's
    connection is asked for only when the dictionary is not cached (on SQLite a transaction
    begun for a read would take the write lock); an object no longer in a session is read with
    the dictionaries this process has read or made."""
    value = getattr(row, column)
    if value is None:
        return None
    session = object_session(row)

    def detached() -> Connection:
        raise PackedError(f"{type(row).__name__}.{column}: its dictionary is not at hand")

    return unpack(detached if session is None else session.connection, value)


def pack_for(row: Any, kind: str, text: str) -> bytes:
    """`text` packed for a column of `row` (an ORM object added to a session), a dictionary
    made for it written in the session's transaction."""
    session = object_session(row)
    if session is None:
        raise PackedError(f"{type(row).__name__} is in no session")
    connection = session.connection()
    packer = Packer(connection)
    packed = packer.pack(kind, text)
    packer.write(connection)
    return packed


def plain(text: str) -> bytes:
    """A text's packed value kept as it is (no dictionary: it needs no database to make)."""
    return bytes([RAW]) + text.encode("utf-8")


def dictionary(connection: Connection | Callable[[], Connection], ident: bytes) -> bytes:
    """The dictionary `ident` (from the cache, else from the database: `connection` may be a
    callable giving one, called only then)."""
    found = _CACHE.get(ident)
    if found is None:
        if not isinstance(connection, Connection):
            connection = connection()
        found = connection.execute(
            sa.select(_DICTIONARIES.c.data).where(_DICTIONARIES.c.id == ident.hex())
        ).scalar_one_or_none()
        if found is None or dictionary_id(bytes(found)) != ident:
            raise PackedError(f"dictionary {ident.hex()} is missing")
        found = _CACHE[ident] = bytes(found)
    return found


def unpack(connection: Connection | Callable[[], Connection], value: bytes) -> str:
    """The text a packed value holds, exactly as it was packed (`connection`: as `dictionary`'s).
    """
    value = bytes(value)
    if not value:
        raise PackedError("an empty value")
    form, body = value[0], value[1:]
    if form == RAW:
        return body.decode("utf-8")
    if form == DEFLATED:
        return _inflate(body).decode("utf-8")
    if form == WITH_DICTIONARY:
        ident, body = body[:ID_BYTES], body[ID_BYTES:]
        return _inflate(body, dictionary(connection, ident)).decode("utf-8")
    raise PackedError(f"unknown form {form}")
