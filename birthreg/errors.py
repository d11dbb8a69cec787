"""Domain errors: a machine code, a sentence for people and the HTTP status they deserve.

They import no web framework; `birthreg.main` has the one handler that turns them into
`{"error": CODE, "detail": text}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class DomainError(Exception):
    """Something the caller got wrong (4xx) or a state the service cannot serve from (5xx).

    `extra` is more of the JSON body (a verification `report`, the offending `field`), `headers`
    what the answer carries besides (a `Retry-After`)."""

    #: Headers of the answer; a subclass may make this a property (a throttle's wait).
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self, code: str, detail: str, status: int = 400, *,
        extra: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.extra = dict(extra or {})
        if headers is not None:
            self.headers = MappingProxyType(dict(headers))

    def body(self) -> dict[str, Any]:
        """The JSON answer: `{"error": CODE, "detail": text}` and the extra fields."""
        return {"error": self.code, "detail": self.detail, **self.extra}


class NotFound(DomainError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, 404)


class ServiceNotInitialised(DomainError):
    """The data dir lacks what `birthreg init` makes (the TEST CA, secrets)."""

    def __init__(self, detail: str) -> None:
        super().__init__("not_initialised", detail, 503)
