"""Shared fixtures: a Patchbay per test on SQLite and on PostgreSQL, served in-process.

PostgreSQL tests use a fresh database per test on ``PATCHBAY_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``). When no server answers they skip,
saying so, unless ``PATCHBAY_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from patchbay.api.app import create_app
from patchbay.config import Settings, normalise_database_url
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.services.platform import Platform
from patchbay.storage.db import Database
from patchbay.testing.connectors import loopback_clients

PG_URL = os.environ.get("PATCHBAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("PATCHBAY_REQUIRE_POSTGRES") == "1"

_pg_reachable: bool | None = None


def _pg_available() -> bool:
    global _pg_reachable
    if _pg_reachable is None:

        async def probe() -> bool:
            try:
                conn = await asyncpg.connect(PG_URL, timeout=3)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                return False
            await conn.close()
            return True

        _pg_reachable = asyncio.run(probe())
    return _pg_reachable


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template():
    """A database migrated once per test session, which every PostgreSQL test's database
    is copied from (much faster than migrating each one)."""
    if not _pg_available():
        yield None
        return
    name = f"pbt_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]

    async def migrate() -> None:
        db = Database(normalise_database_url(f"{base}/{name}"))
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(migrate())
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh database of each kind, with the schema (SQLite: empty; migrations run on
    start either way)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'patchbay.db'}"
        return
    if not _pg_available():
        message = f"PostgreSQL is not reachable at {PG_URL}"
        if REQUIRE_PG:
            pytest.fail(message + " and PATCHBAY_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    template = request.getfixturevalue("postgres_template")
    name = f"pbt_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    base = PG_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        outbound_allow="127.0.0.1/32,localhost",
        rate_limit_per_second=10_000,
        rate_limit_burst=10_000,
    )


@dataclass
class Api:
    """A running Patchbay and a client for it, with shortcuts for the usual set-up."""

    client: httpx.AsyncClient
    platform: Platform
    master_token: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def expect_error(response: httpx.Response, status: int, code: Any = ...) -> dict[str, Any]:
        """Assert an error answer: the status and exactly ``{"message": str, "code": str|null}``
        (and the code, when given). Returns the body."""
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"message", "code"}, body
        assert isinstance(body["message"], str) and body["message"], body
        assert body["code"] is None or isinstance(body["code"], str), body
        if code is not ...:
            assert body["code"] == code, body
        return body

    @property
    def master(self) -> dict[str, str]:
        return self.auth(self.master_token)

    async def create_user(self, external_id: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"name": "Ada", "externalUserId": external_id or uuid.uuid4().hex, **extra}
        r = await self.client.post("/core/v1/end-users", json=body, headers=self.master)
        assert r.status_code == 201, r.text
        return r.json()

    async def user_token(self, user_id: str, **body: Any) -> str:
        r = await self.client.post(
            f"/core/v1/end-users/{user_id}/tokens", json=body or None, headers=self.master
        )
        assert r.status_code == 201, r.text
        return r.json()["accessToken"]

    async def new_user(self) -> tuple[dict[str, Any], dict[str, str]]:
        """A fresh end user and the headers that act as them."""
        user = await self.create_user()
        return user, self.auth(await self.user_token(user["id"]))

    async def other_org(self, name: str = "other") -> tuple[str, dict[str, str]]:
        """A second organisation and the headers of a master token of it."""
        org_id = await self.platform.identity.ensure_org(name)
        issued = await self.platform.identity.create_master_token(org_id, name)
        return org_id, self.auth(issued.token)

    async def create_auth(
        self, headers: dict[str, str], environment_id: str, credentials: dict, **extra: Any
    ) -> str:
        body = {
            "name": "auth",
            "serviceEnvironmentId": environment_id,
            "credentials": credentials,
            **extra,
        }
        r = await self.client.post("/core/v1/authentications", json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["id"]


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    """A Patchbay started with ``settings`` and a client for it (the ``api`` fixture's body,
    reusable by tests that need other settings)."""
    platform = Platform(settings)
    app = create_app(settings, platform)
    token = await platform.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://patchbay.test"
        ) as client:
            yield Api(client, platform, token)
    finally:
        await platform.stop()


@pytest.fixture
def make_api():
    """``async with make_api(settings) as api``: a Patchbay with other settings."""
    return running_api


@pytest.fixture
async def api(settings) -> AsyncIterator[Api]:
    async with running_api(settings) as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[HttpClientPool]:
    """Outbound HTTP clients admitting only 127.0.0.1, where connector tests serve their fakes."""
    async with loopback_clients() as pool:
        yield pool
