"""The benchmarks in bench/ still run: each script, at a tiny size, exits 0 and prints its
results (the numbers are not judged here; speed is measured by running bench/, not by tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_verify_prints_every_case_beside_the_peer() -> None:
    results = json.loads(_run("verify.py", "--n", "3", "--rounds", "1")[-1])
    cases = {
        "raw ECDSA P-256 verify (orientation)",
        "floor: new signer, no Python of ours",
        "peer: pyHanko, cms cold signer, crl",
        *(
            f"{fmt}: {case}"
            for fmt in ("cms", "jws")
            for case in ("repeat signer", "cold signer, crl warm", "cold signer, ocsp")
        ),
    }
    assert set(results["us"]) == cases
    assert all(us > 0 for us in results["us"].values())
    assert set(results["faster_than_peer"]) == {"cms", "jws"}
    assert all(ratio > 0 for ratio in results["faster_than_peer"].values())


def test_registration_counts_its_statements() -> None:
    results = json.loads(_run("registration.py", "--n", "3")[-1])
    assert results["p50_ms"] > 0
    assert results["statements"] >= 5
    assert results["commit_ms"] > 0 and results["raw_fsync_ms"] > 0


def test_audit_walks_a_chain_with_checkpoints() -> None:
    results = json.loads(_run("audit.py", "--n", "2500")[-1])
    assert results["entries_per_s"] > 0 and results["since_ms"] > 0
    assert results["decade_full_min"] * 60_000 > results["decade_since_ms"] > 0


def test_intake_measures_ours_and_the_bare_endpoint() -> None:
    # One worker: no test starts a multi-worker server (bench/ measures with two).
    results = json.loads(_run("intake.py", "--n", "10", "--clients", "2", "--workers", "1")[-1])
    assert results["dossiers_per_s"] > 0 and results["bare_per_s"] > 0
    # CPU time comes from /proc in clock ticks (10 ms): 20 dossiers take several of the
    # registry's, but the bare endpoint's may all fit in one, so it may read 0.
    assert results["server_cpu_ms"] > 0 and results["bare_cpu_ms"] >= 0
    assert 0 < results["ratio"] < 1
    assert results["max_ms"] >= results["p99_ms"] >= results["p50_ms"] > 0


def test_pdf_makes_and_serves_stored() -> None:
    results = json.loads(_run("pdf.py", "--n", "2", "--served", "2", "--rounds", "2")[-1])
    assert results["render_sign_ms"] > 0 and results["first_download_ms"] > 0
    assert results["stored_ms"] > 0 and results["stored_p90_ms"] >= results["stored_ms"]
    assert results["signed_bytes"] > results["unsigned_bytes"] > 0


def test_notify_measures_event_to_smtp_delay() -> None:
    results = json.loads(_run("notify.py", "--n", "3", "--burst", "3")[-1])
    assert 0 < results["p50_ms"] <= results["p99_ms"]
    assert results["burst_per_s"] > 0


def test_crl_builds_and_serves() -> None:
    results = json.loads(_run("crl.py", "--n", "60", "--issued", "30000", "--rounds", "1")[-1])
    assert results["n"] == 60 and results["partitions"] == 3
    assert results["single_der_bytes"] > 60 * 30
    assert 20 * 30 < results["partition_der_bytes"]["max"] < results["single_der_bytes"]
    assert results["partitions_build_s"] > 0 and results["publish_all_s"] > 0
    assert results["rebuild_one_ms"] > 0 and results["get_ms"] > 0 and results["ocsp_ms"] > 0


def test_phone_flow_times_the_flow_in_chromium() -> None:
    if os.environ.get("BIRTHREG_BROWSER_TESTS") != "1" or not Path("/usr/bin/chromium").exists():
        pytest.skip("browser tests are off (BIRTHREG_BROWSER_TESTS=1 turns them on)")
    results = json.loads(_run("phone_flow.py", "--runs", "1", "--rates", "4")[-1])
    (throttled,) = results["results"]
    assert throttled["cpu_throttling"] == 4 and throttled["median_s"] > 0
    assert set(throttled["median_parts_s"]) == {
        "total", "enrollment", "form_to_review", "signing_to_receipt"
    }
