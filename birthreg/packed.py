"""Texts kept compactly: Zstandard with a dictionary made of earlier texts of their kind.

A registry keeps every dossier, its verification report and its signed receipt for ever. Most of
their bytes repeat from one submission to the next: the facility's seal certificate and the CA
chain inside every signature (base64, which PostgreSQL's own TOAST compression, pglz, does not
shrink at all), the report's checks and subjects, the registry office's chain in every receipt.
A compressor given a dictionary that holds a few earlier texts of the same kind finds those
repeats: a 7 KB dossier keeps about 1.3 KB, a 9.5 KB report 0.35 KB, a 3.5 KB receipt 0.24 KB
(measured on seeded data; README, "Storage").

Values are written with Zstandard (RFC 8878; the `zstandard` package) at level 3, its dictionary
given as raw content. Earlier values were DEFLATE (RFC 1951) with the same dictionaries as zlib's
preset dictionary, at level 9; they are read as before. Zstandard keeps 2% fewer bytes than that
DEFLATE and packs three to six times faster (measured 2026-12-06 on seeded texts: a dossier
31 µs instead of 114, a report 19 instead of 113).

The stored value is one of
    b"\\x00" + the UTF-8 text                       (tiny texts: nothing to gain)
    b"\\x01" + raw DEFLATE of it                    (read only: no dictionary helped)
    b"\\x02" + 16-byte dictionary id + raw DEFLATE  (read only: with that dictionary)
    b"\\x03" + a Zstandard frame of it              (no dictionary helped)
    b"\\x04" + 16-byte dictionary id + a Zstandard frame with that dictionary (raw content)
and decoding it gives back the exact text that was stored (nothing is re-serialised, so a
signature over any of it still verifies).

Dictionaries (`stored_dictionary`) are addressed by their content (the first 16 bytes of its
SHA-256), never changed, and kept per kind (e.g. "dossier:<facility BIN>"). A text that the
kind's newest dictionary helps little (packed with the dictionary it is more than `POOR` × what
it is without) makes a new dictionary of the old one's newest part and the text, at most
`MAX_PER_KIND` a kind, so they stay few: new content only comes with a new facility, a new seal,
a new CA. Being content-addressed, a dictionary read once is cached for the process, whatever
database it came from.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
import zstandard
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session

RAW: Final = 0
DEFLATED: Final = 1
WITH_DICTIONARY: Final = 2
ZSTANDARD: Final = 3
ZSTANDARD_WITH_DICTIONARY: Final = 4
#: The forms whose value names a dictionary (its id after the form's byte).
DICTIONARY_FORMS: Final = frozenset({WITH_DICTIONARY, ZSTANDARD_WITH_DICTIONARY})
ID_BYTES: Final = 16
#: Where a dictionary is cut: its newest 32 KB (zlib's window, kept for Zstandard).
DICTIONARY_BYTES: Final = 32 * 1024
#: Texts shorter than this are kept as they are.
SMALL: Final = 64
#: A dictionary that leaves more than this share of what no dictionary leaves is renewed.
POOR: Final = 0.6
MAX_PER_KIND: Final = 64
#: Zstandard's level: 9 keeps 2% fewer bytes of these texts at two to three times the time.
LEVEL: Final = 3
#: What a stored value may unpack to at most: a bound on a damaged or hostile frame.
MAX_TEXT_BYTES: Final = 64 * 1024 * 1024

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


@functools.lru_cache(maxsize=64)
def _zstd_dictionary(content: bytes, level: int | None) -> zstandard.ZstdCompressionDict:
    """A dictionary as Zstandard takes it, its content raw (never read as a trained
    dictionary, whatever its first bytes); made ready once for compressing at `level` (None:
    for reading): digesting 32 KB costs more than compressing a dossier with it. Shared between
    threads (its use is read-only); compressors are not, so each Packer keeps its own."""
    made = zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    if level is not None:
        made.precompute_compress(level=level)
    return made


def _compressor(level: int, content: bytes | None) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(
        level=level, dict_data=None if content is None else _zstd_dictionary(content, level),
        write_checksum=False, write_content_size=True, write_dict_id=False,
    )


def _unzstd(data: bytes, content: bytes | None = None) -> bytes:
    dict_data = None if content is None else _zstd_dictionary(content, None)
    try:
        return zstandard.ZstdDecompressor(dict_data=dict_data).decompress(
            data, max_output_size=MAX_TEXT_BYTES)
    except zstandard.ZstdError as exc:
        raise PackedError(f"a damaged Zstandard value: {exc}") from None


def _inflate(data: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        unpacker = zlib.decompressobj(-15)
    else:
        unpacker = zlib.decompressobj(-15, zdict=dictionary)
    try:
        return unpacker.decompress(data) + unpacker.flush()
    except zlib.error as exc:
        raise PackedError(f"a damaged DEFLATE value: {exc}") from None


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
        self, connection: Connection | None, *, check_every: int = 1, level: int = LEVEL
    ) -> None:
        self.connection = connection
        #: A dictionary's worth (`POOR`) is checked against no dictionary for one text of a
        #: kind in `check_every` (the check doubles the packing's cost): every text in the
        #: service; `birthreg seed`, packing a million texts of one shape, checks fewer.
        self.check_every = check_every
        #: Zstandard's level (the service's: `LEVEL`). Any level gives a value that unpacks
        #: the same way.
        self.level = level
        self._compressors: dict[bytes | None, zstandard.ZstdCompressor] = {}
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
            return self._with(newest, data)
        plain = self._compress(data, None)
        best = bytes([ZSTANDARD]) + plain if len(plain) < len(data) else bytes([RAW]) + data
        if newest is not None:
            packed = self._with(newest, data)
            if len(packed) - 1 - ID_BYTES <= POOR * len(plain):
                return packed
            best = min(best, packed, key=len)
        renewed = self._renew(kind, newest, data)
        if renewed is None:
            return best
        return min(best, self._with(renewed, data), key=len)

    def _with(self, dictionary: tuple[bytes, bytes], data: bytes) -> bytes:
        """`data` packed with `dictionary` (its id and content)."""
        packed = self._compress(data, dictionary)
        return bytes([ZSTANDARD_WITH_DICTIONARY]) + dictionary[0] + packed

    def _compress(self, data: bytes, dictionary: tuple[bytes, bytes] | None) -> bytes:
        """`data` as a Zstandard frame, with `dictionary` (id, content) or none."""
        ident = None if dictionary is None else dictionary[0]
        compressor = self._compressors.get(ident)
        if compressor is None:
            content = None if dictionary is None else dictionary[1]
            compressor = self._compressors[ident] = _compressor(self.level, content)
        packed: bytes = compressor.compress(data)
        return packed

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
        """A new dictionary for `kind`: the newest one's end followed by `data` (the nearest
        matches are the cheapest to refer to, and the newest texts the likeliest to repeat);
        None when the kind has its `MAX_PER_KIND` already."""
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
    if form == ZSTANDARD:
        return _unzstd(body).decode("utf-8")
    if form == ZSTANDARD_WITH_DICTIONARY:
        ident, body = body[:ID_BYTES], body[ID_BYTES:]
        return _unzstd(body, dictionary(connection, ident)).decode("utf-8")
    raise PackedError(f"unknown form {form}")
