"""The registry's side of "printed at the ward": a ward's claim counts only when sealed by the
facility the child was born in (`birthreg.ward_print_claim`), fresh, and not counted before. Anyone
else holding the certificate's link gets the PDF as a holder (`pdf_download`), never a print.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from birthreg.errors import DomainError
from birthreg.models import BirthCertificate
from birthreg.registry import copies
from birthreg.registry.record_models import WardPrintNonce
from birthreg.ward_print_claim import WardPrint, WardPrintRefused, check_ward_print
from signing.trust import Validator

#: HTTP status of each refusal: a claim not of the form 400, one that does not authenticate the
#: facility 403, a replay 409.
_STATUS = {
    "malformed_claim": 400,
    "claim_for_another_certificate": 400,
    "stale_claim": 403,
    "seal_not_trusted": 403,
    "seal_of_another_facility": 403,
}


def accept_ward_print(
    session: Session,
    certificate: BirthCertificate,
    claim: Any,
    *,
    validator: Validator,
    moment: datetime,
) -> WardPrint:
    """Check the sealed claim for this certificate, that its facility is the birth's
    (`copies.check_ward`: 403 facility_mismatch) and that its nonce is new (409
    ward_print_replayed); then log it (`copies.log_ward_print`). Refusals are DomainErrors with
    the codes of `birthreg.ward_print_claim`, prefixed `ward_print_`; nothing is logged for them."""
    try:
        printed = check_ward_print(
            claim, certificate_id=certificate.id, validator=validator, moment=moment
        )
    except WardPrintRefused as refused:
        raise DomainError(
            f"ward_print_{refused.code}", refused.detail, _STATUS.get(refused.code, 403)
        ) from refused
    copies.check_ward(session, certificate, printed.facility_bin)
    _count_once(session, printed, moment)
    copies.log_ward_print(session, certificate, printed.facility_bin)
    return printed


def _count_once(session: Session, printed: WardPrint, moment: datetime) -> None:
    """Keep the claim's nonce (409 ward_print_replayed when it is kept already), and forget
    those of stale claims: they are refused as stale before their nonce is looked at."""
    session.exec(delete(WardPrintNonce).where(col(WardPrintNonce.stale_after) < moment))
    try:
        with session.begin_nested():
            session.add(
                WardPrintNonce(
                    nonce=printed.nonce,
                    certificate_id=printed.certificate_id,
                    facility_bin=printed.facility_bin,
                    stale_after=printed.stale_after,
                )
            )
    except IntegrityError as error:
        raise DomainError(
            "ward_print_replayed", "this sealed claim was counted already", 409
        ) from error
