"""The public address when `birthreg serve` was not given one: the address it serves at.

Links, QR codes and the CA's CRL and OCSP pointers are written from `BIRTHREG_BASE_URL`. When it
is not set (neither in the environment nor in `.env`), `serve --host/--port` (and `make run
PORT=…`) decide it, so that scanning a code reaches this server. Whatever was issued earlier keeps
the address it was issued with: certificates, their QR codes and PDFs are stored, not rebuilt.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from birthreg.config import Settings


def _unspecified(host: str) -> bool:
    """Whether host listens everywhere (0.0.0.0, ::) and so names no host a phone can reach."""
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _outward_address() -> str:
    """This machine's address on its default route (a UDP "connect" sends nothing), else
    127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        address = str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()
    return "127.0.0.1" if _unspecified(address) else address


def served_address(host: str, port: int, *, tls: bool, tls_host: str | None = None) -> str:
    """The http(s) address of a server listening on host:port (a wildcard host stands for the
    TLS certificate's name, or this machine's address on its default route)."""
    name = (tls_host or _outward_address()) if _unspecified(host) else host
    try:
        if ipaddress.ip_address(name).version == 6:
            name = f"[{name}]"
    except ValueError:
        pass  # a host name
    scheme = "https" if tls else "http"
    default_port = 443 if tls else 80
    return f"{scheme}://{name}" + ("" if port == default_port else f":{port}")


def settle_base_url(
    settings: Settings, *, host: str, port: int, tls: bool, tls_host: str | None = None
) -> Settings:
    """settings, with base_url the served address unless BIRTHREG_BASE_URL was set. The
    environment gets it too: uvicorn's workers build their own Settings from it."""
    if "base_url" in settings.model_fields_set:
        return settings
    address = served_address(host, port, tls=tls, tls_host=tls_host)
    os.environ["BIRTHREG_BASE_URL"] = address
    return settings.model_copy(update={"base_url": address})
