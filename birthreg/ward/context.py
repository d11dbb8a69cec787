"""The ward's shared pieces: its errors, its context (settings, CA, seals), the staff member's
facility and a birth's sealed record."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from birthreg.config import Settings
from birthreg.errors import DomainError
from birthreg.models import Birth, Facility, StaffUser
from birthreg.packed import text_of
from birthreg.pki.seals import Seal, load_seal
from birthreg.services import Services
from signing.ca import CertificationAuthority

#: The ward's day (the births list) is a day in Almaty.
WARD_TIME_ZONE = ZoneInfo("Asia/Almaty")


# -- errors ----------------------------------------------------------------------------------


class WardError(DomainError):
    """A refusal with a machine code, a status and, for a bad input, the offending `field`
    (e.g. "mother.iin"). `extra` is more of the error body (e.g. a verification report)."""

    def __init__(
        self,
        code: str,
        detail: str,
        status: int = 400,
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code, detail, status)
        self.field = field
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body

    def problems(self) -> list[WardError]:
        """Each problem this refusal stands for: those in its `errors`, else itself."""
        listed = self.extra.get("errors")
        if not isinstance(listed, list):
            return [self]
        return [
            WardError(item["error"], item["detail"], self.status, field=item.get("field"))
            for item in listed
        ]


# -- what the functions need -----------------------------------------------------------------


@dataclass
class WardContext:
    """The service's settings, TEST CA and engine, and the facility seals (loaded once)."""

    settings: Settings
    ca: CertificationAuthority
    engine: Engine
    _seals: dict[str, Seal] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def facility_seal(self, facility: Facility) -> Seal:
        with self._lock:
            seal = self._seals.get(facility.bin)
            if seal is None:
                seal = load_seal(self.settings, "facility", facility.bin, self.ca.chain)
                self._seals[facility.bin] = seal
        return seal

    @property
    def secret_key(self) -> str:
        return self.settings.secret_key_value()


def ward_context(services: Services) -> WardContext:
    """The app's WardContext (made on first use, like the CA)."""
    context: WardContext = services.ward.get()
    return context


# -- facilities and documents ----------------------------------------------------------------


def staff_facility(session: Session, staff: StaffUser) -> Facility:
    """The staff member's facility; a member with none works for the only facility there is."""
    if staff.facility_id is not None:
        facility = session.get(Facility, staff.facility_id)
        if facility is not None:
            return facility
    else:
        facilities = session.exec(select(Facility).order_by(col(Facility.id)).limit(2)).all()
        if len(facilities) == 1:
            return facilities[0]
    raise WardError(
        "no_facility", "this staff account is not attached to a maternity facility", 403
    )


@dataclass(frozen=True)
class SignedRecord:
    document: dict[str, Any]
    signature: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document, "signature": self.signature}


def seal_kind(facility_id: int) -> str:
    """The dictionary kind of a facility's seals (`birthreg.packed`: its chain is in each)."""
    return f"seal:{facility_id}"


def signed_medical_record(birth: Birth) -> SignedRecord:
    seal = text_of(birth, "seal_signature")
    assert seal is not None
    return SignedRecord(json.loads(birth.medical_record), {"format": "cms", "value": seal})
