"""Logging hygiene: the access log never carries a capability.

Certificate ids, submission ids and application ids are unguessable and grant access to personal
data to whoever holds them, and an OCSP GET path carries a request; the access log keeps the
shape of the path and drops those segments. (No IIN or name is ever logged by our own code: a
test runs the ward flow with every logger at DEBUG and searches the records.)
"""

from __future__ import annotations

import logging
import re

#: A path segment that looks like an identifier: a UUID, or 16+ characters of base64url/hex.
_IDENTIFIER = re.compile(r"(?<=/)(?:[0-9a-fA-F-]{32,36}|[A-Za-z0-9_%+=-]{16,})(?=[/?.]|$)")
_QUERY = re.compile(r"\?.*$")


def redact_path(path: str) -> str:
    """The path with identifier-like segments replaced by "…" and the query string dropped."""
    return _IDENTIFIER.sub("…", _QUERY.sub("", path))


class RedactAccessLog(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, version,
    status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install() -> None:
    """Attach the filter once (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessLog) for f in access.filters):
        access.addFilter(RedactAccessLog())
