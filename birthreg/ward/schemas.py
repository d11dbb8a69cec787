"""What the ward's JSON API takes and gives (the pages build the same input models from forms).

Input models forbid unknown fields and check only shapes and types (a wrong shape is a 422);
the business rules (IIN checksums, names, time limits, ranges) are the service's, which refuses
with a 400 and a specific code so that the caller knows which field to fix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

#: Bounds on raw text, before the service's own checks: enough for any real value, and small
#: enough that nothing is spent on a hostile megabyte.
_TEXT = 256


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_Input):
    """A person as the ward records them after checking their ID document."""

    iin: Annotated[str, Field(max_length=_TEXT, examples=["940315400014"])]
    surname: Annotated[str, Field(max_length=_TEXT)]
    given_name: Annotated[str, Field(max_length=_TEXT)]
    patronymic: Annotated[str | None, Field(max_length=_TEXT)] = None


class ChildIn(_Input):
    sex: Literal["F", "M"]
    born_at: Annotated[AwareDatetime, Field(description="RFC 3339 with an offset")]
    weight_g: StrictInt
    length_cm: StrictInt
    plurality: StrictInt = 1
    birth_order: StrictInt = 1

    @field_validator("born_at", mode="before")
    @classmethod
    def _rfc3339_text(cls, value: Any) -> Any:
        # Pydantic would also take a number of seconds; a time of birth is written as text.
        if isinstance(value, str) and "T" in value.upper():
            return value
        if isinstance(value, datetime):
            return value
        raise ValueError("an RFC 3339 date and time with an offset is expected")


class BirthIn(_Input):
    """The medical birth record as staff enter it (facility and times are added by the service)."""

    mother: PersonIn
    child: ChildIn
    attendant: Annotated[str, Field(max_length=_TEXT)]


class Signature(BaseModel):
    format: Literal["cms", "jws"]
    value: str


class SignedDocument(BaseModel):
    document: dict[str, Any]
    signature: Signature


class BirthCreated(BaseModel):
    id: str
    medical_record: SignedDocument


class EnrollmentOut(BaseModel):
    """An enrollment as the ward sees it (never its code)."""

    id: str
    role: Literal["mother", "father"]
    state: Literal["pending", "used", "expired", "locked"]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    key_path: str | None
    certificate_serial: str | None
    certificate_revoked: bool


class BirthSummary(BaseModel):
    id: str
    mother: dict[str, Any]
    child: dict[str, Any]
    recorded_at: datetime
    progress: Literal["recorded", "key_issued", "application_signed", "rejected", "registered"]
    enrollments: list[EnrollmentOut]
    # When the registry issued the birth certificate, once the ward or the parents' pages know.
    certificate_issued_at: datetime | None = None


class BirthList(BaseModel):
    date: str
    births: list[BirthSummary]


class BirthDetail(BirthSummary):
    medical_record: SignedDocument


class MotherEnrollmentIn(_Input):
    role: Literal["mother"]


class FatherEnrollmentIn(PersonIn):
    role: Literal["father"]


EnrollmentIn = Annotated[MotherEnrollmentIn | FatherEnrollmentIn, Field(discriminator="role")]


class EnrollmentStarted(BaseModel):
    id: str
    code: str = Field(description="LLLL-SSSS-SSSS, shown once")
    expires_at: datetime
    url: str = Field(description="the phone page, with the code in the fragment")
    qr_svg: str = Field(description="an SVG QR code of url, to show beside the code")


class EnrollIn(_Input):
    """A code and either a PKCS#10 request or a WebCrypto public key with its proof."""

    code: Annotated[str, Field(max_length=64, examples=["ABCD-EFGH-JKMN"])]
    csr_pem: Annotated[str | None, Field(max_length=16384)] = None
    public_key: Annotated[
        str | None, Field(max_length=4096, description="base64 of a DER SubjectPublicKeyInfo")
    ] = None
    proof: Annotated[
        str | None,
        Field(
            max_length=512,
            description="base64url of the raw r‖s ECDSA P-256 SHA-256 signature over "
            '"birthreg-enroll:" + the code in its canonical form LLLL-SSSS-SSSS',
        ),
    ] = None


class EnrollResult(BaseModel):
    certificate_pem: str
    chain_pem: str = Field(description="the issuing CA certificate (the root is the anchor)")
    medical_record: SignedDocument


class PKCS12In(_Input):
    password: Annotated[str, Field(max_length=1024)]


class StaffRevocationIn(_Input):
    reason: Annotated[
        str, Field(max_length=32, description="lost_phone, wrong_person or key_compromise")
    ]


class HolderRevocationIn(_Input):
    """`request` is {"type": "birthreg.revocation-request/1", "serial", "reason",
    "requested_at"}; `signature` is over its RFC 8785 canonical form."""

    request: dict[str, Any]
    signature: Signature


class Revoked(BaseModel):
    serial: str
    revoked_at: datetime
    reason: str
    crl_reason: str = Field(description="the RFC 5280 reason in the CRL and OCSP answers")
