"""The keys a submission is found by (`birthreg.registry.search` reads them).

Every submission has rows in `registry_search_key`, one per thing it is found by, written in the
transaction that makes them true: at intake (the parents' IINs, the surnames, the tracking
number) and at registration or a new certificate (the child's IIN, the act record, the
certificate number). A key is the kind and the normalised text (`i:870412450123`,
`s:каримова`), so that one B-tree index serves every kind: an exact look-up for numbers, a range
for a surname's prefix. Surnames are compared case-folded, with ё read as е (NFC first, so that
Kazakh letters typed with combining marks match the precomposed ones).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final

from sqlalchemy import Connection, bindparam, insert, select

from birthreg.models import Submission
from birthreg.registry.record_models import SEARCH_KEY_TYPE, SearchKey

_KEYS = SearchKey.__table__  # type: ignore[attr-defined]
_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]
# Each key with its submission's time, read from the submission in the same statement.
_INSERT_KEYS = insert(_KEYS).from_select(
    ["key", "submission_id", "received_at"],
    select(
        bindparam("key", type_=SEARCH_KEY_TYPE), _SUBMISSIONS.c.id, _SUBMISSIONS.c.received_at
    ).where(_SUBMISSIONS.c.id == bindparam("submission_id")),
)
_NUMBER: Final = re.compile(r"^0*(\d{1,9})(?:-0*(\d{1,4}))?$")
#: What a certificate number may start with as people copy it: the series and "№" (or "N").
SERIES: Final = re.compile(r"^(?:TEST-I)?\s*(?:№|N)?\s*", re.IGNORECASE)


def normalise_name(text: str) -> str:
    """A name as it is compared: NFC, case-folded, ё as е, spaces collapsed."""
    folded = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    return " ".join(folded.split())


def certificate_key(number: str) -> str:
    """The key of a certificate number: `TEST-I № 000123-2` → `c:123-2`."""
    digits = SERIES.sub("", number.strip())
    match = _NUMBER.match(digits)
    if match is None:
        return "c:" + digits
    return "c:" + match.group(1) + (f"-{match.group(2)}" if match.group(2) else "")


def submission_keys(dossier: Mapping[str, Any], tracking_number: str) -> list[str]:
    """The keys known at intake: the parents' IINs, the three surnames, the tracking number."""
    record = _document(dossier, "medical_record")
    application = _document(dossier, "application")
    people = [record.get("mother"), application.get("child"), application.get("father")]
    keys = {f"t:{tracking_number}"}
    for person in people:
        if isinstance(person, Mapping) and person.get("iin"):
            keys.add(f"i:{person['iin']}")
    keys.update(name_keys(people))
    return sorted(keys)


def _document(dossier: Mapping[str, Any], part: str) -> Mapping[str, Any]:
    """A part's document; empty for a row made by other means (an import, a test) without it."""
    document = (dossier.get(part) or {}).get("document")
    return document if isinstance(document, Mapping) else {}


def name_keys(people: Iterable[Mapping[str, Any] | None]) -> set[str]:
    """The surname keys of these people (a correction adds the new spellings)."""
    return {
        "s:" + normalise_name(str(person["surname"]))[:100]
        for person in people
        if isinstance(person, Mapping) and person.get("surname")
    }


def registration_keys(
    child_iin: str, year: int, act_record_number: int, certificate_number: str
) -> list[str]:
    """The keys a registration adds: the child's IIN, the act record, the certificate."""
    return [
        f"i:{child_iin}",
        f"a:{act_record_number}",
        f"a:{year}/{act_record_number}",
        certificate_key(certificate_number),
    ]


def add_keys(connection: Connection, submission_id: str, keys: Iterable[str]) -> None:
    """Write the keys of a submission (in the caller's transaction; its row written before)."""
    rows = [{"key": key, "submission_id": submission_id} for key in keys]
    if rows:
        connection.execute(_INSERT_KEYS, rows)
