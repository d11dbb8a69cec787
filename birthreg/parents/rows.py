"""The application as people read it: labelled rows, and a fingerprint in groups of four."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from birthreg.i18n import LANGUAGE_NAMES, format_date, gettext

Rows = list[tuple[str, str]]


def _labelled(values: dict[str, Any], labels: tuple[tuple[str, str], ...]) -> Rows:
    return [(label, values[key]) for key, label in labels if key in values]


def _name_labels() -> tuple[tuple[str, str], ...]:
    return (
        ("surname", gettext("Surname")),
        ("given_name", gettext("Given name")),
        ("patronymic", gettext("Patronymic")),
    )


def _day(text: str) -> str:
    """An ISO date as the current language writes it (the text itself if it is none)."""
    try:
        return format_date(date.fromisoformat(text), "long")
    except ValueError:
        return text


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
    marriage = father.get("marriage_certificate") or {}
    if marriage:
        rows.append((gettext("Marriage certificate number"), marriage.get("number", "")))
        rows.append((gettext("Date of the marriage certificate"), _day(marriage.get("date", ""))))
    return rows


def technical_rows(document: dict[str, Any]) -> Rows:
    """The document's own fields that say nothing to people (its type, its number and the
    medical record's fingerprint): shown in a fold."""
    return [
        (gettext("Document type"), document.get("type", "")),
        (gettext("Application number"), document.get("id", "")),
        (
            gettext("Medical record fingerprint (SHA-256)"),
            document.get("medical_record_sha256", ""),
        ),
    ]


def document_rows(document: dict[str, Any]) -> list[tuple[str, Rows]]:
    """The application as labelled rows, group by group: the rest of the document's fields (see
    `technical_rows`), in the order of DESIGN.md, nothing added."""
    address_labels = (
        ("region", gettext("Region")),
        ("locality", gettext("City, town or village")),
        ("street", gettext("Street")),
        ("building", gettext("Building")),
        ("flat", gettext("Flat")),
    )
    contact_labels = (("phone", gettext("Phone")), ("email", gettext("E-mail")))
    language = document.get("language", "")
    groups = [
        (gettext("Child"), _labelled(document.get("child") or {}, _name_labels())),
        (gettext("Mother"), [(gettext("IIN"), (document.get("mother") or {}).get("iin", ""))]),
        (gettext("Father"), _father_rows(document.get("father"))),
        (gettext("Address"), _labelled(document.get("address") or {}, address_labels)),
        (gettext("Contact"), _labelled(document.get("contact") or {}, contact_labels)),
        (
            gettext("Language"),
            [(gettext("Language of the documents"), LANGUAGE_NAMES.get(language, language))],
        ),
    ]
    if document.get("late_reason"):
        groups.append(
            (gettext("Late registration"), [(gettext("Reason"), document["late_reason"])])
        )
    return groups


def grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def _full_name(person: dict[str, Any]) -> str:
    names = (person.get(key) for key in ("surname", "given_name", "patronymic"))
    return " ".join(str(name) for name in names if name)


def _father_in_words(father: dict[str, Any] | None) -> str:
    if father is None:
        return gettext("No father is named on the application.")
    values = {"father": _full_name(father), "iin": father.get("iin", "")}
    marriage = father.get("marriage_certificate") or {}
    if father.get("basis") == "marriage":
        return gettext(
            "The father is %(father)s (IIN %(iin)s), her husband by the marriage certificate "
            "%(number)s of %(date)s."
        ) % {**values, "number": marriage.get("number", ""), "date": _day(marriage.get("date", ""))}
    return gettext(
        "The father is %(father)s (IIN %(iin)s); he signs the application too."
    ) % values


#: An address as it is written on an envelope here: street and building first, region last.
ADDRESS_ORDER = ("street", "building", "flat", "locality", "region")


def _in_order(values: dict[str, Any], keys: tuple[str, ...], separator: str) -> str:
    return separator.join(str(values[key]) for key in keys if values.get(key))


def document_in_words(document: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """What signing the document means, in sentences of the current language."""
    born = datetime.fromisoformat(record["child"]["born_at"])
    contact = document.get("contact") or {}
    language = document.get("language", "")
    sentences = [
        gettext(
            "%(mother)s (IIN %(iin)s) asks the registry to register the birth of her child, "
            "born on %(date)s at %(facility)s, with the name %(child)s."
        ) % {
            "mother": _full_name(record.get("mother") or {}),
            "iin": (document.get("mother") or {}).get("iin", ""),
            "date": format_date(born, "long"),
            "facility": (record.get("facility") or {}).get("name", ""),
            "child": _full_name(document.get("child") or {}),
        },
        _father_in_words(document.get("father")),
        gettext("The family lives at %(address)s.") % {
            "address": _in_order(document.get("address") or {}, ADDRESS_ORDER, ", ")
        },
        gettext("The registry writes to %(contact)s. Language of the documents: %(language)s.") % {
            "contact": _in_order(contact, ("phone", "email"), " / "),
            "language": LANGUAGE_NAMES.get(language, language),
        },
    ]
    if document.get("late_reason"):
        sentences.append(
            gettext("The application comes late because: %(reason)s")
            % {"reason": document["late_reason"]}
        )
    return sentences
