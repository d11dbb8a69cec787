"""The certificate PDF: its first download (render + sign) and a stored one served over HTTP.

In one run:

- in this process, N certificates, each with other names and a new QR seal: WeasyPrint's render
  alone, pyHanko's PAdES signature alone, and both (what a certificate's first download costs),
  milliseconds per certificate (median and slowest); the first PDF of the process (imports,
  fonts) is given apart;
- over HTTP: `birthreg serve` on a fresh data dir (SQLite, or PostgreSQL when
  BIRTHREG_BENCH_DATABASE_URL names an empty database) with K certificates issued into it; each
  one's first GET (made, signed, stored), then R GETs of each stored PDF (median, 90th percentile),
  on one kept-alive connection;
- the stored PDF's size.

Beside each wall time (what a user waits) the CPU time is given (this process's, or the server's
per GET from /proc): on a shared machine the wall time grows with the others' load, the CPU time
much less. Goals (issues 11 and 15), on the wall time: a first PDF in under 1 s; a stored PDF
served in under 10 ms.

    python bench/pdf.py [--n 10] [--served 5] [--rounds 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from verify.certificates import issue  # noqa: E402  (the tests' certificate factory)

from birthreg.bootstrap import initialise  # noqa: E402
from birthreg.config import Settings  # noqa: E402
from birthreg.db import engine_from_settings  # noqa: E402
from birthreg.pki.seals import Seal  # noqa: E402
from birthreg.registry import certificate_pdf  # noqa: E402
from birthreg.registry.certificate import seal_fields  # noqa: E402
from signing.ca import CertificationAuthority, Organisation, Profile  # noqa: E402
from signing.identity import make_iin  # noqa: E402
from signing.seal import make_seal, qr_text  # noqa: E402

MOMENT = datetime(2026, 6, 1, 12, tzinfo=UTC)
BIRTH_DATE = date(2026, 5, 30)
GIVEN_NAMES = ("Айару", "Аружан", "Нұрсұлтан", "Әлихан", "Томирис", "Інжу", "Ерасыл", "Медина")
FIRST_PDF_GOAL_MS = 1000
STORED_GOAL_MS = 10


def _seal() -> Seal:
    ca = CertificationAuthority.create(base_url="http://bench.test", moment=MOMENT)
    key, certificate = ca.issue_with_new_key(
        Organisation(bin="050140000021", name="Өскемен қаласының АХАЖ бөлімі"),
        profile=Profile.ORGANISATION_SEAL,
        moment=MOMENT,
    )
    return Seal(key, certificate, (*ca.chain, ca.root_certificate))


def _child_iin(index: int) -> str:
    """The index-th issuable IIN of a girl born on BIRTH_DATE (some serials have none)."""
    iins = (make_iin(BIRTH_DATE, "F", serial) for serial in range(1, 10000))
    return [iin for iin in iins if iin is not None][index]


def _certificate(index: int, seal: Seal) -> tuple[dict[str, Any], str]:
    fields: dict[str, Any] = {
        "certificate_number": f"TEST-I № {index + 1:06d}",
        "child": {
            "surname": "Әбілқасымова",
            "given_name": GIVEN_NAMES[index % len(GIVEN_NAMES)],
            "patronymic": "Ерланқызы",
            "date_of_birth": BIRTH_DATE.isoformat(),
            "place_of_birth": "Өскемен / Усть-Каменогорск",
            "sex": "F",
            "iin": _child_iin(index),
        },
        "mother": {"surname": "Әбілқасымова", "given_name": "Гүлнұр", "patronymic": "Серікқызы",
                   "nationality": None},
        "father": {"surname": "Әбілқасымов", "given_name": "Ерлан", "patronymic": "Болатұлы",
                   "nationality": None},
        "act_record": {"number": index + 1, "year": 2026, "date": "2026-06-01"},
        "registry_office": {"code": "ESK-01", "bin": "050140000021",
                            "name": "Өскемен қаласының АХАЖ бөлімі (TEST)"},
        "issued_at": MOMENT.isoformat(),
    }
    sealed = make_seal(seal_fields(fields), seal.key, seal.certificate)
    return fields, qr_text("https://birthreg.test", sealed)


def _timed(function: Callable[[int], object], n: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of function(0), …, function(n - 1), each."""
    wall, cpu = [], []
    for index in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(index)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its children, from /proc (NaN without)."""
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / os.sysconf("SC_CLK_TCK") if found else float("nan")


def _in_process(n: int) -> dict[str, Any]:
    """Render, sign, and both, in this process (the first PDF of the process apart)."""
    seal = _seal()
    certificates = [_certificate(index, seal) for index in range(n + 1)]
    start = time.perf_counter()
    certificate_pdf.signed_certificate_pdf(*certificates[n], seal)
    cold_ms = (time.perf_counter() - start) * 1000
    rendered = certificate_pdf.render_certificate_pdf(*certificates[n])
    render = _timed(lambda i: certificate_pdf.render_certificate_pdf(*certificates[i]), n)
    sign = _timed(lambda i: certificate_pdf.sign_pdf(rendered, seal), n)
    both = _timed(lambda i: certificate_pdf.signed_certificate_pdf(*certificates[i], seal), n)
    return {"cold_ms": cold_ms, "render": render, "sign": sign, "both": both,
            "unsigned_bytes": len(rendered)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`birthreg serve` (one worker), once its /healthz answers."""
    command = [sys.executable, "-m", "birthreg.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def _over_http(served: int, rounds: int) -> dict[str, Any]:
    """First and stored downloads of `served` certificates from `birthreg serve`."""
    with tempfile.TemporaryDirectory(prefix="birthreg-bench-") as tmp:
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        database_url = os.environ.get("BIRTHREG_BENCH_DATABASE_URL") or (
            f"sqlite:///{tmp}/bench.sqlite3"
        )
        settings = Settings(data_dir=Path(tmp) / "data", database_url=database_url,
                            base_url=base_url, _env_file=None)  # type: ignore[call-arg]
        initialise(settings)
        engine = engine_from_settings(settings)
        from sqlmodel import Session

        with Session(engine) as session:
            ids = [issue(settings, session, child_iin=_child_iin(index),
                         act_record_number=index + 1).id for index in range(served + 1)]
        engine.dispose()
        env = {**os.environ, "BIRTHREG_DATA_DIR": f"{tmp}/data",
               "BIRTHREG_DATABASE_URL": database_url, "BIRTHREG_BASE_URL": base_url,
               "BIRTHREG_ENV": "development"}
        server = _serve(env, port)
        try:
            with httpx.Client(base_url=base_url, timeout=60) as client:

                def get(certificate_id: str) -> bytes:
                    response = client.get(f"/api/v1/registry/certificates/{certificate_id}.pdf")
                    response.raise_for_status()
                    return response.content

                start = time.perf_counter()
                get(ids[served])  # the worker's first PDF: imports, fonts
                cold_ms = (time.perf_counter() - start) * 1000
                cpu_before = _cpu_seconds(server.pid)
                first, _ = _timed(lambda i: get(ids[i]), served)
                first_cpu = (_cpu_seconds(server.pid) - cpu_before) * 1000 / served
                cpu_before = _cpu_seconds(server.pid)
                stored, _ = _timed(lambda i: get(ids[i % served]), served * rounds)
                stored_cpu = (_cpu_seconds(server.pid) - cpu_before) * 1000 / (served * rounds)
                size = len(get(ids[0]))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"cold_ms": cold_ms, "first": first, "first_cpu": first_cpu, "stored": stored,
            "stored_cpu": stored_cpu, "bytes": size,
            "db": "postgresql" if "postgresql" in database_url else "sqlite"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="certificates rendered in process")
    parser.add_argument("--served", type=int, default=5, help="certificates served over HTTP")
    parser.add_argument("--rounds", type=int, default=40, help="GETs of each stored PDF")
    args = parser.parse_args()

    local = _in_process(args.n)
    http = _over_http(args.served, args.rounds)
    first_ms = statistics.median(http["first"])
    stored_ms = statistics.median(http["stored"])

    def row(name: str, times: list[float], cpu: str) -> str:
        return (f"  {name:<38} {statistics.median(times):8.1f} ms median"
                f" {max(times):8.1f} slowest  CPU {cpu}")

    def verdict(value: float, goal: float) -> str:
        return f"  goal < {goal:g} ms: " + ("met" if value < goal else "NOT met")

    print(f"bench/pdf.py  n={args.n} served={args.served} rounds={args.rounds} db={http['db']}  "
          f"{platform.python_implementation()} {platform.python_version()} "
          f"{platform.machine()}  {datetime.now(UTC):%Y-%m-%d}")
    print(f"  in process: first PDF of the process   {local['cold_ms']:8.1f} ms")
    for name, key in (("WeasyPrint render alone", "render"),
                      ("pyHanko PAdES signature alone", "sign"), ("render + sign", "both")):
        wall, cpu = local[key]
        print(row(name, wall, f"{statistics.median(cpu):.1f} ms median"))
    print(f"  over HTTP: the worker's first PDF      {http['cold_ms']:8.1f} ms")
    print(row("first download (render, sign, store)", http["first"],
              f"{http['first_cpu']:.1f} ms mean (server)") + verdict(first_ms, FIRST_PDF_GOAL_MS))
    print(row("stored PDF", http["stored"], f"{http['stored_cpu']:.2f} ms mean (server)")
          + verdict(stored_ms, STORED_GOAL_MS))
    print(f"  stored PDF, 90th percentile            {_percentile(http['stored'], 0.9):8.1f} ms")
    print(f"  size: signed {http['bytes']} bytes, unsigned {local['unsigned_bytes']} bytes")
    print(json.dumps({
        "render_sign_ms": round(statistics.median(local["both"][0]), 1),
        "render_sign_cpu_ms": round(statistics.median(local["both"][1]), 1),
        "first_download_ms": round(first_ms, 1),
        "first_download_server_cpu_ms": round(http["first_cpu"], 1),
        "stored_ms": round(stored_ms, 2),
        "stored_p90_ms": round(_percentile(http["stored"], 0.9), 2),
        "stored_server_cpu_ms": round(http["stored_cpu"], 2),
        "signed_bytes": http["bytes"],
        "unsigned_bytes": local["unsigned_bytes"],
    }))


if __name__ == "__main__":
    main()
