"""The ``patchbay`` command: connectors, master tokens, key rotation and ``call`` through
click's runner on a temporary data directory, and ``patchbay serve`` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import stat
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from patchbay.api.app import create_app
from patchbay.cli.main import cli
from patchbay.config import Settings
from patchbay.connectors.http_client.connector import TOKEN_ENVIRONMENT_ID
from patchbay.instance import lock_data_dir, prepare_data_dir
from patchbay.services.platform import Platform
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import TOKEN_LINE, ServerProcess, free_port

NO_OUTBOUND = {"PATCHBAY_OUTBOUND_ALLOW": None, "PATCHBAY_TOKEN": None}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir, database_url) -> Callable[..., Result]:
    """``run("admin", "token", "create")``: the CLI on this test's data dir and database."""

    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--data-dir", str(data_dir), "--database-url", database_url, *args],
            env={**NO_OUTBOUND, **(env or {})},
            catch_exceptions=False,
        )

    return run


def with_api(
    data_dir: Path, database_url: str, work: Callable[[httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    """Start a fresh Patchbay on the same data dir and database, run ``work`` with a client."""
    settings = Settings(data_dir=data_dir, database_url=database_url)

    async def main() -> Any:
        platform = Platform(settings)
        app = create_app(settings, platform)
        assert await platform.start() is None  # the CLI's token exists: no first token
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pb.test") as c:
                return await work(c)
        finally:
            await platform.stop()

    return asyncio.run(main())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_token(run, *args: str) -> tuple[str, str]:
    """(token id, token) of a new master token."""
    result = run("admin", "token", "create", *args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    token = lines[-1]
    assert TOKEN_LINE.match(token), result.output
    assert token not in "\n".join(lines[:-1])
    token_id = re.search(r"master token (\S+)", result.output).group(1)
    return token_id, token


@pytest.fixture
def target() -> Iterator[str]:
    app = Starlette(routes=[Route("/hello", lambda r: JSONResponse({"hello": "world"}))])
    with serve_in_thread(app) as url:
        yield url


# -- connectors ---------------------------------------------------------------------------


def test_connectors_list():
    result = CliRunner().invoke(cli, ["connectors", "list"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert {"slack", "http-client"} <= set(rows)
    assert "1.0" in rows["slack"] and "Slack" in rows["slack"]
    assert "HTTP Client" in rows["http-client"]


# -- master tokens ----------------------------------------------------------------------------


def test_token_create_list_revoke(run, data_dir, database_url):
    token_id, token = create_token(run, "--name", "ci")

    async def connectors(c: httpx.AsyncClient):
        return await c.get("/core/v1/connectors", headers=bearer(token))

    r = with_api(data_dir, database_url, connectors)
    assert r.status_code == 200, r.text
    assert {"slack", "http-client"} <= {e["name"] for e in r.json()["elements"]}

    listed = run("admin", "token", "list")
    assert listed.exit_code == 0, listed.output
    assert token not in listed.output
    line = next(line for line in listed.output.splitlines() if token_id in line)
    assert token[:8] in line and "active" in line and "ci" in line

    revoked = run("admin", "token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert token_id in revoked.output
    r = with_api(data_dir, database_url, connectors)
    assert r.status_code == 401, r.text
    assert "revoked" in run("admin", "token", "list").output

    again = run("admin", "token", "revoke", token_id)
    assert again.exit_code != 0
    assert token_id in again.output


def test_admin_invite_prints_the_link_when_no_email_can_be_sent(run, data_dir, database_url):
    create_token(run)  # not the first start (with_api expects a token)
    result = run("admin", "invite", "--email", "Ada@Example.test", "--role", "admin")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Invited ada@example.test as admin (invitation ")
    assert "No email could be sent" in lines[1]
    link = lines[-1]
    assert re.match(r"^http://127\.0\.0\.1:8080/accept-invite#token=pbl_[\w-]+$", link), link

    async def accept(c: httpx.AsyncClient) -> httpx.Response:
        body = {"token": link.split("#token=")[1], "name": "Ada", "password": "x" * 6 + "yz1234!"}
        return await c.post("/core/v1/invites/accept", json=body)

    r = with_api(data_dir, database_url, accept)
    assert r.status_code == 200, r.text
    assert r.json()["member"]["role"]["name"] == "Admin"

    result = run("admin", "invite", "--email", "b@example.test", "--role", "boss")
    assert result.exit_code == 1 and "Unknown organisation role 'boss'" in result.output
    result = run("admin", "invite", "--email", "not-an-address")
    assert result.exit_code == 2 and "not an email address" in result.output


def test_token_for_an_unknown_organisation(run, data_dir, database_url):
    result = run("admin", "token", "create", "--org", "acme")
    assert result.exit_code != 0
    assert "acme" in result.output
    assert not TOKEN_LINE.match(result.output.strip().splitlines()[-1])
    _, token = create_token(run, "--org", "acme", "--create-org")

    async def usage(c: httpx.AsyncClient):
        return await c.get("/core/v1/usage", headers=bearer(token))

    assert with_api(data_dir, database_url, usage).status_code == 200


WORKFLOW = {
    "title": "wf",
    "steps_structure": [{"name": "trigger", "type": "normal", "content": {}}],
    "steps": {
        "trigger": {
            "connector": {"name": "noop", "version": "1.0"},
            "operation": "trigger",
            "properties": {},
        }
    },
}


def test_token_scoped_to_a_workspace(run, data_dir, database_url):
    """``--workspace``: a master token that sees that workspace only (404 elsewhere), shown
    as such by ``token list``; an unknown workspace is refused."""
    org_token_id, org_token = create_token(run, "--name", "whole")

    async def add_workspace() -> str:
        from patchbay.storage.models import Workspace

        platform = Platform(Settings(data_dir=data_dir, database_url=database_url))
        await platform.start()
        try:
            async with platform.db.session() as s:
                row = Workspace(org_id=platform.default_org_id, name="B")
                s.add(row)
                await s.commit()
                return row.id
        finally:
            await platform.stop()

    b_id = asyncio.run(add_workspace())
    scoped_id, scoped = create_token(run, "--name", "b-only", "--workspace", b_id)

    async def work(c: httpx.AsyncClient):
        made = {}
        for where in (None, b_id):
            r = await c.post(
                "/core/v1/workflows",
                json=WORKFLOW,
                params={"workspaceId": where} if where else None,
                headers=bearer(org_token),
            )
            assert r.status_code == 201, r.text
            made[where] = r.json()["id"]
        listed = await c.get("/core/v1/workflows", headers=bearer(scoped))
        assert listed.status_code == 200, listed.text
        assert [e["id"] for e in listed.json()["elements"]] == [made[b_id]]
        other = await c.get(f"/core/v1/workflows/{made[None]}", headers=bearer(scoped))
        assert other.status_code == 404, other.text
        assert other.json()["code"] == "workflow_not_found"
        own = await c.get(f"/core/v1/workflows/{made[b_id]}", headers=bearer(scoped))
        assert own.status_code == 200, own.text
        # what it creates lands in its workspace
        r = await c.post("/core/v1/workflows", json=WORKFLOW, headers=bearer(scoped))
        assert r.status_code == 201, r.text
        listed = await c.get(
            "/core/v1/workflows", params={"workspaceId": b_id}, headers=bearer(org_token)
        )
        return {e["id"] for e in listed.json()["elements"]} == {made[b_id], r.json()["id"]}

    assert with_api(data_dir, database_url, work)

    listed = run("admin", "token", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert f"workspace:{b_id}" in next(line for line in lines if scoped_id in line)
    assert "organisation" in next(line for line in lines if org_token_id in line)

    refused = run("admin", "token", "create", "--workspace", "no-such-workspace")
    assert refused.exit_code != 0
    assert "no-such-workspace" in refused.output
    assert not TOKEN_LINE.match(refused.output.strip().splitlines()[-1])


# -- key rotation ---------------------------------------------------------------------------


def test_rotate_key_reencrypts_credentials(run, data_dir, database_url):
    _, token = create_token(run)
    secret = "rotate-me-0123456789"

    async def create(c: httpx.AsyncClient):
        r = await c.post(
            "/core/v1/authentications",
            json={
                "name": "api",
                "serviceEnvironmentId": TOKEN_ENVIRONMENT_ID,
                "credentials": {"token": secret},
            },
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text
        return r.json()["id"]

    auth_id = with_api(data_dir, database_url, create)
    key_file = data_dir / "secret.key"
    old_keys = key_file.read_text().split()
    assert len(old_keys) == 1

    result = run("admin", "rotate-key")
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 stored secret(s)." in result.output
    assert "The key file now holds only the new key." in result.output
    new_keys = key_file.read_text().split()
    assert len(new_keys) == 1 and new_keys != old_keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert old_keys[0] not in result.output and new_keys[0] not in result.output

    async def full(c: httpx.AsyncClient):
        return await c.get(f"/core/v1/authentications/{auth_id}/full", headers=bearer(token))

    r = with_api(data_dir, database_url, full)  # only the new key is left, and it decrypts
    assert r.status_code == 200, r.text
    assert r.json()["credentials"] == {"token": secret}

    again = run("admin", "rotate-key")
    assert again.exit_code == 0, again.output
    assert "Re-encrypted 1 stored secret(s)." in again.output
    assert with_api(data_dir, database_url, full).json()["credentials"] == {"token": secret}


# -- call -------------------------------------------------------------------------------------


def test_call_prints_the_result(run, data_dir, database_url, target):
    allow = {"PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32"}
    result = run(
        "call",
        "http-client",
        "get_request",
        "--input",
        json.dumps({"url": f"{target}/hello"}),
        env=allow,
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["outcome"] == "success"
    assert out["output"]["response"]["status_code"] == 200
    assert out["output"]["response"]["body"] == {"hello": "world"}

    # an explicit version works too, and the call is billed to the organisation
    result = run(
        "call", "http-client", "get_request", "--version", "1.0",
        "--input", json.dumps({"url": f"{target}/hello"}),
        env=allow,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _, token = create_token(run)

    async def usage(c: httpx.AsyncClient):
        return (await c.get("/core/v1/usage", headers=bearer(token))).json()

    body = with_api(data_dir, database_url, usage)
    assert [(e["userId"], e["tasks"]) for e in body["elements"]] == [(None, 2)]


def test_call_obeys_the_outbound_setting(run, target):
    # without PATCHBAY_OUTBOUND_ALLOW the loopback target is refused
    result = run("call", "http-client", "get_request", "--input", f'{{"url": "{target}/hello"}}')
    assert result.exit_code != 0
    out = json.loads(result.output)
    assert out["outcome"] == "error"
    assert out["output"]["kind"] == "connector_error"
    assert "refused" in out["output"]["message"]
    assert "PATCHBAY_OUTBOUND_ALLOW" in out["output"]["message"]


def test_call_rejects_bad_input(run):
    result = run("call", "http-client", "get_request", "--input", "{not json")
    assert result.exit_code == 2
    assert "--input" in result.output and "not valid JSON" in result.output
    assert "Traceback" not in result.output

    result = run("call", "http-client", "get_request", "--input", "[1, 2]")
    assert result.exit_code == 2
    assert "must be a JSON object" in result.output

    result = run("call", "nope", "get_request", "--input", "{}")
    assert result.exit_code == 1
    assert "No connector named 'nope'" in result.output
    assert "Traceback" not in result.output

    result = run("call", "http-client", "get_request", "--version", "9.0", "--input", "{}")
    assert result.exit_code == 1
    assert "Connector http-client version 9.0 not found" in result.output

    result = run("call", "http-client", "fly_request", "--input", "{}")
    assert result.exit_code == 1
    assert "fly_request" in result.output and "not found" in result.output

    result = run("call", "http-client", "get_request", "--input", '{"url": 5}')
    assert result.exit_code == 1
    assert "Connector input validation failed" in result.output
    assert "#/url: expected type: String, found: Integer" in result.output


# -- patchbay serve, for real ----------------------------------------------------------------


class Server(ServerProcess):
    """``patchbay serve`` in a child process (see :class:`ServerProcess`)."""


def test_serve(tmp_path):
    data_dir = tmp_path / "data"
    server = Server(data_dir)
    try:
        server.wait_healthy()
        assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
        [token] = server.tokens()  # shown once
        key_file = data_dir / "secret.key"
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (data_dir / "patchbay.db").exists()
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert (data_dir / "patchbay.lock").read_text().strip() == str(server.proc.pid)

        r = httpx.get(f"{server.url}/core/v1/connectors", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert {"slack", "http-client"} <= {e["name"] for e in r.json()["elements"]}
        r = httpx.get(f"{server.url}/core/v1/connectors")
        assert r.status_code == 401
        assert set(r.json()) == {"message", "code"}
    finally:
        server.stop()
    assert server.proc.returncode is not None

    # a restart on the same data keeps the token and prints none
    again = Server(data_dir)
    try:
        again.wait_healthy()
        assert again.tokens() == []
        r = httpx.get(f"{again.url}/core/v1/connectors", headers=bearer(token))
        assert r.status_code == 200, r.text
    finally:
        again.stop()
    assert token not in "\n".join(again.lines)


def test_serve_with_several_workers(tmp_path):
    """Bootstrap happens once, before the workers: one key, one token, both serve."""
    data_dir = tmp_path / "data"
    server = Server(data_dir, "--workers", "2")
    try:
        server.wait_healthy()
        [token] = server.tokens()
        assert len((data_dir / "secret.key").read_text().split()) == 1
        for _ in range(10):  # spread over both workers
            r = httpx.get(f"{server.url}/core/v1/connectors", headers=bearer(token))
            assert r.status_code == 200, r.text
        # One setup link, printed before the workers started (they print none, so it
        # stays the newest and works).
        links = [line.strip() for line in server.lines if "/setup#token=" in line]
        assert len(links) == 1, server.lines
        assert links[0].startswith(f"{server.url}/setup#token=pbl_")
        body = {
            "token": links[0].split("#token=")[1],
            "email": "owner@example.test",
            "name": "Owner",
            "password": "correct horse battery staple",
        }
        r = httpx.post(f"{server.url}/core/v1/setup", json=body)
        assert r.status_code == 200, r.text
    finally:
        server.stop()


def test_one_server_per_data_dir_and_port(tmp_path):
    """A second server on a data directory in use, or on a port in use, is refused in one
    line before anything starts (no false "listening" line); the instance options are taken
    after the command, as the README shows them."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    runner = CliRunner()
    with lock_data_dir(settings):  # as a running server holds it (flock: per open file)
        assert (data_dir / "patchbay.lock").read_text().strip() == str(os.getpid())
        for command in ("serve", "demo"):
            port = str(free_port())
            result = runner.invoke(cli, [command, "--data-dir", str(data_dir), "--port", port])
            assert result.exit_code == 1, result.output
            assert f"The data directory {data_dir} is in use by process {os.getpid()}" in (
                result.output
            )
            assert "listening" not in result.output and result.exception is not None

    other = tmp_path / "other"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--data-dir", str(other), "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"Cannot listen on 127.0.0.1:{port}: the port is in use" in result.output
    assert "listening" not in result.output
    assert not other.exists()  # nothing was created


def test_instance_options_after_the_command(tmp_path):
    data_dir = tmp_path / "after"
    result = CliRunner().invoke(
        cli, ["admin", "token", "create", "--data-dir", str(data_dir)], env=NO_OUTBOUND
    )
    assert result.exit_code == 0, result.output
    assert (data_dir / "secret.key").exists()
    for command in (["serve"], ["demo"], ["call"], ["admin", "token", "list"]):
        help_text = CliRunner().invoke(cli, [*command, "--help"]).output
        assert "--data-dir" in help_text and "--database-url" in help_text, command


def test_data_dir_is_owner_only_and_out_of_git(tmp_path, monkeypatch):
    """A quickstart in a git checkout leaves nothing to commit; a pre-existing data
    directory and database readable by others are made owner-only."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    data_dir = tmp_path / "patchbay-data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "patchbay.db").touch(mode=0o644)
    (data_dir / "patchbay.db").chmod(0o644)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["admin", "token", "create"], env=NO_OUTBOUND)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("patchbay.db", "secret.key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""

    # a new database file is made 0600 before SQLite opens it (never 0644 for a moment)
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(cli, ["--data-dir", str(fresh), "admin", "token", "list"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((fresh / "patchbay.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700

    # a directory that is not Patchbay's alone (--data-dir . in a checkout, /tmp) keeps its
    # mode and gets no .gitignore (it would hide the whole checkout)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("mine")
    prepare_data_dir(Settings(data_dir=shared, database_url="sqlite:///:memory:"))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert not (shared / ".gitignore").exists()


def test_call_errors_name_the_cli_flags(run, data_dir, database_url):
    result = run("call", "slack", "list_workspaces_ddl", "--input", "{}")
    assert result.exit_code == 1
    assert "needs an authentication: pass --auth" in result.output
    assert "authId" not in result.output

    _, token = create_token(run)

    async def user_auth(c: httpx.AsyncClient) -> str:
        r = await c.post(
            "/core/v1/end-users", json={"name": "U", "externalUserId": "u"}, headers=bearer(token)
        )
        assert r.status_code in (200, 201), r.text
        user = await c.post(f"/core/v1/end-users/{r.json()['id']}/tokens", headers=bearer(token))
        r = await c.post(
            "/core/v1/authentications",
            json={
                "name": "api",
                "serviceEnvironmentId": TOKEN_ENVIRONMENT_ID,
                "credentials": {"token": "t0ken-0123456789"},
            },
            headers=bearer(user.json()["accessToken"]),
        )
        assert r.status_code == 200, r.text
        return r.json()["id"]

    auth_id = with_api(data_dir, database_url, user_auth)
    body = json.dumps({"url": "http://127.0.0.1:9/x"})
    result = run("call", "http-client", "get_request", "--auth", auth_id, "--input", body)
    assert result.exit_code == 1
    assert f"Authentication {auth_id} not found for the organisation" in result.output
    assert "PATCHBAY_TOKEN" in result.output
