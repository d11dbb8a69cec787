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


def _unescaped(row: list[Any]) -> str:
    """A row whose strings need no escaping, as a COPY line (without its newline)."""
    return "\t".join([
        value if type(value) is str else _text(value)
        for value in row
    ])


def field(value: Any) -> str:
    """One value in COPY text format."""
    if isinstance(value, str):
        return _SPECIAL.sub(_escaped, value) if _SPECIAL.search(value) else value
    return _text(value)


def lines(rows: list[list[Any]]) -> list[str]:
    """Rows of values as COPY lines (without their newlines). Almost always no string in them
    needs escaping: that is seen in one look over them all, and then each value is only
    written; else each string is escaped as it needs."""
    strings = "\0".join([value for row in rows for value in row if isinstance(value, str)])
    if _SPECIAL.search(strings) is None:
        return [_unescaped(row) for row in rows]
    return ["\t".join([field(value) for value in row]) for row in rows]


def line(values: Iterable[Any]) -> str:
    """One row as a COPY line."""
    return lines([list(values)])[0] + "\n"


def table(rows: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The columns (the first row's keys) and the COPY text of rows that all have them."""
    columns = tuple(rows[0])
    if any(len(row) != len(columns) for row in rows):
        raise ValueError("every row of a COPY must have the same columns")
    text = lines([[row[column] for column in columns] for row in rows])
    return columns, "\n".join(text) + "\n"
