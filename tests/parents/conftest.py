"""Fixtures of the parents' tests: the ward's staff and a mother signed in on her phone."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import Phone, new_birth, signed_in_mother, ward_headers


@pytest.fixture
def ward(app: Any) -> dict[str, str]:
    return ward_headers(app)


@pytest.fixture
def mother(app: Any, client: TestClient, ward: dict[str, str]) -> Phone:
    return signed_in_mother(app, client, ward, new_birth(client, ward))
