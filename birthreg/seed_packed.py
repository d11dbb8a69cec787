"""`birthreg seed`'s rows packed as the service packs them (`birthreg.packed`): a submission's
dossier, report and receipt, a birth's seal, an application's signatures.

Rows are made in worker processes with no database connection: each worker packs with its own
`Packer` (kept across its batches), which makes its dictionaries from the first texts of each
kind; the dictionaries a batch's values use come back with the batch and are written in its
transaction, before its rows.
"""

from __future__ import annotations

from typing import Any

from birthreg.packed import Packer
from birthreg.parents.service import SIGNATURE_KIND
from birthreg.registry.stored import PACKED_COLUMNS, kind
from birthreg.ward.context import seal_kind

#: One text of a kind in this many has its dictionary's worth checked (`Packer.check_every`):
#: the seed's texts of a kind all have one shape, and the check would double the packing.
CHECK_EVERY = 100
_PACKERS: list[Packer] = []


def _packer() -> Packer:
    """This process's packer, kept across its batches (with its dictionaries and compressors),
    at the service's level."""
    if not _PACKERS:
        _PACKERS.append(Packer(None, check_every=CHECK_EVERY))
    return _PACKERS[0]


def pack_tables(tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, object]]:
    """Pack the batch's rows in place; the dictionaries made for them (to write first)."""
    packer = _packer()
    for submission in tables.get("registry_submission", []):
        for column in PACKED_COLUMNS:  # as registry.stored.pack_values
            if isinstance(submission[column], str):
                submission[column] = packer.pack(
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
    made = list(packer.made)
    packer.made.clear()
    return made
