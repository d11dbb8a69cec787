"""Likely duplicates of a dossier at intake (DESIGN.md, "Duplicates"): other submissions, not
rejected, of another medical record that

- name the same mother with a child born within 270 days (a mother gives birth again no sooner),
  except a child of another birth order born within a day (twins of one delivery), or
- name a child of the same surname and given name born within 3 days at another facility, of
  any mother (a mother moved between wards, the birth recorded at both under different IINs).
  Within one facility a second record of the same birth under another mother's IIN could not
  be signed by its mother (her certificate must carry the record's IIN), and two children of
  the same name born the same week in one ward are two children.

Each is a range on an index: (mother_iin) and (child_name_key, child_born_at). The child's name
key is the surname and the given name compared case-folded, with ё read as е (NFC first).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, bindparam, or_

from birthreg.models import Submission, SubmissionStatus

#: The same mother: births this close are the same birth (or one delivery's children).
SAME_MOTHER_WINDOW: Final = timedelta(days=270)
#: Children of one mother and of different birth orders born this close are one delivery's.
SAME_DELIVERY_WINDOW: Final = timedelta(days=1)
#: The same child's names: births this close, anywhere, may be the same birth.
SAME_NAMES_WINDOW: Final = timedelta(days=3)
#: The longest child's name key kept (surname and given name are at most 64 characters each).
MAX_NAME_KEY_LENGTH: Final = 130

_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]


def normalise_name(text: str) -> str:
    """A name as it is compared: NFC, case-folded, ё as е, spaces collapsed."""
    folded = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    return " ".join(folded.split())


def child_name_key(application: Mapping[str, Any]) -> str | None:
    """The child's surname and given name as compared (None when either is missing)."""
    child = application.get("child")
    if not isinstance(child, Mapping):
        return None
    surname, given_name = child.get("surname"), child.get("given_name")
    if not isinstance(surname, str) or not isinstance(given_name, str):
        return None
    key = f"{normalise_name(surname)}|{normalise_name(given_name)}"
    return key[:MAX_NAME_KEY_LENGTH]


_LIKELY_DUPLICATES = (
    _SUBMISSIONS.select()
    .with_only_columns(_SUBMISSIONS.c.id, _SUBMISSIONS.c.duplicate_candidates)
    .where(
        _SUBMISSIONS.c.medical_record_id != bindparam("record"),
        _SUBMISSIONS.c.status != SubmissionStatus.REJECTED.value,
        or_(
            (_SUBMISSIONS.c.mother_iin == bindparam("mother"))
            & (_SUBMISSIONS.c.child_born_at >= bindparam("mother_from"))
            & (_SUBMISSIONS.c.child_born_at <= bindparam("mother_to"))
            & ~(
                (_SUBMISSIONS.c.birth_order != bindparam("order"))
                & (_SUBMISSIONS.c.child_born_at >= bindparam("delivery_from"))
                & (_SUBMISSIONS.c.child_born_at <= bindparam("delivery_to"))
            ),
            (_SUBMISSIONS.c.child_name_key == bindparam("name_key"))
            & (_SUBMISSIONS.c.child_born_at >= bindparam("names_from"))
            & (_SUBMISSIONS.c.child_born_at <= bindparam("names_to"))
            & (_SUBMISSIONS.c.facility_bin != bindparam("facility")),
        ),
    )
    .order_by(_SUBMISSIONS.c.received_at, _SUBMISSIONS.c.id)
)


def likely_duplicates(
    connection: Connection,
    *,
    mother_iin: str,
    medical_record_id: str,
    born_at: datetime,
    birth_order: int,
    name_key: str | None,
    facility_bin: str,
) -> list[tuple[str, str]]:
    """The likely duplicates' ids, each with its own list of candidates (JSON text), oldest
    first."""
    rows = connection.execute(
        _LIKELY_DUPLICATES,
        {
            "record": medical_record_id,
            "mother": mother_iin,
            "mother_from": born_at - SAME_MOTHER_WINDOW,
            "mother_to": born_at + SAME_MOTHER_WINDOW,
            "order": birth_order,
            "delivery_from": born_at - SAME_DELIVERY_WINDOW,
            "delivery_to": born_at + SAME_DELIVERY_WINDOW,
            # No key matches nothing: NULL = NULL is not true in SQL.
            "name_key": name_key,
            "names_from": born_at - SAME_NAMES_WINDOW,
            "names_to": born_at + SAME_NAMES_WINDOW,
            "facility": facility_bin,
        },
    ).all()
    return [(str(row[0]), str(row[1])) for row in rows]
