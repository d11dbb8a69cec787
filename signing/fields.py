"""Field checks shared by the dossier's two documents, filed under the names in FIELD_CHECKS,
each one Check in the report (so a report always lists the same checks). Problems name the field
by its dotted path and never quote its value: values are personal data, and details reach logs.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from signing.errors import SigningError
from signing.names import validate_person_name
from signing.report import Check
from signing.signature import plausible_time

#: The checks every document reports, in this order.
FIELD_CHECKS = ("document_fields", "identity_numbers", "names", "business_rules")

#: Unicode categories that no free text on a document may hold: controls (C0 and C1, NUL,
#: DEL), format characters (the bidi embeddings, overrides and isolates U+202A-U+202E and
#: U+2066-U+2069, zero-width joiners, the soft hyphen, the byte-order mark), surrogates,
#: private use and unassigned code points, and the line and paragraph separators. They are
#: invisible or reorder what is shown, so a clerk, a certificate and a search could each
#: read a different text from the same bytes.
_NOT_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def free_text_problem(text: str) -> str | None:
    """Why text cannot stand in a document (its first control or format character, by code
    point and position), or None. The one rule for every string a dossier carries."""
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) in _NOT_TEXT:
            return f"character U+{ord(char):04X} at position {position} is not printable text"
    return None


class Fields:
    """Collects named problems over one document's fields."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}

    def problem(self, check: str, detail: str) -> None:
        self.problems.setdefault(check, []).append(detail)

    def free_text(self, value: Any, path: str) -> None:
        """Every string in value (member names too, at any depth) must be printable text."""
        stack = [(value, path)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, str):
                problem = free_text_problem(item)
                if problem is not None:
                    self.problem("document_fields", f"{where}: {problem}")
            elif isinstance(item, Mapping):
                for key, member in item.items():
                    stack.append((key, f"{where} (a member name)"))
                    # A path names fields; a name that is itself not text is not repeated.
                    named = isinstance(key, str) and len(key) <= 64 and not free_text_problem(key)
                    stack.append((member, f"{where}.{key if named else '?'}"))
            elif isinstance(item, list):
                stack.extend((member, f"{where}[{index}]") for index, member in enumerate(item))

    def object(self, document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = document.get(key)
        if not isinstance(value, Mapping):
            self.problem("document_fields", f"{key} must be an object")
            return {}
        return value

    def string(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        optional: bool = False,
        max_length: int = 200,
    ) -> str | None:
        value = obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            self.problem(
                "document_fields",
                f"{path}.{key} must be a non-empty string of at most {max_length} characters",
            )
            return None
        return value

    def integer(
        self, obj: Mapping[str, Any], key: str, path: str, low: int, high: int
    ) -> int | None:
        value = obj.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem("document_fields", f"{path}.{key} must be an integer")
            return None
        if not low <= value <= high:
            self.problem("business_rules", f"{path}.{key} must be between {low} and {high}")
            return None
        return value

    def time(self, obj: Mapping[str, Any], key: str, path: str) -> datetime | None:
        value = obj.get(key)
        try:
            if not isinstance(value, str) or "T" not in value:
                raise ValueError
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.problem("document_fields", f"{path}.{key} must be an RFC 3339 time")
            return None
        if parsed.tzinfo is None:
            self.problem("document_fields", f"{path}.{key} must carry a UTC offset")
            return None
        try:  # far from datetime's limits (see plausible_time)
            plausible_time(parsed)
        except ValueError:
            self.problem("document_fields", f"{path}.{key} must be a time from 1900 to 2999")
            return None
        return parsed

    def identifier(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        try:
            if not isinstance(value, str):
                raise ValueError
            uuid.UUID(value)
        except ValueError:
            self.problem("document_fields", f"{path}.{key} must be a UUID")

    def number(self, value: str | None, path: str, validate: Callable[[str], None]) -> None:
        if value is None:
            return
        try:
            validate(value)
        except SigningError as error:
            self.problem("identity_numbers", f"{path}: {error.detail}")

    def name(self, value: str | None, path: str) -> None:
        if value is None:
            return
        try:
            validate_person_name(value, field=path)
        except SigningError as error:
            self.problem("names", f"{path}: {error.detail}")

    def person_names(self, obj: Mapping[str, Any], path: str) -> None:
        """surname and given_name, and patronymic when present."""
        self.name(self.string(obj, "surname", path), f"{path}.surname")
        self.name(self.string(obj, "given_name", path), f"{path}.given_name")
        self.name(self.string(obj, "patronymic", path, optional=True), f"{path}.patronymic")

    def checks(self) -> list[Check]:
        return [
            Check(name, name not in self.problems, "; ".join(self.problems.get(name, [])))
            for name in FIELD_CHECKS
        ]
