"""`birthreg seed`'s rows packed as the service packs them (`birthreg.packed`): a submission's
dossier, report and receipt, a birth's seal, an application's signatures.

Rows are made in worker processes with no database connection: each worker packs with its own
`Packer` (kept across its batches), which makes its dictionaries from the first texts of each
kind; the dictionaries a batch's values use come back with the batch and are written in its
transaction, before its rows.
"""

from __future__ import annotations

from typing import Any

from zlib_ng import zlib_ng

from birthreg.packed import Packer
from birthreg.parents.service import SIGNATURE_KIND
from birthreg.registry.stored import PACKED_COLUMNS, kind
from birthreg.ward.context import seal_kind

#: One text of a kind in this many has its dictionary's worth checked (`Packer.check_every`):
#: the seed's texts of a kind all have one shape, and the check would double the packing.
CHECK_EVERY = 100
#: zlib's level (`Packer.level`) for the reports, and for every other text. The service packs
#: at 9; at 3 a dossier, receipt, seal or signature packs a sixth to a quarter faster and a
#: percent larger, a report twice as fast but a fifth larger, so reports keep a higher level
#: (6: an eighth faster than 9, 4% larger). In all, 1.6% more bytes a birth (3,518 instead of
#: 3,463, measured on 3,000 seeded births).
REPORT_LEVEL = 6
LEVEL = 3
# With zlib-ng's DEFLATE (the same format, which the service reads with Python's zlib) instead
# of zlib's: 0.17 instead of 0.21 ms of a birth at these levels, and 1% fewer bytes (3,390
# instead of 3,424 a birth, measured on 4,000 seeded births).
_PACKERS: dict[int, Packer] = {}


def _packer(level: int) -> Packer:
    if level not in _PACKERS:
        _PACKERS[level] = Packer(None, check_every=CHECK_EVERY, level=level,
                                 compressobj=zlib_ng.compressobj)
    return _PACKERS[level]


def pack_tables(tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, object]]:
    """Pack the batch's rows in place; the dictionaries made for them (to write first)."""
    packer = _packer(LEVEL)
    by_column = {column: _packer(REPORT_LEVEL if column == "report" else LEVEL)
                 for column in PACKED_COLUMNS}
    for submission in tables.get("registry_submission", []):
        for column, column_packer in by_column.items():  # as registry.stored.pack_values
            if isinstance(submission[column], str):
                submission[column] = column_packer.pack(
                    kind(column, submission["facility_bin"]), submission[column]
                )
    for birth in tables.get("birth", []):
        seal = birth["seal_signature"]
        if isinstance(seal, bytes):  # the seal's base64, ASCII
            seal = seal.decode("ascii")
        birth["seal_signature"] = packer.pack(seal_kind(birth["facility_id"]), seal)
    for application in tables.get("parents_application", []):
        for column in ("mother_signature", "father_signature"):
            if isinstance(application[column], str):
                application[column] = packer.pack(SIGNATURE_KIND, application[column])
    made = []
    for each in _PACKERS.values():
        made.extend(each.made)
        each.made.clear()
    return made
