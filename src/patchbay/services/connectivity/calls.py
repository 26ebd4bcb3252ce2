"""Call Connector: run one operation on behalf of the caller with their stored
authentication, bill one task, and answer in Tray's shape."""

from __future__ import annotations

from typing import Any

from ...connectors.sdk.errors import ConnectorError
from ...connectors.sdk.http import HttpClientPool
from ...connectors.sdk.runner import CallResult, InputInvalid, run_operation, validate_input
from ..credentials.ready import Credentials
from ..errors import BadRequest, NotFound, TooManyRequests
from ..identity.principal import Principal
from .catalog import Catalog
from .idempotency import Idempotency, fingerprint
from .usage import UsageRecorder


class Calls:
    def __init__(
        self,
        catalog: Catalog,
        credentials: Credentials,
        clients: HttpClientPool,
        usage: UsageRecorder,
        idempotency: Idempotency,
        *,
        max_in_flight: int,
    ) -> None:
        self.catalog = catalog
        self.credentials = credentials
        self.clients = clients
        self.usage = usage
        self.idempotency = idempotency
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def call(
        self,
        p: Principal,
        connector_name: str,
        version: str,
        *,
        operation: str,
        input: dict[str, Any],
        auth_id: str | None = None,
        return_output_schema: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        connector = self.catalog.connector(connector_name, version)
        op = connector.operation(operation)
        if op is None:
            raise NotFound(
                f"Operation {operation} not found in {connector_name} {version}",
                "operation_not_found",
            )
        try:
            validate_input(op, input)
        except InputInvalid as exc:
            raise BadRequest(exc.message, None) from exc
        auth = None
        if auth_id is not None:
            auth = await self.credentials.load(p, auth_id, service=connector.service.name)
        elif connector.requires_auth:
            raise BadRequest(
                f"Connector {connector_name} needs an authentication: pass authId",
                "authentication_required",
            )

        async def work() -> tuple[int, Any]:
            if self.in_flight >= self.max_in_flight:
                raise TooManyRequests(
                    f"More than {self.max_in_flight} calls in flight",
                    "too_many_calls_in_flight",
                    headers={"Retry-After": "1"},
                )
            self.in_flight += 1
            try:
                ready = failed = None
                if auth is not None:
                    # Refused when it needs re-authorization; refreshed when about to expire.
                    try:
                        ready = await self.credentials.ready(auth)
                    except ConnectorError as exc:
                        failed = CallResult("error", exc.to_output())
                result = failed or await run_operation(
                    connector,
                    op,
                    input,
                    clients=self.clients,
                    credentials=ready.credentials if ready else None,
                    user_data=ready.user_data if ready else None,
                    auth_id=auth_id,
                    return_output_schema=return_output_schema,
                    validate=False,
                    refresh=ready.refresh if ready else None,
                )
            except InputInvalid as exc:  # the input model refused what the schema allowed
                raise BadRequest(exc.message, None) from exc
            finally:
                self.in_flight -= 1
            self.usage.record(
                org_id=p.org_id,
                user_id=p.user_id,
                connector=connector.name,
                connector_version=connector.version,
                operation=op.name,
                outcome=result.outcome,
            )
            return 200, result.to_api()

        if idempotency_key is None:
            return (await work())[1]
        request_hash = fingerprint(
            f"{connector_name}/{version}",
            [operation, input, auth_id, return_output_schema],
        )
        return (await self.idempotency.run(p, idempotency_key, request_hash, work))[1]
