"""Domain errors: a machine code, a sentence for people and the HTTP status they deserve.

They import no web framework; `birthreg.main` has the one handler that turns them into
`{"error": CODE, "detail": text}`.
"""

from __future__ import annotations


class DomainError(Exception):
    """Something the caller got wrong (4xx) or a state the service cannot serve from (5xx)."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


class NotFound(DomainError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, 404)


class ServiceNotInitialised(DomainError):
    """The data dir lacks what `birthreg init` makes (the TEST CA, secrets)."""

    def __init__(self, detail: str) -> None:
        super().__init__("not_initialised", detail, 503)
