"""The public intake URLs in the OpenAPI document. Requests are answered in front of the
framework by :class:`patchbay.api.intake_endpoint.IntakeEndpoint`; this route documents
them and answers the same way should a request reach it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ...connectors.sdk import IncomingRequest
from ..schemas.common import IntakeAck, errors

router = APIRouter(tags=["intake"])


@router.post(
    "/intake/{intake_id}",
    summary="A subscription's public intake URL",
    responses={
        200: {"model": IntakeAck, "description": "Received (or the trigger's own answer)"},
        "default": {"description": "The trigger's own answer (a challenge echo, TwiML...)"},
        **errors(400, 401, 404, 410, 413, 503),
    },
    description="Where a service (Segment, Shopify, Twilio, the TMU Platform, any webhook) "
    "sends events for one subscription. No bearer token: the unguessable id names the "
    "subscription and the trigger verifies the request. The raw request is committed "
    "before the 2xx; 401 bad signature, 400 malformed, 413 too large, 404 unknown, 410 "
    "deleted subscription, 503 not stored (send again). Other methods (a GET some services "
    "send to check an endpoint) go to the trigger too.",
)
async def intake(intake_id: str, request: Request) -> Response:
    platform = request.app.state.platform
    query = request.url.query
    incoming = IncomingRequest.build(
        request.method,
        request.url.path,
        query=query,
        headers=list(request.headers.items()),
        body=await request.body(),
        url=platform.settings.effective_public_url
        + request.url.path
        + (f"?{query}" if query else ""),
    )
    answer = await platform.intake.receive(intake_id, incoming)
    return Response(answer.body, answer.status, headers=dict(answer.headers))
