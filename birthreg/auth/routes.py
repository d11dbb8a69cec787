"""The staff login routes: /login and /logout (pages), /api/v1/auth/token and /api/v1/auth/me;
`install` adds them with the login redirect for pages and the templates' `csrf_token`.

Templates get the forms' CSRF value as the variable `csrf_token` (a context processor):

    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from birthreg.auth.guard import (
    SESSION_COOKIE,
    CurrentStaff,
    NotAuthenticated,
    csrf_protect,
    session_claims,
)
from birthreg.auth.login import LoginRefused, authenticate
from birthreg.auth.passwords import MAX_PASSWORD_LENGTH
from birthreg.auth.sessions import (
    API_TOKEN_LIFETIME,
    SESSION_LIFETIME,
    issue_token,
    login_csrf_matches,
    login_csrf_token,
    new_login_nonce,
    staff_for_token,
    valid_login_nonce,
)
from birthreg.config import Settings
from birthreg.db import SessionDep
from birthreg.edge import client_address
from birthreg.errors import DomainError
from birthreg.i18n import gettext, safe_next
from birthreg.models import Role, StaffUser
from birthreg.services import services

logger = logging.getLogger("birthreg.auth")

LOGIN_CSRF_COOKIE: Final = "birthreg_csrf"

#: Where each role lands after logging in (when the login form names no page).
ROLE_HOMES: Final[dict[Role, str]] = {
    Role.WARD: "/ward",
    Role.CLERK: "/registry",
    Role.REGISTRAR: "/registry",
    Role.ADMIN: "/admin",
}

router = APIRouter()


def login_csrf_nonce(request: Request) -> tuple[str, bool]:
    """The request's `birthreg_csrf` nonce, or a new one (then True: set it as a cookie)."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if valid_login_nonce(nonce):
        return nonce, False
    return new_login_nonce(), True


def check_login_csrf(request: Request, sent: str | None) -> None:
    """Raise 403 csrf_failed unless sent is the token for the request's `birthreg_csrf`."""
    settings: Settings = services(request).settings
    if not login_csrf_matches(settings, request.cookies.get(LOGIN_CSRF_COOKIE), sent):
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)


def _cookie_options(settings: Settings) -> dict[str, Any]:
    return {
        "path": "/",
        "secure": settings.base_url.lower().startswith("https://"),
        "httponly": True,
        "samesite": "lax",
    }


def _set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(name, value, max_age=max_age, **_cookie_options(settings))


def _delete_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, **_cookie_options(settings))


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


@router.post(
    "/api/v1/auth/token",
    tags=["auth"],
    response_model=AccessToken,
    responses={
        401: {"description": "invalid_credentials"},
        429: {"description": "too_many_attempts (with Retry-After)"},
    },
)
def token(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> JSONResponse:
    """Exchange a staff username and password for a bearer token (OAuth2 password flow)."""
    settings: Settings = services(request).settings
    try:
        user = authenticate(
            session,
            username=form.username,
            password=form.password,
            client_address=client_address(request),
            via="api",
        )
    except LoginRefused as refusal:
        # Returned, not raised: the request session commits the audited failure.
        return JSONResponse(
            {"error": refusal.code, "detail": refusal.detail},
            refusal.status,
            headers={**refusal.headers, "Cache-Control": "no-store"},
        )
    access_token = issue_token(settings, user, kind="api")
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": int(API_TOKEN_LIFETIME.total_seconds()),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/api/v1/auth/me", tags=["auth"])
def me(user: CurrentStaff) -> dict[str, Any]:
    """The logged-in staff member."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "facility_id": user.facility_id,
    }


def role_home(user: StaffUser) -> str:
    return ROLE_HOMES.get(Role(user.role), "/")


def _next_path(next_url: str | None) -> str | None:
    """A local path to go to after login, or None (then the role's home)."""
    path = safe_next(next_url)
    if path == "/" or path.startswith("/login") or path.startswith("/logout"):
        return None
    return path


def _login_page(
    request: Request,
    *,
    next_url: str | None,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = services(request).templates
    return templates.TemplateResponse(
        request,
        "login.html",
        {
            "next_path": _next_path(next_url) or "",
            "username": username,
            "flashes": [("error", error)] if error else [],
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    """The staff login page."""
    claims = session_claims(request)
    user = staff_for_token(session, claims) if claims else None
    if user is not None:
        return RedirectResponse(_next_path(next) or role_home(user), status_code=303)
    settings: Settings = services(request).settings
    nonce, new = login_csrf_nonce(request)
    request.state.csrf_token = login_csrf_token(settings, nonce)
    response = _login_page(request, next_url=next)
    if new:
        _set_cookie(response, settings, LOGIN_CSRF_COOKIE, nonce, max_age=None)
    return response


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH + 1)] = "",
    csrf_token: Annotated[str | None, Form(max_length=400)] = None,
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Log in with a username and password; sets the session cookie."""
    check_login_csrf(request, csrf_token)
    settings: Settings = services(request).settings
    try:
        user = authenticate(
            session,
            username=username,
            password=password,
            client_address=client_address(request),
            via="page",
        )
    except LoginRefused as refusal:
        request.state.csrf_token = csrf_token
        message = (
            gettext("Too many attempts. Please wait a little and try again.")
            if refusal.status == 429
            else gettext("Wrong username or password.")
        )
        # Returned, not raised: the request session commits the audited failure.
        headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}
        return _login_page(
            request,
            next_url=next,
            username=username[:64],
            error=message,
            status_code=refusal.status,
            headers=headers,
        )
    response = RedirectResponse(_next_path(next) or role_home(user), status_code=303)
    session_token = issue_token(settings, user, kind="session")
    _set_cookie(
        response,
        settings,
        SESSION_COOKIE,
        session_token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
    # The pre-session token has done its work; a new one is made for the next login.
    _delete_cookie(response, settings, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(
    request: Request, _csrf: Annotated[None, Depends(csrf_protect)]
) -> RedirectResponse:
    """Log out: clears the session cookie (the form must carry the session's CSRF token)."""
    settings: Settings = services(request).settings
    claims = session_claims(request)
    if claims is not None:
        logger.info("logout: staff %s", claims.sub)
    response = RedirectResponse("/login", status_code=303)
    _delete_cookie(response, settings, SESSION_COOKIE)
    return response


# --- installing into the app --------------------------------------------------------------------


def csrf_context(request: Request) -> dict[str, Any]:
    """Template variables: `csrf_token` (the value for forms) and `current_staff` (or None)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        claims = session_claims(request)
        token = claims.csrf if claims else None
    return {
        "csrf_token": token or "",
        "current_staff": getattr(request.state, "staff", None),
    }


async def _not_authenticated(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotAuthenticated)
    path = request.url.path
    if not path.startswith("/api/") and "text/html" in request.headers.get("accept", ""):
        target = path + ("?" + request.url.query if request.url.query else "")
        response = RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        if SESSION_COOKIE in request.cookies:
            # Expired, or its account disabled or changed: the browser may forget it.
            _delete_cookie(response, services(request).settings, SESSION_COOKIE)
        return response
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail},
        401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def install(app: FastAPI, templates: Jinja2Templates) -> None:
    """Add the login routes, the login redirect for pages and `templates`' `csrf_token`."""
    app.include_router(router)
    handler: Callable[[Request, Exception], Awaitable[Response]] = _not_authenticated
    app.add_exception_handler(NotAuthenticated, handler)
    if csrf_context not in templates.context_processors:
        templates.context_processors.append(csrf_context)
