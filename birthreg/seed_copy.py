"""Rows in PostgreSQL's COPY text format: made where the seed's rows are made (its worker
processes), so that the process holding the connection only sends them.

The format (PostgreSQL's documentation, COPY, "Text Format"): one line per row, columns separated
by tabs, NULL as \\N, and in values a backslash, and the backspace, form feed, newline, carriage
return, tab and vertical tab characters written as backslash sequences. Times are written as the
columns keep them: naive UTC (see models.UTCDateTime); bytea as its hex form (\\x…, its backslash
doubled as any other).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

_SPECIAL = re.compile(r"[\\\b\f\n\r\t\v]")
_ESCAPES = {
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escaped(match: re.Match[str]) -> str:
    return _ESCAPES[match.group(0)]


def plain(value: Any) -> Any:
    """A value as the column keeps it: times as naive UTC (see models.UTCDateTime)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _null(_value: None) -> str:
    return "\\N"


def _same(value: str) -> str:
    return value


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _datetime(value: datetime) -> str:
    return str(plain(value).isoformat())


def _bytes(value: bytes) -> str:
    return "\\\\x" + value.hex()


#: A value's text (not yet escaped) by its type, looked up by its exact type first (a row has
#: tens of values, a million births tens of millions). bool before int, datetime before date:
#: the first that fits a subclass (an enum) is its own.
_BY_TYPE: dict[type, Callable[[Any], str]] = {
    type(None): _null, str: _same, bool: _bool, int: str, datetime: _datetime,
    date: date.isoformat, bytes: _bytes,
}


def _text(value: Any) -> str:
    """A value's text, not yet escaped."""
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    for kind, convert in _BY_TYPE.items():
        if isinstance(value, kind):
            return convert(value)
    raise TypeError(f"no COPY text form for a {type(value).__name__}")


def field(value: Any) -> str:
    """One value in COPY text format."""
    if isinstance(value, str):
        return _SPECIAL.sub(_escaped, value) if _SPECIAL.search(value) else value
    return _text(value)


def _plain_text(text: str) -> bool:
    """Whether a text has none of the characters COPY escapes (a substring search for each is
    tens of times faster than one look with _SPECIAL over a long text)."""
    return not any(character in text for character in _ESCAPES)


#: Times in UTC already written (`_utc`): a seed's batch writes each about three times (rows
#: of several tables, and audit events, share them).
_UTC_TEXTS: dict[datetime, str] = {}
_UTC_TEXTS_KEPT = 1 << 15


def _utc(values: Sequence[datetime]) -> list[str]:
    """Times in UTC (tzinfo `UTC` itself, so that equal times are equal in every field) as
    `_datetime` writes them: their ISO form less its "+00:00" (astimezone(UTC) returns such a
    time itself)."""
    known = _UTC_TEXTS
    if len(known) > _UTC_TEXTS_KEPT:
        known.clear()
    for value in set(values).difference(known):
        known[value] = value.isoformat()[:-6]
    return list(map(known.__getitem__, values))


def _null_column(values: Sequence[None]) -> list[str]:
    return ["\\N"] * len(values)


#: A column's texts when all its values are of one of these exact types.
_COLUMN_BY_TYPE: dict[type, Callable[[Sequence[Any]], Sequence[str]]] = {
    type(None): _null_column,
    bool: lambda values: list(map(_bool, values)),
    int: lambda values: list(map(str, values)),
    bytes: lambda values: list(map(_bytes, values)),
    date: lambda values: list(map(date.isoformat, values)),
}


def column(values: Sequence[Any]) -> Sequence[str]:
    """A column's values in COPY text format, each exactly as `field` writes it: the conversion
    is chosen once for the column when its values are all of one type (or that and None)."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is str:
            return values if _plain_text("\0".join(values)) else [field(v) for v in values]
        if kind is datetime and all(value.tzinfo is UTC for value in values):
            return _utc(values)
        by_type = _COLUMN_BY_TYPE.get(kind)
        if by_type is not None:
            return by_type(values)
    elif len(kinds) == 2 and type(None) in kinds:
        texts = iter(column([value for value in values if value is not None]))
        return ["\\N" if value is None else next(texts) for value in values]
    return [field(value) for value in values]


def column_lines(columns: Sequence[Sequence[Any]]) -> list[str]:
    """Rows given as their columns (each as long), as COPY lines (without their newlines)."""
    return list(map("\t".join, zip(*map(column, columns), strict=True)))


def lines(rows: list[list[Any]]) -> list[str]:
    """Rows of values as COPY lines (without their newlines): a column at a time when the rows
    are all as long, else a value at a time."""
    if rows and len(set(map(len, rows))) == 1:
        if not rows[0]:
            return [""] * len(rows)
        return column_lines(list(zip(*rows, strict=True)))
    return ["\t".join([field(value) for value in row]) for row in rows]


def line(values: Iterable[Any]) -> str:
    """One row as a COPY line."""
    return lines([list(values)])[0] + "\n"


def table(rows: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The columns (the first row's keys) and the COPY text of rows that all have them."""
    columns = tuple(rows[0])
    if set(map(len, rows)) != {len(columns)}:
        raise ValueError("every row of a COPY must have the same columns")
    if not columns:
        return columns, "\n" * len(rows)
    values: list[Sequence[Any]]
    if len(columns) == 1:
        values = [[row[columns[0]] for row in rows]]
    else:
        values = list(zip(*map(itemgetter(*columns), rows), strict=True))
    return columns, "\n".join(column_lines(values)) + "\n"
