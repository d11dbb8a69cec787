"""The FastAPI application: `create_app()` mounts the domains, the middleware and one error handler.

Run it with `birthreg serve`, or `uvicorn --factory birthreg.main:create_app`. Engines are made
in the lifespan, not at import, so that importing this module touches nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

import birthreg
from birthreg import audit, auth, edge, i18n, logs
from birthreg.admin.api import router as admin_api_router
from birthreg.admin.pages import router as admin_pages_router
from birthreg.audit_api import router as audit_api_router
from birthreg.config import Settings
from birthreg.db import engine_from_settings, make_engine
from birthreg.errors import DomainError
from birthreg.notify.pages import router as notify_pages_router
from birthreg.notify.sender import background_sender, channel_status
from birthreg.parents.api import router as parents_api_router
from birthreg.parents.correction_pages import router as parents_correction_router
from birthreg.parents.pages import router as parents_pages_router
from birthreg.paths import PACKAGE_DIR
from birthreg.pki.api import router as pki_router
from birthreg.pki.api import seal_router as pki_seal_router
from birthreg.pki.publisher import crl_publisher
from birthreg.pki.service import certification_authority, load_certification_authority
from birthreg.pki.service_seal import service_seal
from birthreg.registry.api import router as registry_api_router
from birthreg.registry.certificate import office_certificate_context
from birthreg.registry.decisions_api import router as decisions_api_router
from birthreg.registry.decisions_pages import router as decisions_pages_router
from birthreg.registry.pages import router as registry_pages_router
from birthreg.registry.service import new_registry, registry_for
from birthreg.registry.statistics_api import router as statistics_api_router
from birthreg.registry.statistics_pages import router as statistics_pages_router
from birthreg.services import Once, Services, app_services, services
from birthreg.storage import RETRY_AFTER, StorageWatch, storage_failure
from birthreg.verify.api import router as verify_api_router
from birthreg.verify.pages import router as verify_pages_router
from birthreg.ward.api import router as ward_api_router
from birthreg.ward.context import WardContext
from birthreg.ward.pages import router as ward_pages_router
from signing.errors import SigningError

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages are an inline script loading Swagger UI / ReDoc from a CDN.
# They are developer pages with no state of their own; everything else gets the strict policy.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: Paths whose errors are always JSON `{"error": CODE, "detail": text}`.
JSON_PREFIXES = ("/api/", "/pki/")

HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class SecurityHeadersMiddleware:
    """Adds the CSP and the other security headers to every HTTP response."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (
            DOCS_CONTENT_SECURITY_POLICY
            if scope.get("path") in DOCS_PATHS
            else CONTENT_SECURITY_POLICY
        )

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application. Raises ConfigurationError when production lacks real secrets."""
    settings = settings or Settings()
    settings.check_secrets()
    logs.install()

    app = FastAPI(
        title="birthreg (TEST)",
        version=birthreg.__version__,
        summary="Maternity-ward e-birth-registration with a TEST PKI. Not for production.",
        lifespan=_lifespan(settings),
    )
    # Languages: one template renderer for every domain, the request's language, the switch.
    templates = i18n.templates
    app.state.services = _services(app, settings, templates)
    app.add_middleware(i18n.LanguageMiddleware)
    app.include_router(i18n.router)

    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")
    _include_role_routers(app, settings)
    app.include_router(notify_pages_router)
    app.include_router(admin_api_router)
    app.include_router(admin_pages_router)
    app.include_router(audit_api_router)
    # Staff logins: /login, /logout, /api/v1/auth/token; the templates' csrf_token.
    auth.install(app, templates)
    storage = StorageWatch(
        lambda: app_services(app).engine, settings.data_dir, settings.min_free_bytes
    )
    _install_error_handlers(app, templates, storage)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        """The home page."""
        return templates.TemplateResponse(request, "home.html", {"settings": settings})

    _install_health(app, settings, storage)

    # Last, so that it is the outermost: the client address is settled before anything else.
    edge.install(app, settings)
    return app


def _services(app: FastAPI, settings: Settings, templates: Jinja2Templates) -> Services:
    """The app's services. Engines connect, and the CA and seals load, on first use: making
    them here touches neither the database nor the data dir."""
    engine = engine_from_settings(settings)
    replica = settings.database_replica_url
    made: Services = Services(
        settings,
        engine,
        make_engine(replica) if replica else engine,
        templates,
        ca=Once(lambda: load_certification_authority(settings)),
        registry=Once(lambda: new_registry(made)),
        ward=Once(lambda: WardContext(settings, certification_authority(made), engine)),
        certificates=Once(
            lambda session: office_certificate_context(settings, registry_for(made).office(session))
        ),
    )
    return made


def _lifespan(
    settings: Settings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The application's lifespan under `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Engines, the audit checkpoints' seal, the notification sender and the CRL publisher,
        for as long as the application runs."""
        engine, read_engine = app_services(app).engine, app_services(app).read_engine
        # Every CHECKPOINT_INTERVAL entries the registry office's seal (the facility's at the
        # ward) signs a checkpoint.
        audit.sign_checkpoints_with(
            engine,
            (lambda session: registry_for(app_services(app)).office(session).seal)
            if settings.serves_registry
            else (lambda session: service_seal(settings, session)),
        )
        try:
            with background_sender(engine, settings), crl_publisher(engine, settings):
                yield
        finally:
            engine.dispose()
            if read_engine is not engine:
                read_engine.dispose()

    return lifespan


def _install_health(app: FastAPI, settings: Settings, storage: StorageWatch) -> None:
    """/healthz (liveness: the process answers and reaches its database) and /readyz."""

    @app.get("/healthz", tags=["service"])
    def healthz(request: Request) -> JSONResponse:
        """Liveness and database reachability."""
        try:
            with services(request).engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not ready"; the cause goes to the log
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok", "notify": channel_status(settings)})

    @app.get("/readyz", tags=["service"])
    def readyz() -> JSONResponse:
        """Readiness: the database answers, the data dir takes a write and has room, and no
        storage failure was answered in the last minute (503 with each probe's verdict)."""
        checks = storage.readiness()
        ready = all(verdict == "ok" for verdict in checks.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", **checks},
                            200 if ready else 503)


def _include_role_routers(app: FastAPI, settings: Settings) -> None:
    """The ward's routes (the CA, births, the parents) and the registry's, as the role says:
    a registry answers 404 for /pki/crl, /pki/ocsp, /api/v1/ward/*, /api/v1/enroll."""
    if settings.holds_ca:
        for router in (pki_router, ward_api_router, parents_api_router, parents_pages_router,
                       parents_correction_router, ward_pages_router):
            app.include_router(router)
    if settings.serves_registry:
        for router in (pki_seal_router, registry_api_router, registry_pages_router,
                       statistics_api_router, statistics_pages_router,
                       decisions_api_router, decisions_pages_router,
                       verify_api_router, verify_pages_router):
            app.include_router(router)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(JSON_PREFIXES) or path in ("/api", "/pki", "/healthz", "/readyz"):
        return True
    return "text/html" not in request.headers.get("accept", "")


def _error_response(
    request: Request, templates: Jinja2Templates, status: int, code: str, detail: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": code, "detail": detail}, status, headers=headers)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "code": code, "detail": detail},
        status_code=status,
        headers=headers,
    )


def _install_error_handlers(
    app: FastAPI, templates: Jinja2Templates, storage: StorageWatch
) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        # The one handler of every domain's refusals: its body with the extra fields (a report,
        # the field at fault) for the API, the error page for people; its headers for both.
        assert isinstance(exc, DomainError)
        if _wants_json(request):
            return JSONResponse(exc.body(), exc.status, headers=dict(exc.headers))
        return _error_response(
            request, templates, exc.status, exc.code, exc.detail, headers=exc.headers
        )

    async def signing_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SigningError)
        return _error_response(request, templates, 400, exc.code, exc.detail)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return _error_response(
            request, templates, exc.status_code, code, detail, headers=exc.headers
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()
        )
        return _error_response(request, templates, 422, "invalid_request", problems)

    async def storage_error(request: Request, exc: Exception) -> Response:
        what = storage_failure(exc)
        if what is None:
            raise exc  # not storage: a bug, answered 500 by the server
        storage.failed(exc, what)
        return _error_response(
            request, templates, 503, "storage_unavailable",
            "the service cannot store anything at the moment; nothing was kept, try again later",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

    app.add_exception_handler(OperationalError, storage_error)
    app.add_exception_handler(OSError, storage_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(SigningError, signing_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
