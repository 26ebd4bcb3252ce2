"""Run one operation of one connector: validate input, call the handler under its timeout,
and shape the result as Tray's ``{"outcome", "output"}``. Knows nothing of users, storage or
billing; the services layer adds those."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ...payload_refs import PayloadAccess
from .connector import Connector
from .context import Context, Refresher
from .errors import ConnectorError
from .http import HttpClientPool
from .operation import Operation
from .schema import validation_message
from .trigger import Trigger, TriggerOperation


class InputInvalid(Exception):
    """The input violates the operation's input schema (the API answers 400)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(validation_message(errors))
        self.errors = errors
        self.message = validation_message(errors)


@dataclass
class CallResult:
    outcome: str  # "success" | "error"
    output: Any
    output_schema: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        output = self.output
        if self.output_schema is not None and isinstance(output, dict):
            output = {**output, "output_schema": self.output_schema}
        return {"outcome": self.outcome, "output": output}


def validate_input(operation: Operation, data: Any) -> None:
    errors = operation.validator.errors(data)
    if errors:
        raise InputInvalid(errors)


async def run_operation(
    connector: Connector,
    operation: Operation,
    data: dict[str, Any],
    *,
    clients: HttpClientPool,
    credentials: dict[str, Any] | None = None,
    user_data: dict[str, Any] | None = None,
    auth_id: str | None = None,
    return_output_schema: bool = False,
    validate: bool = True,
    refresh: Refresher | None = None,
    idempotency_key: str | None = None,
    payloads: PayloadAccess | None = None,
) -> CallResult:
    """Execute ``operation``. Raises :class:`InputInvalid` for bad input; every
    third-party failure comes back as ``CallResult(outcome="error")``."""
    if validate:
        validate_input(operation, data)
    user_data = user_data or {}
    ctx = Context(
        connector=connector,
        operation=operation,
        credentials=credentials or {},
        user_data=user_data,
        clients=clients,
        base_url=connector.base_url_for(user_data),
        auth_id=auth_id,
        refresh=refresh,
        idempotency_key=idempotency_key,
        payloads=payloads,
    )
    try:
        parsed = operation.parse_input(data if operation.input_model else copy.deepcopy(data))
    except ValidationError as exc:  # the model is stricter than its published schema
        raise InputInvalid(
            [f"#/{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from exc
    try:
        async with asyncio.timeout(operation.timeout):
            output = await operation.handler(ctx, parsed)
            schema = None
            if return_output_schema and operation.dynamic_output is not None:
                schema = operation.dynamic_output(ctx, data, output)
                if asyncio.iscoroutine(schema):
                    schema = await schema
    except ConnectorError as exc:
        return CallResult("error", exc.to_output())
    except TimeoutError:
        err = ConnectorError(
            f"The operation did not finish within {operation.timeout:g} s", "timeout"
        )
        return CallResult("error", err.to_output())
    return CallResult("success", output, schema)


def hook_context(
    trigger: Trigger,
    operation: TriggerOperation,
    *,
    clients: HttpClientPool,
    credentials: dict[str, Any] | None = None,
    user_data: dict[str, Any] | None = None,
    auth_id: str | None = None,
    refresh: Refresher | None = None,
    intake_url: str | None = None,
) -> Context:
    """The context a trigger's hooks (subscribe, unsubscribe, poll) run with."""
    user_data = user_data or {}
    return Context(
        connector=trigger,
        operation=operation,
        credentials=credentials or {},
        user_data=user_data,
        clients=clients,
        base_url=trigger.base_url_for(user_data),
        auth_id=auth_id,
        refresh=refresh,
        intake_url=intake_url,
    )
