"""RegistryClient: the same answers in-process (ASGI, only bytes cross) and over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import uvicorn

from birthreg.registry.client import (
    IN_PROCESS_BASE_URL,
    AsyncRegistryClient,
    RegistryClient,
    encode_dossier,
)
from registry import factories as f
from signing.dossier import MAX_DOSSIER_BYTES


def _exercise(registry: RegistryClient, app: Any) -> None:
    mother = f.issue_person(app, f.person(100))
    dossier = f.good_dossier(app, mother)
    result = registry.submit(dossier)
    assert result.accepted and result.created, result
    assert result.status == "received"
    assert result.receipt is not None and result.receipt["submission_id"] == result.submission_id
    assert result.report is not None and result.report["passed"] is True

    again = registry.submit_bytes(encode_dossier(dossier) + b"\n")
    assert again.accepted and not again.created
    assert again.submission_id == result.submission_id

    status = registry.status(result.submission_id or "")
    assert status.found
    assert status.status == "received"
    assert not registry.status("no/such id").found

    tampered = f.merge(dossier, {"medical_record": {"document": {"attendant": "Басқа"}}})
    refused = registry.submit(tampered)
    assert not refused.accepted
    assert refused.http_status == 422
    assert refused.error == "dossier_refused"
    assert refused.report is not None and refused.report["passed"] is False

    too_large = registry.submit_bytes(b" " * (MAX_DOSSIER_BYTES + 1))
    assert too_large.http_status == 413
    assert too_large.error == "dossier_too_large"


def test_in_process(app: Any, client: Any) -> None:
    with RegistryClient.in_process(app) as registry:
        assert str(registry.http.base_url).startswith(IN_PROCESS_BASE_URL)
        _exercise(registry, app)


def test_in_process_from_inside_a_running_event_loop(app: Any, client: Any) -> None:
    mother = f.issue_person(app, f.person(100))
    dossier = f.good_dossier(app, mother)

    async def from_async_code() -> Any:
        # Blocking here is the caller's choice; the request runs on a loop of its own.
        with RegistryClient.in_process(app) as registry:
            return registry.submit(dossier)

    result = anyio.run(from_async_code)
    assert result.created


def test_async_client(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mother = f.issue_person(app, f.person(100))
    dossier = f.good_dossier(app, mother)

    async def submit_and_follow() -> tuple[Any, Any]:
        async with AsyncRegistryClient.for_app(app) as registry:
            result = await registry.submit(dossier)
            return result, await registry.status(result.submission_id or "")

    result, status = anyio.run(submit_and_follow)
    assert result.created
    assert status.status == "received"


def test_for_app_goes_over_http_when_the_registry_is_elsewhere(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.services.settings, "registry_url", "http://registry.example:8000/")
    with RegistryClient.for_app(app) as registry:
        assert str(registry.http.base_url) == "http://registry.example:8000"
    monkeypatch.setattr(app.state.services.settings, "registry_url", None)
    with RegistryClient.for_app(app) as registry:
        assert str(registry.http.base_url).startswith(IN_PROCESS_BASE_URL)


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    """The app on a free 127.0.0.1 port (uvicorn in a thread, lifespan on)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_over_http(app: Any, served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.state.services.settings, "registry_url", served)
    with RegistryClient.for_app(app) as registry:
        assert str(registry.http.base_url) == served
        _exercise(registry, app)
