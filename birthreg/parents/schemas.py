"""What the parents' pages and JSON API take and give.

Input models check shapes only (a wrong shape is a 422); what a person typed into the application
form is judged by `service.validate_application_form`, which answers with a message per field in
her language.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_TEXT = 256
_LATE_REASON = 1000


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signature(_Input):
    """A signature object of DESIGN.md: CMS (base64 DER, detached) or JWS (compact, detached)."""

    format: Literal["cms", "jws"]
    value: Annotated[str, Field(min_length=1, max_length=64 * 1024)]


class SessionIn(_Input):
    """The sign-in challenge as the server gave it, and a signature over its RFC 8785 form."""

    challenge: dict[str, Any]
    signature: Signature


class SessionOut(BaseModel):
    serial: str
    role: Literal["mother", "father"]
    csrf_token: str = Field(description="send it back as X-CSRF-Token on every POST")
    expires_at: str


class ChallengeOut(BaseModel):
    challenge: dict[str, Any] = Field(
        description='{"type": "birthreg.session-challenge/1", "purpose", "nonce", '
        '"issued_at", "audience"}: sign its RFC 8785 form'
    )


class SignatureIn(_Input):
    signature: Signature


class JoinIn(_Input):
    invitation: Annotated[str, Field(min_length=1, max_length=200)]


class JoinOut(BaseModel):
    application_id: str
    url: str


class SignedOut(BaseModel):
    """The state after a signature: `submitted` when the registry accepted the dossier."""

    application_id: str
    state: str
    submitted: bool
    error: str | None = None
    url: str


FatherBasis = Literal["none", "marriage", "joint_application"]


class ApplicationForm(BaseModel):
    """The application form as typed (every field text; the service validates)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    child_surname: Annotated[str, Field(max_length=_TEXT)] = ""
    child_given_name: Annotated[str, Field(max_length=_TEXT)] = ""
    child_patronymic: Annotated[str, Field(max_length=_TEXT)] = ""
    # No default: "no father" is a choice she makes, like the other two.
    father_basis: Annotated[str, Field(max_length=32)] = ""
    father_iin: Annotated[str, Field(max_length=_TEXT)] = ""
    father_surname: Annotated[str, Field(max_length=_TEXT)] = ""
    father_given_name: Annotated[str, Field(max_length=_TEXT)] = ""
    father_patronymic: Annotated[str, Field(max_length=_TEXT)] = ""
    marriage_number: Annotated[str, Field(max_length=_TEXT)] = ""
    marriage_date: Annotated[str, Field(max_length=_TEXT)] = ""
    region: Annotated[str, Field(max_length=_TEXT)] = ""
    locality: Annotated[str, Field(max_length=_TEXT)] = ""
    street: Annotated[str, Field(max_length=_TEXT)] = ""
    building: Annotated[str, Field(max_length=_TEXT)] = ""
    flat: Annotated[str, Field(max_length=_TEXT)] = ""
    phone: Annotated[str, Field(max_length=_TEXT)] = ""
    email: Annotated[str, Field(max_length=_TEXT)] = ""
    language: Annotated[str, Field(max_length=8)] = ""
    late_reason: Annotated[str, Field(max_length=_LATE_REASON)] = ""

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ApplicationForm:
        """The form that gives this document (to correct or sign again)."""
        child = document.get("child") or {}
        father = document.get("father") or {}
        address = document.get("address") or {}
        contact = document.get("contact") or {}
        marriage = father.get("marriage_certificate") or {}
        return cls(
            child_surname=child.get("surname", ""),
            child_given_name=child.get("given_name", ""),
            child_patronymic=child.get("patronymic") or "",
            father_basis=father.get("basis", "none") if father else "none",
            father_iin=father.get("iin", ""),
            father_surname=father.get("surname", ""),
            father_given_name=father.get("given_name", ""),
            father_patronymic=father.get("patronymic") or "",
            marriage_number=marriage.get("number", ""),
            marriage_date=marriage.get("date", ""),
            region=address.get("region", ""),
            locality=address.get("locality", ""),
            street=address.get("street", ""),
            building=address.get("building", ""),
            flat=address.get("flat") or "",
            phone=contact.get("phone") or "",
            email=contact.get("email") or "",
            language=document.get("language", ""),
            late_reason=document.get("late_reason") or "",
        )
