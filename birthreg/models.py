"""Every table, in one place so that import order never bites.

Ward tables (`facility`, `birth`, `enrollment`), the TEST CA's own records (`pki_*`), staff
accounts and the audit chain are the service's foundation. Registry tables come with the registry
and never share a table with the ward: the two meet only through the signed dossier over HTTP.

Times are stored as UTC and always come back timezone-aware (`UTCDateTime`), on SQLite too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from birthreg.notify.tracking import new_tracking_number


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


# -- staff ---------------------------------------------------------------------------------------


class Role(StrEnum):
    WARD = "ward"
    CLERK = "clerk"
    REGISTRAR = "registrar"  # a senior clerk: everything a clerk does (approvals later)
    ADMIN = "admin"


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)  # a Role value
    display_name: str = Field(default="", max_length=128)
    facility_id: int | None = Field(default=None, foreign_key="facility.id")
    disabled: bool = Field(default=False)
    created_at: datetime = utc_column()


class LoginThrottle(SQLModel, table=True):
    """Counted attempts per throttle key (a digest: see birthreg.throttle); `locked_until` is
    the time before which no attempt on the key is taken."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = Field(default=0)
    window_started_at: datetime = utc_column()
    locked_until: datetime | None = utc_column(nullable=True)


# -- the ward ------------------------------------------------------------------------------------


class Facility(SQLModel, table=True):
    """A maternity ward's organisation, with its seal certificate from the TEST CA."""

    __tablename__ = "facility"

    id: int | None = Field(default=None, primary_key=True)
    bin: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=200)
    # The settlement the facility is in: a certificate's place of birth (the medical record
    # carries it as facility.locality).
    locality: str | None = Field(default=None, max_length=200)
    seal_serial: str = Field(max_length=40)  # lowercase hex, in pki_certificate
    created_at: datetime = utc_column()


class Progress(StrEnum):
    """A mother's progress, as the ward's births list shows it."""

    RECORDED = "recorded"  # no key yet
    KEY_ISSUED = "key_issued"
    APPLICATION_SIGNED = "application_signed"
    REJECTED = "rejected"  # the registry refused the application; a correction may follow
    REGISTERED = "registered"


class Birth(SQLModel, table=True):
    """A medical birth record, sealed by the facility (CMS detached over its canonical JSON)."""

    __tablename__ = "birth"

    id: str = Field(primary_key=True, max_length=36)  # the record's own "id" (a UUID)
    facility_id: int = Field(foreign_key="facility.id", index=True)
    medical_record: str  # the canonical JSON text (RFC 8785), exactly what was sealed
    medical_record_sha256: str = Field(max_length=64, index=True)
    # base64 DER CMS SignedData, detached: packed (birthreg.packed; read with text_of)
    seal_signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    born_at: datetime = utc_column(index=True)
    recorded_at: datetime = utc_column(index=True)
    recorded_by: int = Field(foreign_key="staff_user.id")
    progress: str = Field(default=Progress.RECORDED.value, max_length=24)
    # When the registry issued the birth certificate (learnt with the registration).
    certificate_issued_at: datetime | None = utc_column(nullable=True)


class EnrollmentRole(StrEnum):
    MOTHER = "mother"
    FATHER = "father"


class KeyPath(StrEnum):
    WEBCRYPTO = "webcrypto"
    CSR = "csr"
    PKCS12 = "pkcs12"


class Enrollment(SQLModel, table=True):
    """A one-time code that lets one person (checked by staff) obtain one TEST certificate.

    The code is `lookup` (public, finds the row) and a secret part kept only as an HMAC under the
    service's secret key. Wrong secrets are counted against the client's address, never against
    the row (whoever knows a lookup must not be able to lock its holder out).
    """

    __tablename__ = "enrollment"

    id: str = Field(primary_key=True, max_length=36)
    birth_id: str = Field(foreign_key="birth.id", index=True)
    role: str = Field(max_length=8)  # an EnrollmentRole value
    iin: str = Field(max_length=12)
    surname: str = Field(max_length=64)
    given_name: str = Field(max_length=64)
    patronymic: str | None = Field(default=None, max_length=64)
    # None once its code can no longer be redeemed and the lookup went to a newer code.
    lookup: str | None = Field(default=None, max_length=8, unique=True, index=True)
    secret_hmac: str = Field(max_length=64)
    expires_at: datetime = utc_column()
    failed_attempts: int = Field(default=0)
    locked_at: datetime | None = utc_column(nullable=True)
    used_at: datetime | None = utc_column(nullable=True)
    key_path: str | None = Field(default=None, max_length=16)  # a KeyPath value
    certificate_serial: str | None = Field(default=None, max_length=40, index=True)
    created_by: int = Field(foreign_key="staff_user.id")
    created_at: datetime = utc_column()


# -- the registry (its own tables: it never reads the ward's) ------------------------------------


class RegistryOffice(SQLModel, table=True):
    """A civil registry office (АХАЖ / ЗАГС), with its seal certificate from the TEST CA."""

    __tablename__ = "registry_office"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    bin: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=200)
    seal_serial: str = Field(max_length=40)
    created_at: datetime = utc_column()


class SubmissionStatus(StrEnum):
    RECEIVED = "received"  # verified, waiting for a clerk
    IN_REVIEW = "in_review"  # a clerk opened it
    LATE = "late"  # received after the deadline: waits for a registrar's approval
    REGISTERED = "registered"
    REJECTED = "rejected"


class Submission(SQLModel, table=True):
    """A dossier the registry received and verified (refused dossiers leave no row)."""

    __tablename__ = "registry_submission"

    id: str = Field(primary_key=True, max_length=36)  # uuid4: unguessable
    registry_office_id: int = Field(foreign_key="registry_office.id", index=True)
    # The dossier as received (JSON text), its verification report (JSON text) and the signed
    # receipt (JSON text), each packed (birthreg.packed; read through birthreg.registry.stored).
    dossier: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    dossier_sha256: str = Field(max_length=64, unique=True)  # the same dossier → the same row
    medical_record_id: str = Field(max_length=64, index=True)
    medical_record_sha256: str = Field(max_length=64, index=True)
    application_id: str = Field(max_length=64, index=True)
    facility_bin: str = Field(max_length=12)
    mother_iin: str = Field(max_length=12, index=True)  # for likely-duplicate search
    child_born_at: datetime = utc_column(index=True)
    child_sex: str = Field(max_length=1)
    birth_order: int
    status: str = Field(default=SubmissionStatus.RECEIVED.value, max_length=16)
    report: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    receipt: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    duplicate_candidates: str = Field(default="[]")  # JSON list of submission ids
    # The child's surname and given name as compared (birthreg.registry.duplicates).
    child_name_key: str | None = Field(default=None, max_length=130)
    previous_id: str | None = Field(
        default=None, foreign_key="registry_submission.id", index=True
    )
    rejection_reason: str | None = Field(default=None, max_length=1000)
    decided_by: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = utc_column(nullable=True, index=True)  # statistics
    received_at: datetime = utc_column()
    # What people read out and type (birthreg.notify.tracking): random, unique, compact here.
    # The column default serves inserts that do not draw one themselves (the intake does).
    tracking_number: str = Field(
        default_factory=new_tracking_number,
        max_length=9,
        unique=True,
        index=True,
        sa_column_kwargs={"default": new_tracking_number},
    )

    __table_args__ = (
        # The queue in its order (received_at, id), unfiltered or by status or facility: a page is
        # a range of one of these, read in order and stopped at its end.
        sa.Index("ix_registry_submission_queue", "received_at", "id"),
        sa.Index("ix_registry_submission_status_queue", "status", "received_at", "id"),
        sa.Index("ix_registry_submission_facility_queue", "facility_bin", "received_at", "id"),
        # Likely duplicates by the child's names: a range of birth times for one name.
        sa.Index("ix_registry_submission_child_name_born", "child_name_key", "child_born_at"),
    )


class ActRecordCounter(SQLModel, table=True):
    """The last act record number per registry office and year (locked to allocate: gapless)."""

    __tablename__ = "registry_act_counter"

    registry_office_id: int = Field(foreign_key="registry_office.id", primary_key=True)
    year: int = Field(primary_key=True)
    last_number: int = Field(default=0)


class ChildIINCounter(SQLModel, table=True):
    """The last serial used per IIN prefix (YYMMDD + century-and-sex digit)."""

    __tablename__ = "registry_iin_counter"

    prefix: str = Field(primary_key=True, max_length=7)
    last_serial: int = Field(default=0)


class Registration(SQLModel, table=True):
    """A registered birth: one per medical record, ever (the unique keys enforce it)."""

    __tablename__ = "registry_registration"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(foreign_key="registry_submission.id", unique=True)
    medical_record_id: str = Field(max_length=64, unique=True)
    registry_office_id: int = Field(foreign_key="registry_office.id")
    year: int
    act_record_number: int
    child_iin: str = Field(max_length=12, unique=True)
    registered_at: datetime = utc_column(index=True)  # statistics count by this day
    registered_by: int | None = Field(default=None, foreign_key="staff_user.id")

    __table_args__ = (
        sa.UniqueConstraint("registry_office_id", "year", "act_record_number"),
    )


class CertificateStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


class BirthCertificate(SQLModel, table=True):
    """The birth certificate issued for a registration."""

    __tablename__ = "registry_certificate"

    id: str = Field(primary_key=True, max_length=64)  # unguessable (secrets.token_urlsafe)
    # A registration has its original certificate, and later corrected ones and copies.
    registration_id: int = Field(foreign_key="registry_registration.id", index=True)
    certificate_number: str = Field(max_length=32, unique=True)
    fields: str  # the certificate's fields (canonical JSON)
    qr: str  # the text in its QR code
    status: str = Field(default=CertificateStatus.VALID.value, max_length=16)
    issued_at: datetime = utc_column()
    # The corrected certificate that replaced this one (status superseded).
    superseded_by: str | None = Field(
        default=None, foreign_key="registry_certificate.id", max_length=64
    )


class CertificatePDF(SQLModel, table=True):
    """A certificate's signed PDF, made on its first download and served as stored after. Kept
    out of `registry_certificate`, whose rows every look-up and status check reads; `pdf` is
    zlib-compressed when `deflated` (a quarter smaller; see certificate_pdf.store_pdf)."""

    __tablename__ = "registry_certificate_pdf"

    certificate_id: str = Field(
        primary_key=True, max_length=64, foreign_key="registry_certificate.id"
    )
    pdf: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    deflated: bool = Field(default=False)
    made_at: datetime = utc_column()


class StoredDictionary(SQLModel, table=True):
    """A preset dictionary for texts kept compactly (`birthreg.packed`): addressed by its
    content (the first 16 bytes of its SHA-256, hex), never changed."""

    __tablename__ = "stored_dictionary"

    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=64)  # e.g. "dossier:<facility BIN>"
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = utc_column()

    __table_args__ = (sa.Index("ix_stored_dictionary_kind", "kind", "created_at"),)


# -- the TEST CA's records -----------------------------------------------------------------------


class IssuedCertificate(SQLModel, table=True):
    """Everything the TEST CA issued, and whether it was revoked (for CRL and OCSP)."""

    __tablename__ = "pki_certificate"

    serial: str = Field(primary_key=True, max_length=40)  # lowercase hex, no leading zeros
    profile: str = Field(max_length=24)
    der: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    not_before: datetime = utc_column()
    not_after: datetime = utc_column()
    issued_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)
    revocation_reason: str | None = Field(default=None, max_length=32)  # x509.ReasonFlags name
    #: The CRL partition its distribution point names (0: /pki/crl, issued before partitions).
    crl_partition: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )

    __table_args__ = (
        # What a CRL is built from (the revoked certificates not long expired), and what tells
        # whether one is due (how many were revoked), read from the index alone.
        sa.Index(
            "ix_pki_certificate_revoked",
            "not_after",
            "serial",
            "revoked_at",
            "revocation_reason",
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
        ),
        # One partition's CRL: its revoked certificates not long expired, from the index alone.
        sa.Index(
            "ix_pki_certificate_partition_revoked",
            "crl_partition", "not_after", "serial", "revoked_at", "revocation_reason",
            postgresql_where=sa.text("revoked_at IS NOT NULL"),
            sqlite_where=sa.text("revoked_at IS NOT NULL"),
        ),
    )


class CRLPartition(SQLModel, table=True):
    """A CRL partition of the issuing CA (see `signing.ca.crl`): how many certificates were
    given to it (issuance fills one partition, then opens the next), how many of them were
    revoked (a revocation counts here in its own transaction, so the publisher sees which
    partitions changed without reading the certificates), and the last notAfter among them
    (after it the partition's CRL lists nothing and needs no refresh)."""

    __tablename__ = "pki_crl_partition"

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    issued: int = Field(default=0)
    revoked: int = Field(default=0)
    not_after: datetime | None = utc_column(nullable=True)


class IssuedCRL(SQLModel, table=True):
    """Each CRL the CA issued, the issuing CA's and the root's (the ARL): one number sequence
    for both, so numbers only grow for each (RFC 5280 5.2.3)."""

    __tablename__ = "pki_crl"

    number: int = Field(primary_key=True)
    #: "issuing" (the issuing CA's CRL of end-entity certificates) or "root" (the ARL).
    scope: str = Field(default="issuing", max_length=8)
    this_update: datetime = utc_column()
    next_update: datetime = utc_column()
    #: How many certificates were revoked when it was issued (expired ones are not listed).
    revoked_count: int = Field(default=0)
    der: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    #: The partition of the issuing CA's CRL (0: /pki/crl; the ARL is 0 too).
    crl_partition: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )

    __table_args__ = (
        sa.Index("ix_pki_crl_scope_number", "scope", "number"),
        sa.Index("ix_pki_crl_scope_partition_number", "scope", "crl_partition", "number"),
    )


# -- audit ---------------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One state change. entry_hash covers every other column and prev_hash chains the rows."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True)  # 1, 2, 3, … with no gaps
    at: datetime = utc_column()
    actor: str = Field(max_length=80)  # "staff:<id>", "holder:<serial>", "system"
    role: str = Field(max_length=16)
    action: str = Field(max_length=48)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    details_sha256: str = Field(max_length=64)  # digest of the details, never the details
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)

    # An object's history (a submission's page), without walking the trail.
    __table_args__ = (sa.Index("ix_audit_entry_object", "object_type", "object_id"),)


class AuditHead(SQLModel, table=True):
    """The chain's last entry: one row, locked by each append (serialises writers)."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    entry_hash: str = Field(max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint: the chain's entry `seq` had `entry_hash` at `signed_at`. `jws` (the
    seal's signature over those three, with the seal certificate) is what counts; the columns
    repeat it for look-ups."""

    __tablename__ = "audit_checkpoint"

    seq: int = Field(primary_key=True)
    entry_hash: str = Field(max_length=64)
    signed_at: datetime = utc_column()
    jws: str


def now() -> datetime:
    """The service's clock (`signing/` never reads one; the service passes this in)."""
    return datetime.now(UTC)


# -- the parents' pages (their applications; the ward's births and enrollments stay the ward's) --


class ApplicationState(StrEnum):
    """Where a parents' application stands on this side of the registry."""

    DRAFT = "draft"  # being filled in; nothing signed yet
    AWAITING_FATHER = "awaiting_father"  # a joint application the mother signed
    READY = "ready"  # every signature is there, the registry has not accepted it (yet)
    SUBMITTED = "submitted"  # the registry accepted it: its receipt is kept
    SUPERSEDED = "superseded"  # replaced by a newer application before it was submitted


class ParentApplication(SQLModel, table=True):
    """A registration application as the parents fill it in, sign it and send it.

    `document` is the application exactly as signed (its RFC 8785 form); signatures are the
    signature objects of DESIGN.md as JSON text. Every lookup goes through the birth that the
    key holder's certificate was enrolled for (see `birthreg.parents.sessions`).
    """

    __tablename__ = "parents_application"

    id: str = Field(primary_key=True, max_length=36)  # the document's own "id" (a UUID)
    birth_id: str = Field(foreign_key="birth.id", index=True)
    previous_id: str | None = Field(default=None, foreign_key="parents_application.id")
    state: str = Field(default=ApplicationState.DRAFT.value, max_length=20)
    document: str  # canonical JSON text
    created_by_serial: str = Field(max_length=40)
    mother_serial: str | None = Field(default=None, max_length=40)
    # The signature objects' JSON texts, packed (birthreg.packed; read with text_of).
    mother_signature: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    father_serial: str | None = Field(default=None, max_length=40)
    father_signature: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    # A random salt: the father's invitation token is a signed token (birthreg.tokens) over the
    # application id and this salt, so that a copy of the database gives no usable token.
    invitation_salt: str | None = Field(default=None, max_length=64)
    submission_id: str | None = Field(default=None, max_length=36)
    receipt: str | None = None  # the registry's signed receipt (JSON text)
    submission_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    submitted_at: datetime | None = utc_column(nullable=True)


class ParentChallengeUse(SQLModel, table=True):
    """A spent sign-in challenge (its SHA-256): each challenge opens one session, once."""

    __tablename__ = "parents_challenge_use"

    nonce_sha256: str = Field(primary_key=True, max_length=64)
    used_at: datetime = utc_column()


# -- telling the parents (birthreg.notify) --------------------------------------------------------


class EventKind(StrEnum):
    """What a parent is told about. Every kind has its texts in birthreg.notify.messages."""

    RECEIVED = "received"
    LATE = "late"  # after the deadline, awaiting a registrar's approval
    REJECTED = "rejected"
    REGISTERED = "registered"
    CORRECTION_APPROVED = "correction_approved"
    CORRECTION_REJECTED = "correction_rejected"
    COPY_ISSUED = "copy_issued"


class OutboxState(StrEnum):
    PENDING = "pending"  # some channel is still to be delivered
    SENT = "sent"  # every channel is done and at least one delivered
    FAILED = "failed"  # nothing could be delivered (no usable address, refused by the server)


class ChannelState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good (the address), never tried again
    NONE = "none"  # the application gives no address for this channel


class OutboxMessage(SQLModel, table=True):
    """An event a parent waits for, written in the event's own transaction; the sender delivers
    it by e-mail and SMS (per-channel states), retrying with back-off.

    `event_id` is derived from the event (its kind and object), so that the same event is never
    queued twice; it is the e-mail's Message-ID and the SMS gateway's `id`. A sender claims a
    row by writing its `claimed_by` token and a `lease_until`: a crashed sender's rows are taken
    again when the lease runs out. Addresses and texts are not copied here: the sender reads
    them from the submission's dossier when it delivers.
    """

    __tablename__ = "notify_outbox"

    event_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=32)  # an EventKind value
    submission_id: str = Field(foreign_key="registry_submission.id", index=True, max_length=36)
    params: str = Field(default="{}")  # JSON: act record number, certificate id, reason, ...
    state: str = Field(default=OutboxState.PENDING.value, max_length=8)
    email: str | None = Field(default=None, max_length=8)  # a ChannelState, once known
    sms: str | None = Field(default=None, max_length=8)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = utc_column()
    lease_until: datetime | None = utc_column(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=36)
    last_error: str | None = Field(default=None, max_length=200)  # never an address or a name
    created_at: datetime = utc_column(index=True)
    done_at: datetime | None = utc_column(nullable=True)

    __table_args__ = (sa.Index("ix_notify_outbox_due", "state", "next_attempt_at"),)


class SinkMessage(SQLModel, table=True):
    """A message the development sink took instead of an SMTP server or an SMS gateway."""

    __tablename__ = "notify_sink"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36)
    channel: str = Field(max_length=8)  # "email" or "sms"
    recipient: str = Field(max_length=254)
    language: str = Field(max_length=2)
    subject: str = Field(max_length=300)
    text: str
    delivered_at: datetime = utc_column(index=True)

    __table_args__ = (sa.UniqueConstraint("event_id", "channel"),)
