"""The ``patchbay`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from ..config import Settings
from ..services.errors import ServiceError
from ..services.identity.principal import ORG_ROLES, WORKSPACE_ROLES
from .demo import demo_command
from .options import DATA_DIR_HELP, DATABASE_URL_HELP, hold_instance, instance_options
from .run import run_command

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj


def _with_platform(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Start the platform (migrations included), run ``work``, stop it."""
    from ..services.platform import Platform

    async def main() -> T:
        platform = Platform(settings)
        await platform.db.migrate()
        platform.default_org_id = await platform.identity.ensure_org()
        platform.default_workspace_id = await platform.identity.default_workspace(
            platform.default_org_id
        )
        try:
            return await work(platform)
        finally:
            await platform.stop()

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc


@click.group()
@click.option(
    "--data-dir",
    envvar="PATCHBAY_DATA_DIR",
    type=click.Path(file_okay=False),
    help=DATA_DIR_HELP + " (default ./patchbay-data)",
)
@click.option("--database-url", envvar="PATCHBAY_DATABASE_URL", help=DATABASE_URL_HELP)
@click.version_option(package_name="patchbay")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, database_url: str | None) -> None:
    """Patchbay: a self-hostable integration platform with a Tray-compatible API."""
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if database_url:
        overrides["database_url"] = database_url
    ctx.obj = Settings(**overrides)


@cli.command()
@instance_options
@click.option("--host", envvar="PATCHBAY_HOST", default=None, help="Interface to bind")
@click.option("--port", envvar="PATCHBAY_PORT", type=int, default=None, help="Port to listen on")
@click.option(
    "--workers",
    envvar="PATCHBAY_WORKERS",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes (limits and caches are per process)",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Start the API server (migrations are applied on start)."""
    import os

    import uvicorn

    from ..api.app import SETUP_MESSAGE, create_app
    from ..api.read_limits import server_limits
    from ..services.platform import bootstrap

    settings = _settings(ctx)
    settings.host = host or settings.host
    settings.port = port or settings.port
    # Held until the command ends: the data directory is this server's, the port free.
    ctx.with_resource(hold_instance(settings))
    # Migrations, the key file and the first master token are made once, here, before any
    # worker starts (several workers would otherwise race to create them).
    first = asyncio.run(bootstrap(settings))
    if first.master_token:
        click.echo(
            "Patchbay created the first master token (it is shown only once):\n"
            + first.master_token
        )
    if first.setup_link:
        click.echo(SETUP_MESSAGE.lstrip("\n") + first.setup_link)
    click.echo(f"Patchbay listening on http://{settings.host}:{settings.port} (docs at /docs)")
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        **server_limits(settings),
    }
    if workers == 1:
        uvicorn.run(create_app(settings, setup_link=False), **options)
        return
    # Worker processes build their app from the environment: hand the flags over.
    os.environ["PATCHBAY_DATA_DIR"] = str(settings.data_dir)
    os.environ["PATCHBAY_DATABASE_URL"] = settings.effective_database_url
    os.environ["PATCHBAY_HOST"] = settings.host
    os.environ["PATCHBAY_PORT"] = str(settings.port)
    uvicorn.run("patchbay.api.app:create_worker_app", factory=True, workers=workers, **options)


@cli.group()
def admin() -> None:
    """Administration: master tokens, members, invitations and encryption keys."""


@admin.group()
def token() -> None:
    """Master tokens."""


@token.command("create")
@instance_options
@click.option("--name", default=None, help="A label for the token")
@click.option("--org", default="default", show_default=True, help="Organisation name")
@click.option("--create-org", is_flag=True, help="Create the organisation if it does not exist")
@click.option(
    "--workspace",
    "workspace_id",
    default=None,
    help="A workspace id: the token sees that workspace only (default: the whole organisation)",
)
@click.pass_context
def token_create(
    ctx: click.Context, name: str | None, org: str, create_org: bool, workspace_id: str | None
) -> None:
    """Create a master token; the token alone is on the last line of output."""

    async def work(pf):
        org_id = await (pf.identity.ensure_org(org) if create_org else pf.identity.org_id(org))
        return await pf.identity.create_master_token(org_id, name, workspace_id)

    issued = _with_platform(_settings(ctx), work)
    scope = (
        f"workspace {workspace_id} of organisation {org!r}"
        if workspace_id
        else (f"organisation {org!r}")
    )
    click.echo(f"Created master token {issued.id} for {scope}. It is shown once:")
    click.echo(issued.token)


@token.command("list")
@instance_options
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List master tokens (never the tokens themselves) and what each sees: the whole
    organisation, or one workspace."""
    rows = _with_platform(_settings(ctx), lambda pf: pf.identity.list_master_tokens())
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        scope = f"workspace:{row.workspace_id}" if row.workspace_id else "organisation"
        click.echo(
            f"{row.id}  {row.prefix}…  {state:7}  {row.created_at:%Y-%m-%d}  {scope}  "
            f"{row.name or ''}".rstrip()
        )


@token.command("revoke")
@instance_options
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a master token by id."""
    _with_platform(_settings(ctx), lambda pf: pf.identity.revoke_token(token_id))
    click.echo(f"Revoked {token_id}")


@admin.group()
def member() -> None:
    """Members: the people who sign in (owners, admins, members)."""


def _read_password(email: str) -> str:
    """The password given on standard input (one trailing newline dropped), checked
    against the strength rules before anything is stored."""
    from ..services.identity.passwords import check_strength

    password = click.get_text_stream("stdin").read()
    if password.endswith("\n"):
        password = password[:-1].removesuffix("\r")
    if not password:
        raise click.ClickException("No password on standard input")
    try:
        check_strength(password, email=email)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    return password


@member.command("create")
@instance_options
@click.option("--email", required=True, help="The member's email (their sign-in name)")
@click.option("--role", required=True, type=click.Choice(ORG_ROLES), help="Organisation role")
@click.option("--name", default=None, help="Display name (default: the email's local part)")
@click.option(
    "--workspace-role",
    type=click.Choice(WORKSPACE_ROLES),
    default=None,
    help="A role in the default workspace (for the role 'member')",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (without it the member has no password "
    "until one is reset, or signs in with single sign-on)",
)
@click.option("--org", default="default", show_default=True, help="Organisation name")
@click.pass_context
def member_create(
    ctx: click.Context,
    email: str,
    role: str,
    name: str | None,
    workspace_role: str | None,
    password_stdin: bool,
    org: str,
) -> None:
    """Create a member who can sign in."""
    from ..services.identity.passwords import hash_password

    password = _read_password(email) if password_stdin else None

    async def work(pf):
        org_id = await pf.identity.org_id(org)
        workspaces = None
        if workspace_role:
            workspaces = {await pf.identity.default_workspace(org_id): workspace_role}
        return await pf.members.create(
            org_id,
            email=email,
            name=name or email.strip().split("@", 1)[0],
            org_role=role,
            password_hash=hash_password(password) if password else None,
            workspaces=workspaces,
        )

    created = _with_platform(_settings(ctx), work)
    click.echo(f"Created member {created.id} {created.email} ({created.org_role})")


@member.command("list")
@instance_options
@click.option("--org", default="default", show_default=True, help="Organisation name")
@click.pass_context
def member_list(ctx: click.Context, org: str) -> None:
    """List the organisation's members (never a password)."""

    async def work(pf):
        return await pf.members.all(await pf.identity.org_id(org))

    for row in _with_platform(_settings(ctx), work):
        notes = [] if row.password_hash else ["no password"]
        if row.locked_until and row.locked_until > datetime.now(UTC):
            notes.append(f"locked until {row.locked_until:%Y-%m-%d %H:%M:%S}Z")
        click.echo(f"{row.id}  {row.email}  {row.org_role:6}  {row.name}  {', '.join(notes)}")


@member.command("reset-password")
@instance_options
@click.option("--email", required=True, help="The member's email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (required)"
)
@click.option("--org", default="default", show_default=True, help="Organisation name")
@click.pass_context
def member_reset_password(ctx: click.Context, email: str, password_stdin: bool, org: str) -> None:
    """Set a member's password; it also lifts a lockout and ends the member's sessions."""
    if not password_stdin:
        raise click.UsageError("Give the password on standard input with --password-stdin")
    password = _read_password(email)

    async def work(pf):
        found = await pf.members.by_email(await pf.identity.org_id(org), email)
        if found is None:
            raise click.ClickException(f"No member with email {email!r} in {org!r}")
        await pf.sign_in.set_password(found, password)
        return found

    found = _with_platform(_settings(ctx), work)
    click.echo(f"Set the password of {found.email}; their sessions have ended.")


@admin.command("invite")
@instance_options
@click.option("--email", required=True, help="The address to invite")
@click.option(
    "--role",
    default="member",
    show_default=True,
    help="Organisation role: owner, admin or member (or its id)",
)
@click.pass_context
def invite(ctx: click.Context, email: str, role: str) -> None:
    """Invite a person (as the organisation): the link is emailed, or printed on the last
    line when no email could be sent (no PATCHBAY_SMTP_HOST, or the server refused)."""
    import re

    from ..api.schemas.account_links import EMAIL_PATTERN
    from ..services.identity.principal import Principal

    if not re.match(EMAIL_PATTERN, email):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="--email")

    async def work(pf):
        p = Principal(org_id=pf.default_org_id, kind="master", token_id="cli", label="cli")
        return await pf.invitations.invite(p, email, role)

    sent = _with_platform(_settings(ctx), work)
    until = f"{sent.expires_at:%Y-%m-%d %H:%M} UTC"
    click.echo(f"Invited {sent.email} as {sent.role.name.lower()} (invitation {sent.id}).")
    if sent.email_sent:
        click.echo(f"The link was emailed; it works once, until {until}.")
        return
    click.echo(f"No email could be sent: pass this link on. It works once, until {until}:")
    click.echo(sent.url)


@admin.command("rotate-key")
@instance_options
@click.pass_context
def rotate_key(ctx: click.Context) -> None:
    """Re-encrypt stored credentials under a new key."""
    from ..services.credentials.key_rotation import rotate

    report = _with_platform(_settings(ctx), lambda pf: rotate(pf.db, pf.keyring))
    click.echo(f"Re-encrypted {report.rotated} stored secret(s).")
    if report.key_file_updated:
        click.echo("The key file now holds only the new key.")
    else:
        click.echo(
            "Keys come from PATCHBAY_SECRET_KEYS: every credential is now under its first key; "
            "remove the older keys from the variable."
        )


@cli.group()
def connectors() -> None:
    """The connector catalogue."""


@connectors.command("list")
def connectors_list() -> None:
    """List connectors and their versions."""
    from ..connectors.registry import Registry

    for c in Registry.discover().all():
        count = len(c.operations)
        plural = "" if count == 1 else "s"
        click.echo(f"{c.name:16} {c.version:6} {c.title}  ({count} operation{plural})")


@cli.command()
@instance_options
@click.argument("connector")
@click.argument("operation")
@click.option("--version", "version", default=None, help="Connector version (default: latest)")
@click.option("--auth", "auth_id", default=None, help="Authentication id")
@click.option("--input", "input_json", default="{}", help="Input as JSON")
@click.option("--token", envvar="PATCHBAY_TOKEN", default=None, help="Act as this token's owner")
@click.pass_context
def call(
    ctx: click.Context,
    connector: str,
    operation: str,
    version: str | None,
    auth_id: str | None,
    input_json: str,
    token: str | None,
) -> None:
    """Call an operation, on the same code path as the API's Call Connector."""
    try:
        data = json.loads(input_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--input") from exc
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--input")

    async def work(pf):

        if token:
            principal = await pf.identity.authenticate(token)
        else:  # the operator acts as the default organisation
            principal = pf.operator()
        latest = pf.registry.latest(connector)
        if version is None and latest is None:
            raise click.ClickException(
                f"No connector named {connector!r} (see 'patchbay connectors list')"
            )
        chosen = version or latest.version
        pf.usage.start()
        try:
            return await pf.calls.call(
                principal, connector, chosen, operation=operation, input=data, auth_id=auth_id
            )
        except ServiceError as exc:
            raise click.ClickException(_call_error(exc, connector, auth_id, token)) from exc

    result = _with_platform(_settings(ctx), work)
    click.echo(json.dumps(result, indent=2))
    if result.get("outcome") != "success":
        sys.exit(1)


def _call_error(exc: ServiceError, connector: str, auth_id: str | None, token: str | None) -> str:
    """The service's message, in the CLI's words where they differ from the API's."""
    if exc.code == "authentication_required":
        return f"Connector {connector} needs an authentication: pass --auth AUTHENTICATION_ID"
    if exc.code == "authentication_not_found" and not token:
        return (
            f"Authentication {auth_id} not found for the organisation. 'patchbay call' acts "
            "as the organisation unless PATCHBAY_TOKEN (or --token) holds another token: to "
            "use an end user's authentication, give that user's token."
        )
    return exc.message


@cli.command()
@click.argument("service")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9000, show_default=True)
def fake(service: str, host: str, port: int) -> None:
    """Run a connector's loopback fake of its service (for demos, tests and benchmarks)."""
    import importlib

    import uvicorn

    module_name = f"patchbay.connectors.{service.replace('-', '_')}.fake"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise click.ClickException(f"No fake for {service!r}") from exc
    click.echo(f"Fake {service} listening on http://{host}:{port}")
    uvicorn.run(module.create_app(), host=host, port=port, log_level="warning", access_log=False)


cli.add_command(run_command)
cli.add_command(demo_command)


def main() -> None:
    cli(prog_name="patchbay")
