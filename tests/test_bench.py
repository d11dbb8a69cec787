"""The benchmarks in bench/ still run: each script, at a tiny size, exits 0 and prints its
results (the numbers are not judged here; speed is measured by running bench/, not by tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "BIRTHREG_BENCH_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_verify_prints_every_case_with_its_floor() -> None:
    results = json.loads(_run("verify.py", "--n", "4", "--rounds", "1")[-1])
    cases = {
        "floor: new signer, no Python (see above)",
        *(f"{fmt}: repeat signer" for fmt in ("cms", "jws")),
        *(
            f"{fmt}: distinct signers, {prefer} first"
            for fmt in ("cms", "jws")
            for prefer in ("ocsp", "crl")
        ),
    }
    assert set(results) == cases
    assert all(value["us"] > 0 and value["ratio"] > 0 for value in results.values())


def test_registration_counts_its_statements() -> None:
    results = json.loads(_run("registration.py", "--n", "3")[-1])
    assert results["p50_ms"] > 0
    assert results["statements"] >= 5


def test_intake_measures_ours_and_the_bare_endpoint() -> None:
    results = json.loads(_run("intake.py", "--n", "20", "--clients", "2")[-1])
    assert results["dossiers_per_s"] > 0 and results["bare_per_s"] > 0
    # CPU time comes from /proc in clock ticks (10 ms): 20 dossiers take several of the
    # registry's, but the bare endpoint's may all fit in one, so it may read 0.
    assert results["server_cpu_ms"] > 0 and results["bare_cpu_ms"] >= 0
    assert 0 < results["ratio"] < 1


def test_pdf_renders_and_signs() -> None:
    lines = _run("pdf.py", "--n", "2", "--rounds", "1")
    assert any(line.strip().startswith("our pipeline (render + sign)") for line in lines)


def test_crl_builds_and_serves() -> None:
    results = json.loads(_run("crl.py", "--n", "50", "--rounds", "1")[-1])
    assert results["n"] == 50 and results["der_bytes"] > 50 * 20
    assert results["build_s"] > 0 and results["service_s"] > 0 and results["served_ms"] > 0
