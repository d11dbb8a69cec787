"""signing._steps: the running list of checks, and the passed checks it shares between reports."""

from __future__ import annotations

from signing._steps import Steps, passed_check
from signing.report import Check


def test_a_passed_check_is_shared_only_with_equal_ones() -> None:
    # Checks are immutable, so one object may serve every report with the same name and
    # detail; any other name or detail is a check of its own.
    first, second = Steps(), Steps()
    first.passed("cms.version", "SignedData v1")
    second.passed("cms.version", "SignedData v1")
    second.passed("cms.version", "SignedData v3")
    second.passed("cms.signer_count", "SignedData v1")
    assert first.checks[0] is second.checks[0] is passed_check("cms.version", "SignedData v1")
    assert second.checks == (
        Check("cms.version", True, "SignedData v1"),
        Check("cms.version", True, "SignedData v3"),
        Check("cms.signer_count", True, "SignedData v1"),
    )


def test_a_distinct_detail_is_its_own_check() -> None:
    steps = Steps()
    steps.passed_distinct("jws.sigT", "claimed 2026-06-01T12:00:00+00:00")
    steps.passed_distinct("jws.sigT", "claimed 2026-06-01T12:00:01+00:00")
    assert steps.checks == (
        Check("jws.sigT", True, "claimed 2026-06-01T12:00:00+00:00"),
        Check("jws.sigT", True, "claimed 2026-06-01T12:00:01+00:00"),
    )
    assert all(check.passed for check in steps.checks)
