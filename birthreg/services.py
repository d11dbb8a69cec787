"""What an application serves with, made once in its lifespan: one `Services` object.

`create_app(settings)` makes the engines in its lifespan and stores one `Services` on
`app.state.services`; routes take it through `ServicesDep` (or `services(request)`), and code
outside an app (the CLI, benchmarks) builds what it needs from settings directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, FastAPI, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from birthreg.config import Settings

T = TypeVar("T")


class Once(Generic[T]):
    """A value made on first use, then kept: the CA and the seals exist only after
    `birthreg init`, which may run after the service has started."""

    def __init__(self, make: Callable[..., T]) -> None:
        self._make = make
        self._value: T | None = None
        self._made = False
        self._lock = threading.Lock()

    def get(self, *args: Any) -> T:
        """The value; the first call makes it from `args` (a failed making is tried again)."""
        if not self._made:
            with self._lock:
                if not self._made:
                    self._value = self._make(*args)
                    self._made = True
        return cast(T, self._value)


@dataclass(frozen=True)
class Services:
    """The settings, the database engines, the page renderer and what is loaded from the data
    dir (the CA, the seals) of one application."""

    settings: Settings
    engine: Engine
    #: The engine of the read replica when the settings name one, else the primary's.
    read_engine: Engine
    templates: Jinja2Templates
    # What the domains above this module make (typed where they are read: this module imports
    # none of them, so that it stays below them all).
    #: The TEST CA, `pki.service.certification_authority` (a registry holds none, never asks).
    ca: Once[Any]
    #: The `registry.service.Registry`: its office and seal, its validator.
    registry: Once[Any]
    #: The `ward.context.WardContext`: what the ward's routes need besides the database.
    ward: Once[Any]
    #: The `registry.certificate.CertificateContext` (`certificates.get(session)`).
    certificates: Once[Any]


def app_services(app: FastAPI) -> Services:
    """The services of `app` (a FastAPI application whose lifespan runs)."""
    found: Services = app.state.services
    return found


def services(request: Request) -> Services:
    """The services of the application serving `request`."""
    return app_services(request.app)


ServicesDep = Annotated[Services, Depends(services)]
