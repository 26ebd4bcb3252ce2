"""Helpers for running a connector's operations through the real SDK path in tests.

A test serves a service fake on a loopback port (:func:`patchbay.testing.fakeserver.
serve_in_thread`), opens an outbound client pool that admits only that loopback address
(:func:`loopback_clients`), calls operations the way the platform does (:func:`make_call`)
and checks a successful output against the operation's declared schema
(:func:`assert_output_valid`)::

    async with loopback_clients() as clients:
        call = make_call(SLACK, clients, credentials={"access_token": token},
                         user_data={"base_url": url})
        result = await call("send_message", {"channel": "C1", "text": "hi"})
        output = assert_output_valid(SLACK, "send_message", result)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import jsonschema

from patchbay.connectors.sdk import Connector
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.outbound import OutboundPolicy
from patchbay.connectors.sdk.runner import CallResult, run_operation

LOOPBACK = "127.0.0.1/32"
"""The outbound setting admitting only ``127.0.0.1``, where the fakes are served."""

__all__ = ["LOOPBACK", "Call", "assert_output_valid", "loopback_clients", "make_call"]


@asynccontextmanager
async def loopback_clients(setting: str = LOOPBACK) -> AsyncIterator[HttpClientPool]:
    """An outbound client pool whose policy admits ``setting`` (by default 127.0.0.1 only),
    closed when the block exits."""
    pool = HttpClientPool(OutboundPolicy.from_setting(setting))
    try:
        yield pool
    finally:
        await pool.aclose()


class Call(Protocol):
    """Run one operation by name; see :func:`make_call`."""

    def __call__(
        self,
        name: str,
        data: dict[str, Any],
        *,
        credentials: dict[str, Any] | None = None,
        user_data: dict[str, Any] | None = None,
        validate: bool = True,
    ) -> Awaitable[CallResult]: ...


def make_call(
    connector: Connector,
    clients: HttpClientPool,
    *,
    credentials: dict[str, Any] | None = None,
    user_data: dict[str, Any] | None = None,
) -> Call:
    """A ``call(name, data, *, credentials=None, user_data=None, validate=True)`` running
    ``connector``'s operation ``name`` with :func:`run_operation` on ``clients``.

    ``credentials`` and ``user_data`` given here are the defaults of every call; a call that
    passes its own uses that instead, whole (an empty dict too), so a test can leave out what
    the default holds. ``validate=False`` skips the input-schema check, to reach the
    operation with input the schema refuses.
    """
    default_credentials, default_user_data = credentials, user_data

    async def call(
        name: str,
        data: dict[str, Any],
        *,
        credentials: dict[str, Any] | None = None,
        user_data: dict[str, Any] | None = None,
        validate: bool = True,
    ) -> CallResult:
        operation = connector.operation(name)
        assert operation is not None, name
        return await run_operation(
            connector,
            operation,
            data,
            clients=clients,
            credentials=default_credentials if credentials is None else credentials,
            user_data=default_user_data if user_data is None else user_data,
            validate=validate,
        )

    return call


def assert_output_valid(connector: Connector, name: str, result: CallResult) -> Any:
    """Assert ``result`` is a success whose output the operation's declared output schema
    (a valid JSON Schema draft 4) accepts; return the output."""
    assert result.outcome == "success", result.output
    operation = connector.operation(name)
    assert operation is not None, name
    schema = operation.output_schema
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(result.output)
    return result.output


async def loop_ticks_during(awaitable: Awaitable[Any], every: float = 0.01) -> tuple[Any, int]:
    """(what ``awaitable`` gave, how many times a task sleeping ``every`` seconds woke up
    meanwhile): about duration / every while the event loop is free, near 0 when the
    awaited work holds it. Exceptions are the awaitable's."""
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(every)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        return await awaitable, ticks
    finally:
        done.set()
        await ticker
