"""The tables of a record's life after registration: search keys, corrections, issuances.

Kept beside the registry's other tables in `birthreg.models`, in a module of their own so that
the record's life grows here; Alembic migration 0009 makes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

#: The search key's text compares byte by byte on PostgreSQL (collation "C"), so that a prefix
#: is a plain range on its B-tree index whatever the database's locale; SQLite's default
#: (BINARY) compares so already.
SEARCH_KEY_TYPE = sa.String(length=120).with_variant(
    sa.String(length=120, collation="C"), "postgresql"
)


class SearchKey(SQLModel, table=True):
    """One thing a submission is found by, normalised (`birthreg.registry.search`): an IIN, a
    surname, an act record number, a certificate number or the tracking number."""

    __tablename__ = "registry_search_key"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(SEARCH_KEY_TYPE, nullable=False, index=True))
    submission_id: str = Field(foreign_key="registry_submission.id", max_length=36, index=True)
