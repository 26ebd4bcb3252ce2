"""``patchbay admin member ...``: create, list and reset-password through click's runner on
a temporary data directory, checked by signing in against a Patchbay on the same data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from patchbay.api.app import create_app
from patchbay.cli.main import cli
from patchbay.config import Settings
from patchbay.services.platform import Platform

PASSWORD = "correct horse battery"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir, database_url) -> Callable[..., Result]:
    """``run("admin", "member", "list", input=...)`` on this test's data dir and database."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            ["--data-dir", str(data_dir), "--database-url", database_url, *args],
            input=input,
            env={"PATCHBAY_TOKEN": None},
            catch_exceptions=False,
        )

    return run


def with_api(
    data_dir: Path, database_url: str, work: Callable[[httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    settings = Settings(data_dir=data_dir, database_url=database_url, background_workers=False)

    async def main() -> Any:
        platform = Platform(settings)
        app = create_app(settings, platform)
        await platform.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pb.test") as c:
                return await work(c)
        finally:
            await platform.stop()

    return asyncio.run(main())


def sign_in(email: str, password: str):
    async def work(c: httpx.AsyncClient):
        r = await c.post("/core/v1/session", json={"email": email, "password": password})
        return r.status_code, r.json(), r.cookies.get("patchbay_session")

    return work


def test_member_create_and_sign_in(run, data_dir, database_url):
    created = run(
        "admin",
        "member",
        "create",
        "--email",
        "Ada@Example.com",
        "--role",
        "owner",
        "--name",
        "Ada Lovelace",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    assert "ada@example.com" in created.output and "owner" in created.output
    assert PASSWORD not in created.output

    status, body, _ = with_api(data_dir, database_url, sign_in("ada@example.com", PASSWORD))
    assert status == 200, body
    assert body["member"]["name"] == "Ada Lovelace" and body["member"]["role"]["name"] == "Owner"

    again = run(
        "admin", "member", "create", "--email", "ada@example.com", "--role", "admin",
        "--password-stdin", input=PASSWORD,
    )  # fmt: skip
    assert again.exit_code == 1 and "already exists" in again.output

    plain = run("admin", "member", "create", "--email", "bo@example.com", "--role", "member",
                "--workspace-role", "viewer")  # fmt: skip
    assert plain.exit_code == 0, plain.output
    listed = run("admin", "member", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert "ada@example.com" in lines[0] and "owner" in lines[0] and "Ada Lovelace" in lines[0]
    assert "bo@example.com" in lines[1] and "no password" in lines[1]
    assert "$argon2" not in listed.output


def test_member_create_refuses_weak_passwords_and_bad_roles(run):
    weak = run(
        "admin", "member", "create", "--email", "ada@example.com", "--role", "owner",
        "--password-stdin", input="short\n",
    )  # fmt: skip
    assert weak.exit_code == 1
    assert "at least 12 characters" in weak.output
    empty = run(
        "admin", "member", "create", "--email", "ada@example.com", "--role", "owner",
        "--password-stdin", input="",
    )  # fmt: skip
    assert empty.exit_code == 1 and "No password" in empty.output
    role = run("admin", "member", "create", "--email", "ada@example.com", "--role", "king")
    assert role.exit_code == 2 and "king" in role.output
    other = run("admin", "member", "create", "--email", "a@b.c", "--role", "owner", "--org", "x")
    assert other.exit_code == 1 and "'x'" in other.output
    assert run("admin", "member", "list").output.strip() == ""


def test_member_reset_password_ends_sessions(run, data_dir, database_url):
    create = ["admin", "member", "create", "--email", "ada@example.com", "--role", "admin"]
    assert run(*create, "--password-stdin", input=PASSWORD).exit_code == 0
    status, _, session = with_api(data_dir, database_url, sign_in("ada@example.com", PASSWORD))
    assert status == 200 and session

    new = "a fresh passphrase here"
    reset = ["admin", "member", "reset-password", "--email", "ada@example.com"]
    missing = run(*reset)
    assert missing.exit_code == 2 and "--password-stdin" in missing.output
    weak = run(*reset, "--password-stdin", input="aaaaaaaaaaaaaaaa\n")
    assert weak.exit_code == 1 and "different characters" in weak.output
    nobody = run(
        "admin", "member", "reset-password", "--email", "nobody@example.com",
        "--password-stdin", input=new,
    )  # fmt: skip
    assert nobody.exit_code == 1 and "nobody@example.com" in nobody.output
    done = run(*reset, "--password-stdin", input=new + "\r\n")
    assert done.exit_code == 0, done.output
    assert new not in done.output

    async def after(c: httpx.AsyncClient):
        old = await c.get("/core/v1/session", headers={"Cookie": f"patchbay_session={session}"})
        c.cookies.clear()
        wrong = await c.post(
            "/core/v1/session", json={"email": "ada@example.com", "password": PASSWORD}
        )
        right = await c.post("/core/v1/session", json={"email": "ada@example.com", "password": new})
        return old, wrong, right

    old, wrong, right = with_api(data_dir, database_url, after)
    assert old.status_code == 401 and old.json()["code"] == "session_ended"
    assert wrong.status_code == 401
    assert right.status_code == 200, right.text
