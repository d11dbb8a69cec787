"""What every request meets at the service's edge: who the client is, and how answers may be kept.

The client's address (`client_address`, the one place it is read) is the TCP peer's, unless that
peer is one of `BIRTHREG_TRUSTED_PROXIES` (addresses or CIDR ranges; none by default): then it
is what that proxy put in `X-Forwarded-For`, through uvicorn's own `ProxyHeadersMiddleware`,
installed in the app (so the rule holds whichever server runs it; `birthreg serve` turns
uvicorn's copy off). From any other peer the header is ignored: a local client cannot pick the
address that the per-address throttles count under.

`EdgeHeadersMiddleware` marks every answer `Cache-Control: no-store` (pages and the API carry
IINs, names and tokens; a shared ward computer's browser cache or a proxy must not keep them),
except the public static files and the PKI's certificates, CRL and OCSP answers, which set their
own. Served over HTTPS (`birthreg serve --tls`, or a trusted proxy that says
`X-Forwarded-Proto: https`) it adds `Strict-Transport-Security`, so a phone that once reached the
ward over HTTPS does not fall back to plain HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from birthreg.config import Settings

#: Paths whose answers are public and say themselves how long they may be kept.
CACHEABLE_PREFIXES: Final = ("/static/", "/pki/")
STRICT_TRANSPORT_SECURITY: Final = "max-age=31536000"
UNKNOWN_ADDRESS: Final = "unknown"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def client_address(request: Request) -> str:
    """The client's address as the service counts it (see the module text)."""
    return request.client.host if request.client and request.client.host else UNKNOWN_ADDRESS


class EdgeHeadersMiddleware:
    """Cache-Control: no-store on every answer but the public ones; HSTS over HTTPS."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIXES)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
                if https:
                    headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware; call it last in create_app, so that the proxy headers are read before
    anything else sees the request."""
    app.add_middleware(EdgeHeadersMiddleware)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
