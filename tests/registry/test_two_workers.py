"""Registration under real concurrency: `birthreg serve --workers 2` (two processes) on SQLite and
on PostgreSQL, clerks registering in parallel over HTTP. Act record numbers stay gapless and
unique, child IINs unique and valid, the same dossier registered twice at once gives one
registration, and the audit chain keeps every entry, intact."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from servicekit import reset_postgres
from sqlmodel import Session, select

from birthreg.audit import verify_chain
from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.main import create_app
from birthreg.models import AuditEntry, Registration, Role
from registry import factories as f
from signing.identity import is_valid_iin


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    if not database_url.startswith("sqlite"):
        reset_postgres(database_url)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url=url,
        env="development",
        _env_file=None,  # type: ignore[call-arg]
    )
    initialise(settings)
    env = {
        **os.environ,
        "BIRTHREG_DATA_DIR": str(settings.data_dir),
        "BIRTHREG_DATABASE_URL": settings.database_url,
        "BIRTHREG_BASE_URL": url,
        "BIRTHREG_ENV": "development",
    }
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "birthreg.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    app = create_app(settings)  # this process's view: the CA, seals and database for factories
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text(errors="replace"))
            time.sleep(0.25)
        yield url, app
    finally:
        server.terminate()
        server.wait(timeout=30)
        app.state.services.engine.dispose()


def test_parallel_clerks_on_two_workers(two_workers: tuple[str, Any]) -> None:
    url, app = two_workers
    clerk = f.staff_headers(app, Role.CLERK)
    submissions = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for index in range(16):
            mother = f.issue_person(app, f.person(300 + index * 3))
            response = http.post("/api/v1/registry/submissions", json=f.good_dossier(app, mother))
            assert response.status_code == 201, response.text
            submissions.append(response.json()["id"])

    def register(submission_id: str) -> dict[str, Any]:
        with httpx.Client(base_url=url, timeout=60) as http:
            response = http.post(
                f"/api/v1/registry/submissions/{submission_id}/register", headers=clerk
            )
            assert response.status_code in (200, 201), response.text
            result: dict[str, Any] = response.json()
            return result

    # Every submission once, plus the first one three more times at the same moment.
    targets = submissions + [submissions[0]] * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(register, targets))

    first = [r for r, s in zip(results, targets, strict=True) if s == submissions[0]]
    assert len({(r["act_record_number"], r["child_iin"]) for r in first}) == 1
    with Session(app.state.services.engine) as session:
        registrations = session.exec(select(Registration)).all()
        registered = session.exec(
            select(AuditEntry).where(AuditEntry.action == "registration.registered")
        ).all()
        chain = verify_chain(session)
    assert chain.intact, chain.problems
    assert sorted(entry.object_id for entry in registered) == sorted(submissions)
    assert len(registrations) == len(submissions)
    assert sorted(r.act_record_number for r in registrations) == list(
        range(1, len(submissions) + 1)
    )
    iins = [r.child_iin for r in registrations]
    assert len(set(iins)) == len(iins)
    assert all(is_valid_iin(iin) for iin in iins)
