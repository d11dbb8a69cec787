"""The mother's phone flow in Chromium with the CPU throttled (a low-end phone): from opening the
enrollment link to the registry's signed receipt on her page.

`birthreg serve` runs as its own process on a fresh data dir (SQLite), unthrottled; Debian's
Chromium (through Playwright) opens the link with the page's CPU slowed by CDP
`Emulation.setCPUThrottlingRate` (4x by default, 1x for comparison). Each run is a new birth
and a new browser context: the page makes its ECDSA key with WebCrypto and gets its certificate,
signs in, the form is filled in at once (no human typing time), reviewed and signed; the clock
stops when the signed receipt is on the page. Reported: the median and slowest of the runs, and
the median of each part (enrollment to her page, form to review, signing to receipt).

    python bench/phone_flow.py [--runs 3] [--rates 4,1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlmodel import Session, col, select

from birthreg.auth import create_staff_user, issue_token
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import Facility, Role

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
FORM = {
    "child_surname": "Ерланқызы",
    "child_given_name": "Айару",
    "child_patronymic": "Ерланқызы",
    "region": "Шығыс Қазақстан облысы",
    "locality": "Өскемен",
    "street": "Қазақстан көшесі",
    "building": "12",
    "flat": "5",
    "phone": "+7 701 234 5678",
    "email": "ana@example.kz",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("BIRTHREG_")
    }
    environment.update(BIRTHREG_DATA_DIR=str(data_dir), BIRTHREG_NOTIFY_SENDER="0")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("birthreg")), "serve", "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("birthreg serve did not start")


def _ward_token(data_dir: Path, port: int) -> dict[str, str]:
    settings = Settings(
        data_dir=data_dir, base_url=f"http://127.0.0.1:{port}", _env_file=None  # type: ignore[call-arg]
    )
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            facility = session.exec(select(Facility).order_by(col(Facility.id))).first()
            user = create_staff_user(
                session, username="bench-midwife", password=secrets.token_urlsafe(18),
                role=Role.WARD, facility_id=facility.id if facility else None,
            )
            session.commit()
            session.refresh(user)
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {issue_token(settings, user, kind='api')}"}


def _enrollment_link(http: httpx.Client, ward: dict[str, str], run: int) -> str:
    born_at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0).isoformat()
    birth = http.post("/api/v1/ward/births", headers=ward, json={
        "mother": {"iin": "940315400014", "surname": "Әбілқасымова", "given_name": "Гүлнұр",
                   "patronymic": "Серікқызы"},
        "child": {"sex": "F", "born_at": born_at, "weight_g": 3400 + run, "length_cm": 51,
                  "plurality": 1, "birth_order": 1},
        "attendant": "Сейітова Ж. Қ.",
    })
    birth.raise_for_status()
    enrollment = http.post(
        f"/api/v1/ward/births/{birth.json()['id']}/enrollments", headers=ward,
        json={"role": "mother"},
    )
    enrollment.raise_for_status()
    return str(enrollment.json()["url"])


def _one_run(page: Page, link: str) -> dict[str, float]:
    """The flow on one page; the seconds of each part."""
    started = time.perf_counter()
    page.goto(link)
    page.wait_for_function("() => document.getElementById('code').value.length > 0")
    with page.expect_navigation(url="**/parents", timeout=120_000):
        page.get_by_test_id("enroll-form").locator("button[type=submit]").click()
    enrolled = time.perf_counter()
    page.get_by_test_id("start-application").click()
    for name, value in FORM.items():
        page.locator(f"#{name}").fill(value)
    page.locator("input[name=father_basis][value=none]").check()
    page.get_by_test_id("review").click()
    page.wait_for_selector("[data-testid=sign-button]")
    reviewed = time.perf_counter()
    with page.expect_navigation(timeout=120_000):
        page.get_by_test_id("sign-button").click()
    page.wait_for_selector("[data-testid=receipt]", state="attached", timeout=120_000)
    done = time.perf_counter()
    return {
        "total": done - started,
        "enrollment": enrolled - started,
        "form_to_review": reviewed - enrolled,
        "signing_to_receipt": done - reviewed,
    }


def _measure(browser: Any, http: httpx.Client, ward: dict[str, str], rate: float,
             runs: int, first: int) -> dict[str, Any]:
    results = []
    for run in range(runs):
        link = _enrollment_link(http, ward, first + run)
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                      locale="kk-KZ", device_scale_factor=2)
        page = context.new_page()
        context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})
        try:
            results.append(_one_run(page, link))
        finally:
            context.close()
    parts = {key: round(statistics.median(r[key] for r in results), 2) for key in results[0]}
    return {
        "cpu_throttling": rate,
        "runs": runs,
        "median_s": parts["total"],
        "slowest_s": round(max(r["total"] for r in results), 2),
        "median_parts_s": parts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rates", default="4,1", help="CPU throttling rates, comma-separated")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="birthreg-phone-bench-") as directory:
        data_dir, port = Path(directory) / "var", _free_port()
        server = _serve(data_dir, port)
        try:
            ward = _ward_token(data_dir, port)
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
                sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    measured = [
                        _measure(browser, http, ward, rate, args.runs, index * args.runs)
                        for index, rate in enumerate(rates)
                    ]
                finally:
                    browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({
        "benchmark": "phone flow: enrollment link to signed receipt (Chromium, CPU throttled)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "results": measured,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
