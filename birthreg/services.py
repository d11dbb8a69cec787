"""What an application serves with, made once in its lifespan: one `Services` object.

`create_app(settings)` makes the engines in its lifespan and stores one `Services` on
`app.state.services`; routes take it through `ServicesDep` (or `services(request)`), and code
outside an app (the CLI, benchmarks) builds what it needs from settings directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine

from birthreg.config import Settings


@dataclass(frozen=True)
class Services:
    """The settings, the database engines and the page renderer of one application."""

    settings: Settings
    engine: Engine
    #: The engine of the read replica when the settings name one, else the primary's.
    read_engine: Engine
    templates: Jinja2Templates


def app_services(app: Any) -> Services:
    """The services of `app` (a FastAPI application whose lifespan runs)."""
    found: Services = app.state.services
    return found


def services(request: Request) -> Services:
    """The services of the application serving `request`."""
    return app_services(request.app)


ServicesDep = Annotated[Services, Depends(services)]
