"""Request dependencies: the platform and the authenticated caller."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..services.errors import Unauthorized
from ..services.identity.principal import Principal
from ..services.platform import Platform

bearer = HTTPBearer(auto_error=False, description="A master token or an end user's token")


async def platform(request: Request) -> Platform:
    return request.app.state.platform


async def principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Authorization must be 'Bearer <token>'", "invalid_token")
        raise Unauthorized("Missing bearer token", "missing_token")
    return await request.app.state.platform.identity.authenticate(credentials.credentials)


async def authenticate_header(platform: Platform, header: str | None) -> Principal:
    """The caller named by an ``Authorization: Bearer`` header value."""
    if not header:
        raise Unauthorized("Missing bearer token", "missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'", "invalid_token")
    return await platform.identity.authenticate(token.strip())


async def master(p: Principal = Depends(principal)) -> Principal:
    p.require_master()
    return p
