"""A pytest plugin (loaded with `-p ci_guard`): CI must not pass by skipping, plus shared fixtures.

Under `CI=true`:
- a test marked `postgres` or `browser` that is skipped is reported as a failure instead;
- the session fails at once when `BIRTHREG_TEST_DATABASE_URL` or `BIRTHREG_BROWSER_TESTS=1` is
  missing, since every such test would be skipped.

Fixtures:
- `database_url`: parametrised over a SQLite file and, marked `postgres`, the PostgreSQL at
  `BIRTHREG_TEST_DATABASE_URL` (skipped when unset, which the guard turns into a failure in CI);
- `chromium`: Playwright's sync API driving Debian's /usr/bin/chromium (marked `browser`; skipped
  unless `BIRTHREG_BROWSER_TESTS=1`). No browser is ever downloaded;
- `live_server`: the app (after `birthreg init` in a fresh data dir) served by uvicorn on a free
  127.0.0.1 port in a background thread; yields the base URL (a `str`, whose `.settings` are the
  server's Settings, so that a test can arrange data in its database).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

GUARDED_MARKERS = ("postgres", "browser")
DATABASE_ENV = "BIRTHREG_TEST_DATABASE_URL"
BROWSER_ENV = "BIRTHREG_BROWSER_TESTS"
CHROMIUM = "/usr/bin/chromium"
#: Seconds a browser test's own HTTP call to the live server may take (httpx's default is 5).
#: These calls arrange what the pages then show; they time nothing. On a slow CI host
#: (2026-12-06) one intake took over 5 s where it takes 0.2 s on a quiet one.
HTTP_TIMEOUT = 30.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def browser_tests_enabled() -> bool:
    return os.environ.get(BROWSER_ENV, "") == "1"


# --- the guard ----------------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    if not in_ci():
        return
    missing = []
    if not os.environ.get(DATABASE_ENV):
        missing.append(f"{DATABASE_ENV} (PostgreSQL tests)")
    if not browser_tests_enabled():
        missing.append(f"{BROWSER_ENV}=1 (Chromium tests)")
    if missing:
        raise pytest.UsageError(
            "CI=true but " + " and ".join(missing) + " not set: those tests would be skipped. "
            "Run the suite through .ci/run."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that drives Chromium is a browser test whether or not its author marked it.
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "browser"
        ):
            item.add_marker(pytest.mark.browser)
    # Browser tests run last: Playwright's sync API keeps an asyncio loop running in the main
    # thread for as long as the (session-wide) browser lives, and code under test that calls
    # asyncio.run() (pyHanko's validator, anyio) would fail after it.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return report
    guarded = [name for name in GUARDED_MARKERS if item.get_closest_marker(name)]
    if not guarded:
        return report
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: a test marked {', '.join(guarded)} must run, but it was skipped: {reason}"
    )
    return report


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url = os.environ.get(DATABASE_ENV)
    if not url:
        pytest.skip(f"{DATABASE_ENV} is not set")
    return url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium (playwright.sync_api.Browser) from Debian's package."""
    if not browser_tests_enabled():
        pytest.skip(f"browser tests are off ({BROWSER_ENV}=1 turns them on)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class LiveServer(str):
    """The live server's base URL, with its Settings (data dir, database URL) as `.settings`."""

    settings: Any


@pytest.fixture
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served on a free 127.0.0.1 port from a fresh, initialised data dir."""
    import uvicorn

    from birthreg.bootstrap import initialise
    from birthreg.config import Settings
    from birthreg.main import create_app

    data_dir = tmp_path_factory.mktemp("live-data")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'live.sqlite3'}",
        base_url=base_url,
        env="development",
        _env_file=None,  # type: ignore[call-arg]
    )
    initialise(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    # Handing uvicorn the bound socket leaves no window for another process to take the port.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    url = LiveServer(base_url)
    url.settings = settings
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        shutil.rmtree(data_dir, ignore_errors=True)
