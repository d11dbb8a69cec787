"""The tables of a record's life after registration: search keys, corrections, issuances.

Kept beside the registry's other tables in `birthreg.models`, in a module of their own so that
the record's life grows here; Alembic migrations 0009 and 0017 make them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from birthreg.models import utc_column

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


class CorrectionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Correction(SQLModel, table=True):
    """A request to correct a registered record's certificate (names, the father; never the
    medical facts), decided by a registrar who did not ask for it."""

    __tablename__ = "registry_correction"

    id: str = Field(primary_key=True, max_length=36)  # uuid4
    certificate_id: str = Field(foreign_key="registry_certificate.id", max_length=64, index=True)
    registration_id: int = Field(foreign_key="registry_registration.id", index=True)
    changes: str  # JSON: {dotted path: new value}
    reason: str = Field(max_length=1000)
    status: str = Field(default=CorrectionStatus.PENDING.value, max_length=16, index=True)
    requested_by: int | None = Field(default=None, foreign_key="staff_user.id")
    # A parent's request: the serial of the certificate she signed it with, and what she signed.
    requested_by_holder: str | None = Field(default=None, max_length=40)
    signed_request: str | None = None
    requested_at: datetime = utc_column()
    decided_by: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = utc_column(nullable=True)
    decision_reason: str | None = Field(default=None, max_length=1000)
    new_certificate_id: str | None = Field(
        default=None, foreign_key="registry_certificate.id", max_length=64
    )


class IssuanceKind(StrEnum):
    ORIGINAL = "original"  # issued at registration
    CORRECTED = "corrected"  # a correction's new certificate
    COPY = "copy"  # a repeat certificate, handed to a collector
    PDF_DOWNLOAD = "pdf_download"  # the signed PDF downloaded by its holder
    PRINTED_AT_WARD = "printed_at_ward"  # printed for the mother by the ward she gave birth in


class Issuance(SQLModel, table=True):
    """One issuance of a certificate: who, when, and for a copy who collected it."""

    __tablename__ = "registry_issuance"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: str = Field(foreign_key="registry_certificate.id", max_length=64, index=True)
    registration_id: int = Field(foreign_key="registry_registration.id", index=True)
    kind: str = Field(max_length=16)
    at: datetime = utc_column()
    actor: str = Field(max_length=80)
    role: str = Field(max_length=16)
    collector_name: str | None = Field(default=None, max_length=200)
    collector_iin: str | None = Field(default=None, max_length=12)
    document_checked: bool | None = None
    reason: str | None = Field(default=None, max_length=1000)


class WardPrintNonce(SQLModel, table=True):
    """A ward's sealed "printed at the ward" claim already counted, by its nonce: a replay of
    the same claim is refused. Kept until the claim is stale (`birthreg.ward_print_claim.FRESHNESS`
    after its time); older ones are removed as new claims come."""

    __tablename__ = "registry_ward_print_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    certificate_id: str = Field(foreign_key="registry_certificate.id", max_length=64)
    facility_bin: str = Field(max_length=12)
    stale_after: datetime = utc_column(index=True)
