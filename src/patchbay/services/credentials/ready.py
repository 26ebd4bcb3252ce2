"""Credentials ready for a call: the one way Call Connector, workflow steps and subscription
hooks get an authentication to call a service with.

An authentication is loaded for its owner (cached briefly, see :class:`Authentications`),
refused when it needs re-authorization, refreshed first when its access token is about to
expire, and handed over with the hook that refreshes it once more when the service answers
401 (all three through :class:`OAuth`). ``/full?forceRefresh=true`` refreshes on demand.

:class:`Authentications` does not know about OAuth; :class:`OAuth` uses it; this module uses
both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...connectors.sdk.context import Refresher
from ..errors import BadRequest
from ..identity.principal import Principal
from .authentications import Authentications, LoadedAuth
from .oauth import OAuth


@dataclass(frozen=True, slots=True)
class ReadyAuth:
    """An authentication ready for a call: what to call with, and the reactive refresh
    (None when its credentials cannot be refreshed)."""

    id: str
    credentials: dict[str, Any]
    user_data: dict[str, Any]
    refresh: Refresher | None


class Credentials:
    def __init__(self, authentications: Authentications, oauth: OAuth) -> None:
        self.authentications = authentications
        self.oauth = oauth

    async def load(
        self,
        owner: Principal | str,
        auth_id: str,
        *,
        service: str | None = None,
        workspace_id: str | None = None,
    ) -> LoadedAuth:
        """The authentication ``auth_id`` of ``owner``: a principal's own, or, given an
        organisation id, any of that organisation's (its end users' included: the
        organisation's workflows act for its users), of ``workspace_id`` when given.
        NotFound when it is not theirs; BadRequest ``authentication_service_mismatch`` when
        it is not for ``service``."""
        if isinstance(owner, Principal):
            auth = await self.authentications.load(owner, auth_id)
        else:
            auth = await self.authentications.load_in_org(owner, auth_id, workspace_id)
        if service is not None and auth.service_name != service:
            raise BadRequest(
                f"Authentication {auth_id} is for service {auth.service_name}, not {service}",
                "authentication_service_mismatch",
            )
        return auth

    async def ready(self, auth: LoadedAuth) -> ReadyAuth:
        """``auth`` ready for a call: ConnectorError ``auth_error`` when it needs
        re-authorization (or its due refresh was refused), refreshed when its access token
        expires within a minute, with the refresh to run on a 401."""
        prepared = await self.oauth.prepare(auth)
        return ReadyAuth(
            prepared.id, prepared.credentials, prepared.user_data, self.oauth.refresher(prepared)
        )

    async def ready_for_call(
        self,
        owner: Principal | str,
        auth_id: str,
        *,
        service: str | None = None,
        workspace_id: str | None = None,
    ) -> ReadyAuth:
        """:meth:`load` then :meth:`ready`."""
        return await self.ready(
            await self.load(owner, auth_id, service=service, workspace_id=workspace_id)
        )

    async def full(
        self, p: Principal, auth_id: str, *, force_refresh: bool = False
    ) -> dict[str, Any]:
        """``/full``: ``p``'s authentication with its credentials, refreshed first when
        ``force_refresh`` asks and it is an OAuth 2 authentication with a refresh token."""
        row = await self.authentications.owned_row(p, auth_id)
        if force_refresh and await self.oauth.force_refresh(row):
            row = await self.authentications.owned_row(p, auth_id)
        return self.authentications.full_to_api(row)
