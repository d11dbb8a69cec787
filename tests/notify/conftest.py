"""Fixtures of the notification tests: a real SMTP server and SMS gateway on 127.0.0.1, and the
service's settings pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from registry import factories as f

from birthreg.config import Settings

from .servers import Gateway, SMTPServer


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def delivering(settings: Settings, smtp_url: str, sms_url: str, **more: Any) -> Settings:
    """The settings with an SMTP server and an SMS gateway (and any other changes)."""
    return settings.model_copy(
        update={"smtp_url": SecretStr(smtp_url), "sms_url": SecretStr(sms_url), **more}
    )


@pytest.fixture
def clerk(app: Any) -> dict[str, str]:
    return f.staff_headers(app)
