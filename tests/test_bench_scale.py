"""bench/scale.py still runs: seeded to a tiny size on the test PostgreSQL, it times every case
and prints them (the numbers are not judged here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servicekit import reset_postgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.postgres
def test_scale_seeds_and_times_every_case(tmp_path: Path) -> None:
    url = os.environ.get("BIRTHREG_TEST_DATABASE_URL")
    if not url:
        pytest.skip("BIRTHREG_TEST_DATABASE_URL is not set")
    reset_postgres(url)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--births", "40", "--rounds", "2",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "BIRTHREG_BENCH_DATABASE_URL": url},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["births"] == 40
    assert {"queue: mid-history keyset page", "a submission's page", "parent: home",
            "parent: sign-in", "intake of a dossier", "registration", "GET /pki/crl", "OCSP",
            "audit verify --since-checkpoint"} <= set(results["ms"])
    assert all(0 < case["p50"] <= case["p95"] for case in results["ms"].values())
