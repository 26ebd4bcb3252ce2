"""The HTTP surface: Tray's Connectivity API contract under ``/core/v1``."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..config import Settings
from ..services.platform import Platform
from . import errors, openapi
from .call_endpoint import CallConnectorFastPath
from .edge import RequestEdge
from .hook_endpoint import HookEndpoint
from .intake_endpoint import IntakeEndpoint
from .limits import BodyLimit, RateLimit
from .read_limits import BodyReadTimeout
from .routes import (
    authentications,
    connectors,
    end_users,
    intake,
    members,
    oauth,
    services,
    subscriptions,
    triggers,
    usage,
    workflow_import,
    workflows,
    workspaces,
)
from .schemas.common import Health


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    settings = settings or Settings()
    platform = platform or Platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        first_token = await platform.start()
        # What start-up loaded (modules, schemas, the registry) stays for good: keep it out
        # of the collector's way, and collect the young generation less often (a server
        # makes many short-lived objects per request).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)
        if first_token:
            app.state.first_master_token = first_token
            print(  # noqa: T201 - shown once, on purpose
                "\nPatchbay created the first master token (it is shown only once):\n"
                f"{first_token}\n",
                flush=True,
            )
        try:
            yield
        finally:
            await platform.stop()

    app = FastAPI(
        title="Patchbay",
        version=__version__,
        description="Tray-compatible Connectivity API: connectors, operations, "
        "authentications, end users, triggers and subscriptions, and usage; Tray's Platform API "
        "for members, roles and workspaces.",
        lifespan=lifespan,
    )
    app.state.platform = platform
    app.state.first_master_token = None
    errors.install(app)
    openapi.install(app)
    for module in (
        connectors,
        triggers,
        subscriptions,
        services,
        authentications,
        end_users,
        members,
        workspaces,
        usage,
        oauth,
        intake,
        workflow_import,  # before workflows: /import is not a workflow id
        workflows,
    ):
        app.include_router(module.router)
    app.include_router(workflows.hooks)

    @app.get("/health", tags=["meta"], summary="Liveness", response_model=Health)
    async def health():
        return {"status": "ok"}

    # Outermost first: the body limit guards everything, then the per-token rate limit.
    app.add_middleware(
        RateLimit, per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Outermost: Call Connector's hot path, answered before the framework's stack.
    app.add_middleware(
        CallConnectorFastPath, platform=platform, max_body_bytes=settings.max_body_bytes
    )
    # Outermost: one Content-Type rule and no NUL characters, for every endpoint above.
    app.add_middleware(RequestEdge, max_body_bytes=settings.max_body_bytes)
    # Outermost: the public intake URLs (no bearer token, their own body limit).
    app.add_middleware(IntakeEndpoint, platform=platform)
    app.add_middleware(HookEndpoint, platform=platform)
    # Outermost of all: a body that stops arriving is answered 408, whoever reads it.
    app.add_middleware(BodyReadTimeout, timeout=settings.body_timeout_seconds)
    return app
