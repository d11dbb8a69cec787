"""A submission's dossier, report and receipt as stored: packed (`birthreg.packed`).

The dossier is kept once, as received; its verification report and the signed receipt beside it,
each packed with a dictionary of its kind: dossiers and reports per facility (its seal and chain
repeat in each), receipts per registry (its seal's chain). Reading gives back the exact texts
that were stored, so the receipt's signature and the dossier's digest still verify.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from sqlalchemy import Connection

from birthreg.packed import Packer, text_of, unpack

PACKED_COLUMNS = ("dossier", "report", "receipt")


def kind(column: str, facility_bin: str) -> str:
    """The dictionary kind of a submission's column."""
    return "receipt" if column == "receipt" else f"{column}:{facility_bin}"


def pack_values(packer: Packer, values: MutableMapping[str, Any]) -> None:
    """Pack a new submission's dossier, report and receipt (JSON texts) in place."""
    for column in PACKED_COLUMNS:
        if isinstance(values[column], str):
            values[column] = packer.pack(kind(column, values["facility_bin"]), values[column])


def text(connection: Connection, value: bytes) -> str:
    """A packed column's text (a row read with Core)."""
    return unpack(connection, value)


def _text_of(submission: Any, column: str) -> str:
    text = text_of(submission, column)
    assert text is not None  # the columns are NOT NULL
    return text


def dossier_text(submission: Any) -> str:
    """The dossier's JSON text, as received (a Submission loaded in a session)."""
    return _text_of(submission, "dossier")


def report_text(submission: Any) -> str:
    """The verification report's JSON text, as made at receipt."""
    return _text_of(submission, "report")


def receipt_text(submission: Any) -> str:
    """The signed receipt's JSON text."""
    return _text_of(submission, "receipt")
