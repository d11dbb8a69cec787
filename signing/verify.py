"""Whole-dossier verification: every check of DESIGN.md "What the registry checks" that needs no
database (duplicates are the registry's). Returns one frozen report; never raises for bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signing.report import SignatureReport, VerificationReport
from signing.trust import Purpose, Validator


def verify_signature(
    signature: Any, content: bytes, *, validator: Validator, moment: datetime,
    purpose: Purpose | None = None, role: str = "",
) -> SignatureReport:
    """A signature object {"format": "cms"|"jws", "value": …} over content → its report."""
    raise NotImplementedError


def verify_dossier(dossier: Any, *, validator: Validator, moment: datetime) -> VerificationReport:
    raise NotImplementedError
