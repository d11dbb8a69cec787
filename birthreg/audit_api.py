"""The audit trail's public anchor: the newest signed checkpoint, for anyone to keep elsewhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from birthreg.audit import latest_checkpoint
from birthreg.db import reading
from birthreg.errors import NotFound
from birthreg.services import services

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

#: RFC 7515 section 9.2.1: a JWS in compact serialization.
JOSE_MEDIA_TYPE = "application/jose"


@router.get(
    "/checkpoints/latest",
    response_class=Response,
    responses={
        200: {"content": {JOSE_MEDIA_TYPE: {}}},
        404: {"description": "`{\"error\": \"no_checkpoint\", \"detail\": text}`"},
    },
)
def newest_checkpoint(request: Request) -> Response:
    """The newest signed audit checkpoint (JWS compact serialization, ES256 by the registry seal,
    `x5c`): the chain's entry `seq` had `entry_hash` at `signed_at`. No personal data."""
    with reading(services(request).engine) as connection:
        compact = latest_checkpoint(connection)
    if compact is None:
        raise NotFound("no_checkpoint", "no audit checkpoint has been signed yet")
    return Response(compact, media_type=JOSE_MEDIA_TYPE, headers={"Cache-Control": "no-cache"})
