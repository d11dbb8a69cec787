"""The application as people read it: labelled rows, and a fingerprint in groups of four."""

from __future__ import annotations

from typing import Any

from birthreg.i18n import LANGUAGE_NAMES, gettext

Rows = list[tuple[str, str]]


def _labelled(values: dict[str, Any], labels: tuple[tuple[str, str], ...]) -> Rows:
    return [(label, values[key]) for key, label in labels if key in values]


def _name_labels() -> tuple[tuple[str, str], ...]:
    return (
        ("surname", gettext("Surname")),
        ("given_name", gettext("Given name")),
        ("patronymic", gettext("Patronymic")),
    )


def _father_rows(father: dict[str, Any] | None) -> Rows:
    if father is None:
        return [(gettext("Father"), gettext("Not on the application"))]
    bases = {
        "marriage": gettext("Marriage certificate"),
        "joint_application": gettext("Joint application of the parents"),
    }
    rows = [(gettext("IIN"), father.get("iin", ""))]
    rows += _labelled(father, _name_labels())
    rows.append((gettext("Basis"), bases.get(father.get("basis", ""), father.get("basis", ""))))
    return rows


def document_rows(document: dict[str, Any]) -> list[tuple[str, Rows]]:
    """The application as labelled rows, group by group: every field of the document, in the
    order of DESIGN.md, nothing added."""
    address_labels = (
        ("region", gettext("Region")),
        ("locality", gettext("City, town or village")),
        ("street", gettext("Street")),
        ("building", gettext("Building")),
        ("flat", gettext("Flat")),
    )
    contact_labels = (("phone", gettext("Phone")), ("email", gettext("E-mail")))
    language = document.get("language", "")
    return [
        (
            gettext("Document"),
            [
                (gettext("Document type"), document.get("type", "")),
                (gettext("Application number"), document.get("id", "")),
                (
                    gettext("Medical record fingerprint (SHA-256)"),
                    document.get("medical_record_sha256", ""),
                ),
            ],
        ),
        (gettext("Child"), _labelled(document.get("child") or {}, _name_labels())),
        (gettext("Mother"), [(gettext("IIN"), (document.get("mother") or {}).get("iin", ""))]),
        (gettext("Father"), _father_rows(document.get("father"))),
        (gettext("Address"), _labelled(document.get("address") or {}, address_labels)),
        (gettext("Contact"), _labelled(document.get("contact") or {}, contact_labels)),
        (
            gettext("Language"),
            [(gettext("Language of the documents"), LANGUAGE_NAMES.get(language, language))],
        ),
    ] + (
        [(gettext("Late application"), [(gettext("Reason"), document["late_reason"])])]
        if document.get("late_reason")
        else []
    )


def grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))
