"""The service at national size on PostgreSQL: p50/p95 of what people wait for, at N births.

Seeds the PostgreSQL database that BIRTHREG_BENCH_DATABASE_URL names (a database of its own: the
seed stays there, so that a later run with a larger --births adds only the difference) up to N
births with `birthreg seed`, then times, in process through the app (FastAPI's TestClient, one
request at a time, each a few dozen rounds):

- the clerk's queue: the first page (unfiltered, received only), and keyset pages from
  mid-history (unfiltered, by status, by facility);
- a submission's page (the API's detail, as the page reads it), its public status;
- search by a mother's IIN and by a surname's start;
- a parent's pages (signed in with a session for a seeded key): home and application; a
  mother's sign-in with her key (a birth recorded and her phone enrolled first);
- public verification of a certificate's QR seal, and its status;
- intake of a fresh dossier and registration of it (each a new mother);
- GET /pki/crl and an OCSP answer for a seeded certificate;
- `audit verify --since-checkpoint` (a checkpoint is signed first).

The last line is JSON; the table before it is what README shows. The data dir (the TEST CA
the seed signed with) is kept beside the database: --data-dir, by default
birthreg-bench-<database> in the temporary directory.

    BIRTHREG_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/scale_bench \\
        python bench/scale.py --births 100000 [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import text
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from parents.helpers import enroll_phone  # noqa: E402  (the tests' simulated phone)
from registry import factories  # noqa: E402  (the tests' dossier factories)
from ward.helpers import record_birth  # noqa: E402

from birthreg.audit import make_checkpoint, verify_chain  # noqa: E402
from birthreg.auth import create_staff_user, issue_token  # noqa: E402
from birthreg.bootstrap import initialise  # noqa: E402
from birthreg.config import Settings  # noqa: E402
from birthreg.db import make_engine, normalise_url  # noqa: E402
from birthreg.main import create_app  # noqa: E402
from birthreg.models import Role, StaffUser, now  # noqa: E402
from birthreg.parents.sessions import SESSION_COOKIE, issue_session_token  # noqa: E402
from birthreg.pki.service import load_certification_authority  # noqa: E402
from birthreg.registry.service import load_office  # noqa: E402
from birthreg.seed import run_seed  # noqa: E402
from birthreg.services import app_services  # noqa: E402

Timings = dict[str, dict[str, float]]


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=url, base_url="http://testserver",
                    env="development", _env_file=None)  # type: ignore[call-arg]


def _grow(settings: Settings, births: int) -> tuple[int, float]:
    """Seed up to `births`; the births there now and the seconds the seed took."""
    initialise(settings)
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        have = connection.execute(text("SELECT count(*) FROM birth")).scalar_one()
    engine.dispose()
    if have >= births:
        return have, 0.0
    started = time.monotonic()
    step = max(1, (births - have) // 20)

    def progress(done: int, total: list[int] = [0]) -> None:  # noqa: B006 (a counter)
        total[0] += done
        if total[0] % step < done:
            print(f"seed: {have + total[0]:,} of {births:,} births", file=sys.stderr)

    # A worker per core: the seed's own rule reads the load average, which the bench's runs
    # before it (and the previous seed's workers) keep up, and would then choose one process.
    run_seed(settings, births - have, days=365, progress=progress, processes=os.cpu_count())
    return births, time.monotonic() - started


def _time(name: str, call: Callable[[int], Any], rounds: int, results: Timings) -> None:
    call(0)  # warm
    samples = []
    for index in range(rounds):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    results[name] = {
        "p50": round(statistics.median(samples), 2),
        "p95": round(samples[math.ceil(len(samples) * 0.95) - 1], 2),
    }
    print(f"{name:<44} p50 {results[name]['p50']:>8.2f} ms  p95 {results[name]['p95']:>8.2f} ms",
          file=sys.stderr)


def _ok(response: Any) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return response


def _sample(session: Session, query: str, n: int) -> list[Any]:
    """n rows of a query, drawn through its first table (TABLESAMPLE, enough pages for a few
    times n rows: no scan of it all)."""
    table = query.split(" FROM ")[1].split()[0]
    pages = session.execute(
        text("SELECT greatest(relpages, 1) FROM pg_class WHERE relname = :t"), {"t": table}
    ).scalar_one()
    percent = min(100.0, 100.0 * max(20, 5 * n) / pages)
    rows = session.execute(text(query.replace("SAMPLE", f"TABLESAMPLE SYSTEM ({percent})")),
                           {"n": n}).all()
    if not rows:
        raise RuntimeError(f"nothing found for {query}")
    return [rows[i % len(rows)] for i in range(n)]


def _clerk_headers(app: Any) -> dict[str, str]:
    return _staff_headers(app, "bench-clerk", Role.CLERK)


def _staff_headers(app: Any, username: str, role: Role) -> dict[str, str]:
    """An API token of a bench account (made the first time; ward staff at the first facility)."""
    settings = app_services(app).settings
    with Session(app_services(app).engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
        if user is None:
            facility = None
            if role == Role.WARD:
                facility = session.execute(text("SELECT min(id) FROM facility")).scalar_one()
            user = create_staff_user(session, username=username, role=role,
                                     password=secrets.token_urlsafe(24), facility_id=facility)
            session.commit()
            session.refresh(user)
        return {"Authorization": f"Bearer {issue_token(settings, user, kind='api')}"}


def _queue(client: Any, headers: dict[str, str], facility: str, mid: str, rounds: int,
           results: Timings) -> None:
    base = "/api/v1/registry/submissions"

    def first(query: str) -> Callable[[int], Any]:
        return lambda _i: _ok(client.get(f"{base}?limit=50{query}", headers=headers))

    def deep(query: str) -> Callable[[int], Any]:
        # The cursor after the first submission received on the middle day of the history.
        cursor = _ok(client.get(f"{base}?limit=1&date_from={mid}{query}",
                                headers=headers)).json()["next"]
        return lambda _i: _ok(client.get(f"{base}?limit=50&after={cursor}{query}",
                                         headers=headers))

    _time("queue: first page", first(""), rounds, results)
    _time("queue: first page, received", first("&status=received"), rounds, results)
    _time("queue: mid-history keyset page", deep(""), rounds, results)
    _time("queue: mid-history, registered", deep("&status=registered"), rounds, results)
    _time("queue: mid-history, one facility", deep(f"&facility={facility}"), rounds, results)


def _reads(app: Any, client: Any, rounds: int, results: Timings) -> None:
    headers = _clerk_headers(app)
    with Session(app_services(app).engine) as session:
        facility = session.execute(text("SELECT bin FROM facility LIMIT 1")).scalar_one()
        mid = session.execute(text(
            "SELECT (min(received_at) + (max(received_at) - min(received_at)) / 2)::date "
            "FROM registry_submission")).scalar_one()
        submissions = _sample(session, "SELECT id, mother_iin FROM registry_submission SAMPLE "
                              "WHERE status = 'registered' LIMIT :n", rounds + 1)
        certificates = _sample(session, "SELECT id, qr FROM registry_certificate SAMPLE "
                               "LIMIT :n", rounds + 1)
        parents = _sample(session, "SELECT e.certificate_serial, a.id FROM enrollment e "
                          "SAMPLE JOIN parents_application a ON "
                          "a.birth_id = e.birth_id JOIN pki_certificate c ON c.serial = "
                          "e.certificate_serial WHERE e.role = 'mother' AND c.revoked_at IS "
                          "NULL AND c.not_after > now() LIMIT :n", rounds + 1)
    _queue(client, headers, facility, mid.isoformat(), rounds, results)
    base = "/api/v1/registry/submissions"
    _time("a submission's page", lambda i: _ok(client.get(
        f"{base}/{submissions[i].id}", headers=headers)), rounds, results)
    _time("search: a mother's IIN", lambda i: _ok(client.get(
        f"/api/v1/registry/search?q={submissions[i].mother_iin}", headers=headers)),
        rounds, results)
    _time("search: a surname's start", lambda i: _ok(client.get(
        "/api/v1/registry/search?q=" + ("Әбілқ", "Омаро", "Иванов")[i % 3], headers=headers)),
        rounds, results)
    _time("public: submission status", lambda i: _ok(client.get(
        f"{base}/{submissions[i].id}/status")), rounds, results)
    _time("public: verify a certificate's QR", lambda i: _ok(client.post(
        "/api/v1/verify", json={"qr": certificates[i].qr})), rounds, results)
    _time("public: certificate status", lambda i: _ok(client.get(
        f"/api/v1/verify/status/{certificates[i].id}")), rounds, results)
    settings, moment = app_services(app).settings, now()
    cookies = [issue_session_token(settings, row.certificate_serial, moment)[0]
               for row in parents]

    def parent(page: Callable[[int], str]) -> Callable[[int], Any]:
        return lambda i: _ok(client.get(page(i), cookies={SESSION_COOKIE: cookies[i]}))

    _time("parent: home", parent(lambda _i: "/parents"), rounds, results)
    _time("parent: application", parent(
        lambda i: f"/parents/applications/{parents[i].id}"), rounds, results)
    # The registered ones' certificate QR, an image of its own since the eighth session.
    images = []
    for index, row in enumerate(parents):
        shown = client.get(f"/parents/applications/{row.id}",
                           cookies={SESSION_COOKIE: cookies[index]})
        found = re.search(r'data-testid="certificate-qr" src="([^"]+)"', shown.text)
        if found:
            images.append((found.group(1), cookies[index]))
    if images:
        _time("parent: certificate's QR image", lambda i: _ok(client.get(
            images[i % len(images)][0], cookies={SESSION_COOKIE: images[i % len(images)][1]})),
            rounds, results)


def _writes(app: Any, client: Any, rounds: int, results: Timings) -> None:
    headers = _clerk_headers(app)
    base = "/api/v1/registry/submissions"
    bodies = []
    for index in range(rounds + 1):
        person = _new_mother(app, index)
        mother = factories.issue_person(app, person)
        # A child's name of its own: no likely duplicate of an earlier run's children.
        name = "".join(random.choices("абдеиклмнорстуызжқңөұү", k=7)).capitalize()
        changes = {"child": {"given_name": name}}
        bodies.append(json.dumps(
            factories.good_dossier(app, mother, application_changes=changes)).encode())
    received: list[str] = []
    _time("intake of a dossier", lambda i: received.append(_ok(client.post(
        base, content=bodies[i], headers={"Content-Type": "application/json"})).json()["id"]),
        rounds, results)
    _time("registration", lambda i: _ok(client.post(
        f"{base}/{received[i]}/register", headers=headers)), rounds, results)


def _new_mother(app: Any, index: int) -> Any:
    """A mother no submission names yet: one the seed (or an earlier run) made would make the
    new dossier a likely duplicate, which registration refuses until a clerk decides."""
    with Session(app_services(app).engine) as session:
        while True:
            person = factories.person(random.randint(1, 9000), born=_date(index))
            taken = session.execute(text(
                "SELECT 1 FROM registry_submission WHERE mother_iin = :iin LIMIT 1"
            ), {"iin": person.iin}).first()
            if taken is None:
                return person


def _sign_in(app: Any, client: Any, rounds: int, results: Timings) -> None:
    """A mother signs in with a key of her own (a birth recorded and her phone enrolled for it
    by the ward's API first): a challenge, her signature, the session."""
    headers = _staff_headers(app, "bench-midwife", Role.WARD)
    phones = []
    for index in range(rounds + 1):
        mother = factories.person(random.randint(1, 9000), born=_date(index))
        birth = record_birth(client, headers, mother={"iin": mother.iin})
        phones.append(enroll_phone(app, client, headers, str(birth["id"])))
    _time("parent: sign-in", lambda i: _ok(phones[i].sign_in()), rounds, results)


def _date(index: int) -> Any:
    from datetime import date

    return date(1990, 1, 1) + timedelta(days=37 * index + random.randint(0, 30))


def _pki(app: Any, client: Any, rounds: int, results: Timings) -> None:
    ca = load_certification_authority(app_services(app).settings)
    with Session(app_services(app).engine) as session:
        ders = [row.der for row in _sample(session, "SELECT der FROM pki_certificate "
                                           "SAMPLE LIMIT :n", rounds + 1)]
    requests = [
        ocsp.OCSPRequestBuilder().add_certificate(
            x509.load_der_x509_certificate(der), ca.issuing_certificate, hashes.SHA256()
        ).build().public_bytes(serialization.Encoding.DER)
        for der in ders
    ]
    _time("GET /pki/crl", lambda _i: _ok(client.get("/pki/crl")), rounds, results)
    _time("OCSP", lambda i: _ok(client.post(
        "/pki/ocsp", content=requests[i],
        headers={"Content-Type": "application/ocsp-request"})), rounds, results)


def _audit(app: Any, results: Timings) -> None:
    settings, engine = app_services(app).settings, app_services(app).engine
    with Session(engine) as session:
        seal = load_office(session, settings).seal
        make_checkpoint(session, seal)
        session.commit()
    _time("audit verify --since-checkpoint", lambda _i: verify_chain(
        engine, seal_certificate=seal.certificate, since_checkpoint=True), 3, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--births", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    url = os.environ.get("BIRTHREG_BENCH_DATABASE_URL", "")
    if not url.startswith("postgres"):
        parser.error("BIRTHREG_BENCH_DATABASE_URL must name a PostgreSQL database of its own")
    database = normalise_url(url).database
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"birthreg-bench-{database}"
    settings = _settings(url, data_dir)
    births, seed_seconds = _grow(settings, args.births)
    app = create_app(settings)
    from fastapi.testclient import TestClient

    results: Timings = {}
    with TestClient(app, base_url="http://testserver") as client:
        _reads(app, client, args.rounds, results)
        _pki(app, client, args.rounds, results)
        _writes(app, client, args.rounds, results)
        _sign_in(app, client, args.rounds, results)
        _audit(app, results)
    with make_engine(url).connect() as connection:
        size = connection.execute(
            text("SELECT pg_database_size(current_database())")
        ).scalar_one()
    print(json.dumps({
        "births": births, "seed_s": round(seed_seconds, 1), "database_gb": round(size / 1e9, 2),
        "rounds": args.rounds, "machine": platform.machine(), "ms": results,
    }))


if __name__ == "__main__":
    main()
