"""Plain factory functions for documents and dossiers, signed with the session's test PKI."""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import datetime, timedelta
from typing import Any

from conftest import PKI, Party

from signing import cms, jws
from signing.canonical import canonicalize, sha256_hex


def medical_record(pki: PKI, **changes: Any) -> dict[str, Any]:
    born_at = pki.moment - timedelta(days=2, hours=3)
    record: dict[str, Any] = {
        "type": "birthreg.medical-record/1",
        "id": str(uuid.UUID(int=0x1234)),
        "facility": {"bin": pki.facility.bin, "name": pki.facility.name},
        "mother": {
            "iin": pki.mother.iin,
            "surname": "Әбілқасымова",
            "given_name": "Гүлнұр",
            "patronymic": "Серікқызы",
        },
        "child": {
            "sex": "F",
            "born_at": born_at.isoformat(),
            "weight_g": 3400,
            "length_cm": 51,
            "plurality": 1,
            "birth_order": 1,
        },
        "attendant": "Сейітова Ж.",
        "recorded_at": (born_at + timedelta(hours=1)).isoformat(),
    }
    return _merge(record, changes)


def application(
    pki: PKI, record: dict[str, Any], *, father: dict[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "birthreg.application/1",
        "id": str(uuid.UUID(int=0x5678)),
        "medical_record_sha256": sha256_hex(record),
        "child": {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"},
        "mother": {"iin": record["mother"]["iin"]},
        "father": father,
        "address": {
            "region": "Шығыс Қазақстан облысы",
            "locality": "Өскемен",
            "street": "Қазақстан көшесі",
            "building": "12",
            "flat": "5",
        },
        "contact": {"phone": "+7 701 234 5678", "email": "mother@example.kz"},
        "language": "kk",
    }
    return _merge(document, changes)


def joint_father(pki: PKI) -> dict[str, Any]:
    return {
        "iin": pki.father.iin,
        "surname": "Әбілқасымов",
        "given_name": "Ерлан",
        "patronymic": "Болатұлы",
        "basis": "joint_application",
    }


def sign(party: Party, document: Any, *, fmt: str = "jws", at: datetime) -> dict[str, str]:
    content = canonicalize(document)
    if fmt == "cms":
        der = cms.sign_detached(
            content,
            party.certificate,
            party.key,
            chain=party.chain,
            signing_time=at,  # type: ignore[arg-type]
        )
        return {"format": "cms", "value": base64.b64encode(der).decode()}
    value = jws.sign_detached(
        content,
        party.certificate,
        party.key,
        chain=party.chain,
        signing_time=at,  # type: ignore[arg-type]
    )
    return {"format": "jws", "value": value}


def dossier(
    pki: PKI,
    record: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    *,
    signers: tuple[Party, ...] | None = None,
    seal: Party | None = None,
    fmt: str = "jws",
) -> dict[str, Any]:
    """A complete dossier: the record sealed (CMS) by the facility, the application signed by
    `signers` (the mother by default) at the PKI's moment."""
    record = record if record is not None else medical_record(pki)
    document = document if document is not None else application(pki, record)
    signers = signers if signers is not None else (pki.mother,)
    at = pki.moment - timedelta(minutes=1)
    return {
        "medical_record": {
            "document": record,
            "signature": sign(seal or pki.facility, record, fmt="cms", at=at),
        },
        "application": {
            "document": document,
            "signatures": [sign(s, document, fmt=fmt, at=at) for s in signers],
        },
    }


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result
