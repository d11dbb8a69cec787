"""The parents' JSON API, called by the phone pages' scripts (and usable by any tool).

Sign in: `POST /api/v1/parents/challenge` gives a challenge (and sets the challenge cookie);
`POST /api/v1/parents/session` with the challenge and a signature over its RFC 8785 form opens a
key-holder session (an HttpOnly, SameSite=Strict cookie) and answers the CSRF value that every
later POST sends back in `X-CSRF-Token`. Refusals are `{"error": CODE, "detail": text}`; a failed
signature carries its verification `report`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlmodel import Session

from birthreg.db import SessionDep
from birthreg.models import ApplicationState, ParentApplication, now
from birthreg.parents import service, sessions, submission
from birthreg.parents.schemas import (
    ChallengeOut,
    JoinIn,
    JoinOut,
    SessionIn,
    SessionOut,
    SignatureIn,
    SignedOut,
)
from birthreg.registry.client import RegistryClient
from birthreg.services import services


class ParentsRoute(APIRoute):
    """Renders a ParentsError with its extra keys (a signature's `report`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except sessions.ParentsError as error:
                return JSONResponse(error.body(), error.status)

        return route_handler


router = APIRouter(prefix="/api/v1/parents", tags=["parents"], route_class=ParentsRoute)


# -- the session ---------------------------------------------------------------------------------


def signed_in_holder(request: Request, session: SessionDep) -> sessions.Holder:
    """The key holder of the request's session (401 not_signed_in / key_revoked otherwise)."""
    settings = services(request).settings
    claims = sessions.read_session_token(
        settings, request.cookies.get(sessions.SESSION_COOKIE), now()
    )
    if claims is None:
        raise sessions.NotSignedIn()
    holder = sessions.holder_for_claims(session, claims)
    request.state.csrf_token = holder.csrf
    request.state.holder = holder
    return holder


async def _csrf_value(request: Request) -> str | None:
    sent = request.headers.get(sessions.CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(sessions.CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return sent


async def csrf_checked(request: Request) -> str | None:
    """The CSRF value the request sent (checked against the session by `CheckedHolder`)."""
    return await _csrf_value(request)


def checked_holder(
    request: Request,
    session: SessionDep,
    sent: Annotated[str | None, Depends(csrf_checked)],
) -> sessions.Holder:
    """The key holder, for a state-changing request: the session's CSRF value must come back."""
    holder = signed_in_holder(request, session)
    sessions.check_csrf(holder, sent)
    return holder


HolderDep = Annotated[sessions.Holder, Depends(signed_in_holder)]
CheckedHolder = Annotated[sessions.Holder, Depends(checked_holder)]


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    context_secure = services(request).settings.base_url.lower().startswith("https://")
    response.set_cookie(
        sessions.SESSION_COOKIE,
        token,
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=context_secure,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(
        sessions.CHALLENGE_COOKIE, path="/", secure=context_secure, httponly=True,
        samesite="strict",
    )


def set_challenge_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        sessions.CHALLENGE_COOKIE,
        nonce,
        max_age=int(sessions.CHALLENGE_LIFETIME.total_seconds()),
        path="/",
        secure=services(request).settings.base_url.lower().startswith("https://"),
        httponly=True,
        samesite="strict",
    )


@router.post("/challenge", response_model=ChallengeOut)
def challenge(request: Request) -> JSONResponse:
    """A fresh sign-in challenge for this browser (sign its RFC 8785 form with your key)."""
    document = sessions.new_challenge(services(request).settings, now())
    response = JSONResponse({"challenge": document}, headers={"Cache-Control": "no-store"})
    set_challenge_cookie(response, request, document["nonce"])
    return response


@router.post(
    "/session",
    response_model=SessionOut,
    responses={
        400: {"description": "invalid_challenge, challenge_mismatch, invalid_signature (report)"},
        403: {"description": "key_revoked, not_a_parent_key"},
        409: {"description": "challenge_used"},
        410: {"description": "challenge_expired"},
    },
)
def open_session(request: Request, session: SessionDep, body: SessionIn) -> JSONResponse:
    """Open a key-holder session with a signature over the challenge (JWS or CMS)."""
    token, holder = sessions.open_session(
        session,
        sessions.parents_context(services(request)),
        challenge=body.challenge,
        signature=body.signature.model_dump(),
        cookie_nonce=request.cookies.get(sessions.CHALLENGE_COOKIE),
        moment=now(),
    )
    claims = sessions.read_session_token(services(request).settings, token, now())
    assert claims is not None
    response = JSONResponse(
        {
            "serial": holder.serial,
            "role": holder.role,
            "csrf_token": holder.csrf,
            "expires_at": str(claims.exp),
        },
        headers={"Cache-Control": "no-store"},
    )
    set_session_cookie(response, request, token)
    return response


# -- signing and submitting ----------------------------------------------------------------------


def submit_ready(
    request: Request, session: Session, holder: sessions.Holder, application_id: str
) -> ParentApplication:
    """Send a ready application to the registry through the one registry client, and keep the
    answer. The session's transaction ends before the call (in one process the registry's own
    request needs the database)."""
    birth_id, dossier = submission.prepare_submission(session, holder, application_id)
    del birth_id
    session.commit()
    try:
        with RegistryClient.for_app(request.app) as registry:
            result = registry.submit(dossier)
    except httpx.HTTPError:
        return submission.record_submission(
            session, holder, application_id, accepted=False, submission_id=None,
            receipt=None, error="registry_unavailable", moment=now(),
        )
    error = None if result.accepted else (result.error or f"http_{result.http_status}")
    return submission.record_submission(
        session,
        holder,
        application_id,
        accepted=result.accepted,
        submission_id=result.submission_id,
        receipt=result.receipt,
        error=error,
        moment=now(),
    )


def _signed_out(application: ParentApplication) -> dict[str, Any]:
    return {
        "application_id": application.id,
        "state": application.state,
        "submitted": application.state == ApplicationState.SUBMITTED,
        "error": application.submission_error,
        "url": f"/parents/applications/{application.id}",
    }


@router.post(
    "/applications/{application_id}/signatures",
    response_model=SignedOut,
    responses={
        400: {"description": "invalid_signature (with report)"},
        403: {"description": "csrf_failed, key_revoked, signer_mismatch"},
        404: {"description": "application_not_found"},
        409: {"description": "wrong_state"},
    },
)
def add_signature(
    request: Request,
    session: SessionDep,
    holder: CheckedHolder,
    application_id: str,
    body: SignatureIn,
) -> dict[str, Any]:
    """Sign the application (its RFC 8785 form); the last signature sends it to the registry."""
    application = service.add_signature(
        session,
        sessions.parents_context(services(request)),
        holder,
        application_id,
        body.signature.model_dump(),
        moment=now(),
    )
    if application.state == ApplicationState.READY:
        application = submit_ready(request, session, holder, application_id)
    return _signed_out(application)


@router.post(
    "/join",
    response_model=JoinOut,
    responses={403: {"description": "father_only, not_the_father"}, 404: {"description": ""}},
)
def join(request: Request, session: SessionDep, holder: CheckedHolder, body: JoinIn) -> Any:
    """The father opens the joint application his invitation names (with his own key)."""
    application = service.join(
        session, services(request).settings, holder, body.invitation, moment=now()
    )
    return {"application_id": application.id, "url": f"/parents/applications/{application.id}"}
