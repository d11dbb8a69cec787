"""No IIN or name reaches a log: the whole ward flow is run with every logger at DEBUG and the
records (messages and arguments) are searched for the personal data that went through it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from ward.helpers import (
    FATHER_IIN,
    MOTHER_IIN,
    enroll_with_csr,
    father_body,
    record_birth,
    start_enrollment,
    ward_headers,
)


def test_the_ward_flow_logs_no_personal_data(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = ward_headers(app)
    birth = record_birth(client, headers)
    document = birth["medical_record"]["document"]
    started = start_enrollment(client, headers, birth["id"])
    enroll_with_csr(client, started["code"])
    father = start_enrollment(client, headers, birth["id"], father_body())
    enroll_with_csr(client, father["code"])
    client.post("/api/v1/auth/token", data={"username": "midwife", "password": "wrong password"})

    secrets = {
        MOTHER_IIN,
        FATHER_IIN,
        document["mother"]["surname"],
        document["mother"]["given_name"],
        father_body()["surname"],
        started["code"],
    }
    logged = "\n".join(
        record.getMessage() + " " + repr(record.args) for record in caplog.records
    )
    assert caplog.records, "the flow should log something (logins, issuance)"
    for secret in secrets:
        assert secret not in logged
