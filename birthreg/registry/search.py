"""Finding a record: by any IIN (mother, father, child), act record number, certificate number,
tracking number, or the start of a surname (the keys: `birthreg.registry.search_keys`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, or_, select, text
from sqlmodel import Session, col

from birthreg import audit
from birthreg.errors import DomainError
from birthreg.models import BirthCertificate, Registration, Submission
from birthreg.notify import tracking
from birthreg.registry.queue import summarise
from birthreg.registry.record_models import SearchKey
from birthreg.registry.record_schemas import SearchResult, SearchResults
from birthreg.registry.search_keys import SERIES, certificate_key, normalise_name

#: Most results a search gives (newest first).
MAX_RESULTS: Final = 50
#: Longest query text read.
MAX_QUERY: Final = 100

_KEYS = SearchKey.__table__  # type: ignore[attr-defined]
_IIN: Final = re.compile(r"^\d{12}$")
_ACT_IN_YEAR: Final = re.compile(r"^(\d{4})\s*/\s*0*(\d{1,9})$")
_NUMBER: Final = re.compile(r"^0*(\d{1,9})(?:-0*(\d{1,4}))?$")
#: Anything but letters (of any script), hyphens, apostrophes and spaces is not a surname.
_NAME: Final = re.compile(r"^[^\W\d_]+(?:[-' ][^\W\d_]+)*[-' ]?$")
#: Above every character: the end of a prefix's range of keys.
_LAST: Final = "\U0010ffff"


@dataclass(frozen=True)
class Query:
    """What a query text is read as: exact keys, and the prefix of a surname."""

    exact: tuple[str, ...]
    prefix: str | None

    def kinds(self) -> list[str]:
        """The kinds of key looked for (`i`, `t`, `a`, `c`, `s`), without their values."""
        return sorted({key[0] for key in self.exact} | ({"s"} if self.prefix else set()))


def read_query(text: str) -> Query:
    """The keys a query text may mean. Raises 400 invalid_query for text that is none of them."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_QUERY:
        raise DomainError("invalid_query", f"write 1 to {MAX_QUERY} characters to search for")
    exact: list[str] = []
    compact = text.replace(" ", "")
    if _IIN.match(compact):
        exact.append(f"i:{compact}")
    if tracking.is_valid(tracking.normalise(text)):
        exact.append(f"t:{tracking.normalise(text)}")
    year_act = _ACT_IN_YEAR.match(text)
    if year_act:
        exact.append(f"a:{year_act.group(1)}/{int(year_act.group(2))}")
    number = _NUMBER.match(SERIES.sub("", text))
    if number:
        if number.group(2) is None:
            exact.append(f"a:{int(number.group(1))}")
        exact.append(certificate_key(text))
    prefix = None
    if _NAME.match(text) and not exact:
        prefix = "s:" + normalise_name(text)
    if not exact and prefix is None:
        raise DomainError(
            "invalid_query",
            "search for an IIN, an act record or certificate number, a tracking number, or "
            "the start of a surname",
        )
    return Query(tuple(exact), prefix)


def matching_ids(session: Session, query: Query, limit: int = MAX_RESULTS) -> list[str]:
    """The ids of the submissions the query finds, newest first.

    Read from the keys' index (key, received_at, submission_id) alone. On PostgreSQL each key
    the query names is read from its newest end, `limit` entries at most: the exact keys, and
    the different surnames a surname's start covers (found by skipping from one to the next in
    the index, a few dozen for a real start), so that a common surname costs what a rare one
    does, whatever the registry's size. A start that covers more than MAX_NAMES surnames, and
    SQLite, take every matching key and sort them."""
    if session.get_bind().dialect.name != "postgresql":
        return _every_match(session, query, limit)
    keys = list(query.exact)
    if query.prefix:
        bounds = {"low": query.prefix, "high": query.prefix + _LAST, "most": MAX_NAMES + 1}
        names = list(session.execute(_NAMES_IN_RANGE, bounds).scalars())
        if len(names) > MAX_NAMES:
            return _every_match(session, query, limit)
        keys += names
    rows = session.execute(_NEWEST_OF_KEYS, {"keys": keys, "limit": limit})
    return [row.submission_id for row in rows]


def _every_match(session: Session, query: Query, limit: int) -> list[str]:
    conditions = []
    if query.exact:
        conditions.append(_KEYS.c.key.in_(query.exact))
    if query.prefix:
        conditions.append(and_(_KEYS.c.key >= query.prefix, _KEYS.c.key < query.prefix + _LAST))
    statement = (
        select(_KEYS.c.received_at, _KEYS.c.submission_id)
        .where(or_(*conditions))
        .distinct()
        .order_by(_KEYS.c.received_at.desc(), _KEYS.c.submission_id.desc())
        .limit(limit)
    )
    return [row.submission_id for row in session.execute(statement)]


#: The different surnames a start may cover before a search sorts all their keys instead.
MAX_NAMES: Final = 200
# The distinct keys in a range, each found from the one before by the index (a skip scan).
_NAMES_IN_RANGE: Final = text(
    """
    WITH RECURSIVE found(key) AS (
        (SELECT key FROM registry_search_key WHERE key >= :low AND key < :high
         ORDER BY key LIMIT 1)
        UNION ALL
        SELECT (SELECT k.key FROM registry_search_key k
                WHERE k.key > found.key AND k.key < :high ORDER BY k.key LIMIT 1)
        FROM found WHERE found.key IS NOT NULL
    )
    SELECT key FROM found WHERE key IS NOT NULL LIMIT :most
    """
)
# The newest submissions of some keys: each key's newest from the index, then the newest of all.
_NEWEST_OF_KEYS: Final = text(
    """
    SELECT DISTINCT newest.received_at, newest.submission_id
    FROM unnest(CAST(:keys AS text[])) AS wanted(key),
         LATERAL (SELECT k.received_at, k.submission_id FROM registry_search_key k
                  WHERE k.key = wanted.key
                  ORDER BY k.received_at DESC, k.submission_id DESC LIMIT :limit) AS newest
    ORDER BY newest.received_at DESC, newest.submission_id DESC
    LIMIT :limit
    """
)


def current_certificates(session: Session, registration_ids: list[int]) -> dict[int, str]:
    """The certificate id in force for each registration (the newest valid one)."""
    if not registration_ids:
        return {}
    rows = session.execute(
        select(
            col(BirthCertificate.registration_id),
            col(BirthCertificate.id),
            col(BirthCertificate.status),
        )
        .where(col(BirthCertificate.registration_id).in_(registration_ids))
        .order_by(col(BirthCertificate.issued_at), col(BirthCertificate.certificate_number))
    ).all()
    current: dict[int, str] = {}
    for registration_id, certificate_id, status in rows:
        if status == "valid" or registration_id not in current:
            current[registration_id] = certificate_id
    return current


def registrations_of(session: Session, submission_ids: list[str]) -> dict[str, Registration]:
    """The registrations of these submissions, by submission id."""
    if not submission_ids:
        return {}
    rows = session.scalars(
        select(Registration).where(col(Registration.submission_id).in_(submission_ids))
    )
    return {row.submission_id: row for row in rows}


def search_records(session: Session, text: str, *, actor: str, role: str) -> SearchResults:
    """The submissions a query text finds, newest first (at most MAX_RESULTS), audited (what
    kind of key was looked for and how many were found; not the text, which may be an IIN).
    Raises 400 invalid_query."""
    query = read_query(text)
    ids = matching_ids(session, query)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="registry.searched",
        object_type="search",
        object_id=actor,
        details={"kinds": query.kinds(), "found": len(ids)},
    )
    submissions = {
        s.id: s for s in session.scalars(select(Submission).where(col(Submission.id).in_(ids)))
    }
    registrations = registrations_of(session, ids)
    certificates = current_certificates(
        session, [r.id for r in registrations.values() if r.id is not None]
    )
    results = []
    for submission_id in ids:
        summary = summarise(submissions[submission_id])
        registration = registrations.get(submission_id)
        results.append(
            SearchResult(
                submission_id=submission_id,
                status=summary.status,
                received_at=summary.received_at,
                tracking_number=summary.tracking_number,
                act_record_number=registration.act_record_number if registration else None,
                act_record_year=registration.year if registration else None,
                child=summary.child,
                mother=summary.mother,
                certificate_id=certificates.get(registration.id or 0) if registration else None,
            )
        )
    return SearchResults(results=results)
