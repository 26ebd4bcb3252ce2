"""The HTTP surface: Tray's Connectivity API contract under ``/core/v1``."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..config import Settings
from ..services.platform import Platform
from . import errors, openapi
from .audit_trail import AuditTrail
from .call_endpoint import CallConnectorFastPath
from .edge import RequestEdge
from .hook_endpoint import HookEndpoint
from .intake_endpoint import IntakeEndpoint
from .limits import BodyLimit, RateLimit
from .read_limits import BodyReadTimeout
from .routes import (
    account_links,
    account_pages,
    audit,
    authentications,
    connectors,
    end_users,
    files,
    intake,
    invites,
    members,
    oauth,
    services,
    session,
    sso,
    subscriptions,
    triggers,
    usage,
    workflow_import,
    workflows,
    workspaces,
)
from .schemas.common import Health


def create_app(
    settings: Settings | None = None,
    platform: Platform | None = None,
    *,
    setup_link: bool = True,
) -> FastAPI:
    """The application. ``setup_link``: print the first owner's setup link on start while
    the organisation has no member (``patchbay serve`` prints it once itself, before its
    workers start, and passes False)."""
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
        link = await platform.setup_link() if setup_link else None
        if link:
            print(SETUP_MESSAGE + link + "\n", flush=True)  # noqa: T201 - on purpose
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
        session,
        usage,
        oauth,
        sso,
        invites,
        account_links,
        account_pages,
        intake,
        files,
        workflow_import,  # before workflows: /import is not a workflow id
        workflows,
        audit,
    ):
        app.include_router(module.router)
    app.include_router(workflows.hooks)

    @app.get("/health", tags=["meta"], summary="Liveness", response_model=Health)
    async def health():
        return {"status": "ok"}

    # Innermost: the audit trail sees the route chosen, the caller and the status answered.
    app.add_middleware(AuditTrail, platform=platform)
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


def create_worker_app() -> FastAPI:
    """A server process of ``patchbay serve --workers N`` (settings from the environment;
    the setup link was printed before the workers started)."""
    return create_app(setup_link=False)


SETUP_MESSAGE = (
    "\nPatchbay has no member yet. Open this link to create the first owner (it works "
    "once, for 24 hours; a new one is printed at each start until then):\n"
)
