"""Signers by name and role, as a clerk reads them: "Гүлнұр Әбілқасымова (mother)", never a
certificate's serial number.

The national certificate profile puts "SURNAME GIVENNAME" in CN, the surname in SURNAME and the
patronymic in GIVENNAME; a person is named here by given name and surname, an organisation by
its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography import x509

from birthreg.i18n import gettext


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def person_name(rfc4514: str) -> str:
    """Given name and surname from a certificate subject (RFC 4514 text); an organisation's or
    any other subject's common name; "" when there is none."""
    try:
        name = x509.Name.from_rfc4514_string(rfc4514)
    except ValueError:
        return ""
    common = _first(name, x509.NameOID.COMMON_NAME)
    surname = _first(name, x509.NameOID.SURNAME)
    if surname and common.startswith(surname + " "):
        given = common[len(surname) + 1 :].strip()
        return f"{given} {surname}" if given else surname
    return common or _first(name, x509.NameOID.ORGANIZATION_NAME)


def role_name(role: str) -> str:
    """The signer's role in the dossier, in the current language (lowercase, for a sentence)."""
    roles = {
        "mother": gettext("mother"),
        "father": gettext("father"),
        "facility": gettext("the ward's seal"),
    }
    return roles.get(role, gettext("not named on the dossier"))


def signer_label(name: str, role: str) -> str:
    """ "Name (role)" for a signer; the role alone when the name is unknown."""
    if not name:
        return role_name(role)
    return gettext("%(name)s (%(role)s)") % {"name": name, "role": role_name(role)}


def holders(report: Mapping[str, Any]) -> dict[str, str]:
    """Each signing certificate's serial (lowercase hex) → its holder's name, from a report's
    JSON; for the history, whose actors are `holder:<serial>` (it shows the role beside)."""
    found: dict[str, str] = {}
    for document in report.get("documents") or []:
        for signature in document.get("signatures") or []:
            signer = signature.get("signer") or {}
            serial = str(signer.get("serial") or "").lower()
            name = person_name(str(signer.get("subject") or ""))
            if serial and name:
                found[serial] = name
    return found
