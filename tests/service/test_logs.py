"""The access log keeps the shape of a path and drops capabilities and query strings."""

from __future__ import annotations

import logging

from birthreg.logs import RedactAccessLog, redact_path


def test_identifiers_are_redacted() -> None:
    certificate = "u3Jb2x9Qk1mZ8rT0aPqL5sVw7yXc4dEf"
    assert redact_path(f"/api/v1/registry/certificates/{certificate}.pdf") == (
        "/api/v1/registry/certificates/….pdf"
    )
    assert (
        redact_path("/api/v1/registry/submissions/6f1c2b9e-3d4a-4f5b-8c7d-9e0f1a2b3c4d/status")
        == "/api/v1/registry/submissions/…/status"
    )
    assert redact_path("/pki/ocsp/MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQ") == "/pki/ocsp/…"
    assert redact_path("/ward/births?date=2026-11-27") == "/ward/births"
    assert (
        redact_path("/api/v1/ward/certificates/1f/revoke") == "/api/v1/ward/certificates/1f/revoke"
    )


def test_the_filter_rewrites_uvicorn_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/registry/certificates/u3Jb2x9Qk1mZ8rT0aPqL5sVw/print",
            "1.1",
            200,
        ),
        None,
    )
    assert RedactAccessLog().filter(record)
    assert "u3Jb2x9Qk1mZ8rT0aPqL5sVw" not in record.getMessage()
    assert "/registry/certificates/…/print" in record.getMessage()
