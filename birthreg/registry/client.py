"""How every sender reaches the registry: the parents' pages, tools and tests all submit dossiers
and follow their status through `RegistryClient` (or `AsyncRegistryClient`), never by calling
the registry's service.

The boundary is HTTP in both deployment modes, so it is real in both: only the dossier's JSON
bytes cross it, and the answers come back as HTTP status, headers and JSON bytes.

- With `BIRTHREG_REGISTRY_URL` set (docker-compose: the registry is another service) the client
  speaks HTTP to that base URL.
- Otherwise (one process, `birthreg serve`) the requests go to the app itself through an ASGI
  transport, without a network round trip. httpx's `ASGITransport` is async only; the sync client
  therefore runs each request on an event loop of its own: in the calling thread when none runs
  there (the usual case: sync routes, tools and tests run in plain threads), else in a short-lived
  worker thread (from an `async def` route; prefer `AsyncRegistryClient` there, which does not
  block the running loop).

Caveat for in-process use on SQLite: the registry's request opens its own write transaction, so
call the client while your own session holds no open transaction (commit or roll back first),
or it waits for your lock until SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import anyio.from_thread
import httpx

from birthreg.services import app_services

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp

SUBMISSIONS_PATH = "/api/v1/registry/submissions"
#: The base URL used for in-process requests (it never reaches a network).
IN_PROCESS_BASE_URL = "http://registry.internal"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SubmissionResult:
    """The registry's answer to a dossier: accepted (201 new, 200 the same dossier again) with
    its id, status and signed receipt, or refused with an error code and, when signatures or
    checks are at fault, the report."""

    http_status: int
    submission_id: str | None = None
    status: str | None = None
    receipt: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    duplicate_candidates: tuple[str, ...] = ()
    error: str | None = None
    detail: str | None = None
    existing_status: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def accepted(self) -> bool:
        return self.http_status in (200, 201)

    @property
    def created(self) -> bool:
        """True when this dossier was stored now (False for a resend of the same dossier)."""
        return self.http_status == 201


@dataclass(frozen=True)
class SubmissionStatusResult:
    """The status of a submission as its sender sees it (or an error: 404 for an unknown id)."""

    http_status: int
    submission_id: str | None = None
    status: str | None = None
    rejection_reason: str | None = None
    certificate_id: str | None = None
    error: str | None = None
    detail: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False)
    tracking_number: str | None = None

    @property
    def found(self) -> bool:
        return self.http_status == 200


def encode_dossier(dossier: Mapping[str, Any]) -> bytes:
    """The JSON bytes sent for a dossier (UTF-8; the registry hashes its RFC 8785 form)."""
    return json.dumps(dossier, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": f"http_{response.status_code}", "detail": response.text[:500]}
    return body if isinstance(body, dict) else {}


def _submission_result(response: httpx.Response) -> SubmissionResult:
    body = _json_body(response)
    return SubmissionResult(
        http_status=response.status_code,
        submission_id=body.get("id"),
        status=body.get("status"),
        receipt=body.get("receipt"),
        report=body.get("report"),
        duplicate_candidates=tuple(body.get("duplicate_candidates") or ()),
        error=body.get("error"),
        detail=body.get("detail"),
        existing_status=body.get("existing_status"),
        body=body,
    )


def _status_result(response: httpx.Response) -> SubmissionStatusResult:
    body = _json_body(response)
    return SubmissionStatusResult(
        http_status=response.status_code,
        submission_id=body.get("id"),
        status=body.get("status"),
        rejection_reason=body.get("rejection_reason"),
        certificate_id=body.get("certificate_id"),
        error=body.get("error"),
        detail=body.get("detail"),
        body=body,
        tracking_number=body.get("tracking_number"),
    )


_JSON = {"Accept": "application/json"}


def _certificate_path(certificate_id: str) -> str:
    return f"/api/v1/registry/certificates/{quote(certificate_id, safe='')}"


def _status_path(submission_id: str) -> str:
    return f"{SUBMISSIONS_PATH}/{quote(submission_id, safe='')}/status"


def configured_registry_url(app: FastAPI) -> str | None:
    """The settings' registry_url (BIRTHREG_REGISTRY_URL), when the registry runs elsewhere."""
    url = (app_services(app).settings.registry_url or "").strip().rstrip("/")
    return url or None


# -- sync -----------------------------------------------------------------------------------------


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport into an ASGI app in this process (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return anyio.run(self._handle, request)
        with anyio.from_thread.start_blocking_portal() as portal:
            return portal.call(self._handle, request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        try:
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        finally:
            await response.aclose()
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
        )


class RegistryClient:
    """Submit dossiers and follow them (sync). Use as a context manager, or `close()`."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @classmethod
    def for_app(cls, app: FastAPI, *, timeout: float = DEFAULT_TIMEOUT) -> RegistryClient:
        """Over HTTP to BIRTHREG_REGISTRY_URL when set, else in-process into `app`."""
        url = configured_registry_url(app)
        if url:
            return cls.over_http(url, timeout=timeout)
        return cls.in_process(app, timeout=timeout)

    @classmethod
    def over_http(cls, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> RegistryClient:
        return cls(httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout))

    @classmethod
    def in_process(cls, app: ASGIApp, *, timeout: float = DEFAULT_TIMEOUT) -> RegistryClient:
        return cls(
            httpx.Client(
                transport=InProcessTransport(app), base_url=IN_PROCESS_BASE_URL, timeout=timeout
            )
        )

    def submit(self, dossier: Mapping[str, Any]) -> SubmissionResult:
        """Send a dossier; the answer says whether it was accepted (never raises for a refusal;
        raises httpx.HTTPError when the registry cannot be reached)."""
        return self.submit_bytes(encode_dossier(dossier))

    def submit_bytes(self, body: bytes) -> SubmissionResult:
        """Send dossier JSON bytes exactly as given."""
        response = self.http.post(
            SUBMISSIONS_PATH,
            content=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        return _submission_result(response)

    def status(self, submission_id: str) -> SubmissionStatusResult:
        """The submission's status (found False for an unknown id)."""
        response = self.http.get(
            _status_path(submission_id), headers={"Accept": "application/json"}
        )
        return _status_result(response)

    def certificate(self, certificate_id: str) -> dict[str, Any] | None:
        """The certificate's fields, `qr` and status (None for an unknown id)."""
        response = self.http.get(_certificate_path(certificate_id), headers=_JSON)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def signed_correction(
        self, certificate_id: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Send a parent's signed correction request: the status and the JSON answer."""
        response = self.http.post(
            _certificate_path(certificate_id) + "/corrections/signed", json=body, headers=_JSON
        )
        return response.status_code, _json_body(response)

    def certificate_pdf(self, certificate_id: str) -> bytes | None:
        """The PAdES-signed PDF, as its holder downloads it (None for an unknown id)."""
        response = self.http.get(_certificate_path(certificate_id) + ".pdf")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def ward_print_pdf(self, certificate_id: str, claim: Mapping[str, Any]) -> bytes | None:
        """The PDF the ward prints for the mother, sent with the facility's sealed claim
        (`birthreg.ward_print_claim`; the registry logs `printed_at_ward`). None for an unknown id;
        raises httpx.HTTPStatusError for a refused claim (403 another facility, 409 a replay)."""
        response = self.http.post(
            _certificate_path(certificate_id) + "/ward-print", json=claim, headers=_JSON
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# -- async ----------------------------------------------------------------------------------------


class AsyncRegistryClient:
    """The same as `RegistryClient`, for async code (`async def` routes)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @classmethod
    def for_app(cls, app: FastAPI, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncRegistryClient:
        url = configured_registry_url(app)
        if url:
            return cls(httpx.AsyncClient(base_url=url, timeout=timeout))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return cls(
            httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_BASE_URL, timeout=timeout)
        )

    async def submit(self, dossier: Mapping[str, Any]) -> SubmissionResult:
        return await self.submit_bytes(encode_dossier(dossier))

    async def submit_bytes(self, body: bytes) -> SubmissionResult:
        response = await self.http.post(
            SUBMISSIONS_PATH,
            content=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        return _submission_result(response)

    async def status(self, submission_id: str) -> SubmissionStatusResult:
        response = await self.http.get(
            _status_path(submission_id), headers={"Accept": "application/json"}
        )
        return _status_result(response)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
