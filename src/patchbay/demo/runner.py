"""``patchbay demo``'s machinery: the service fakes on loopback ports, Patchbay serving in
the same process, and the demo's authentications and workflows (created through the API,
idempotently: a restart on the same data directory finds and updates them).

    with Demo(Path("patchbay-demo"), port=8080) as demo:
        print(demo.instructions())
        ...  # demo.tmu, demo.slack, demo.smtp, demo.pendo, demo.deletions: what arrived

Every piece talks over real sockets: the TMU emulator delivers its webhooks to the
workflow's intake URL over HTTP, the connectors reach the fakes through the outbound guard
(loopback admitted), and the email goes out over SMTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config import Settings
from ..connectors.email.connector import ENVIRONMENT_ID as EMAIL_ENVIRONMENT
from ..connectors.email.fake import FakeSMTP, FakeSMTPServer, start_smtp_server
from ..connectors.http_client.connector import API_KEY_ENVIRONMENT_ID as API_KEY_ENVIRONMENT
from ..connectors.pendo.connector import ENVIRONMENT_ID as PENDO_ENVIRONMENT
from ..connectors.pendo.fake import FakePendo
from ..connectors.pendo.fake import create_app as pendo_app
from ..connectors.slack.fake import FakeSlack
from ..connectors.slack.fake import create_app as slack_app
from ..connectors.tmu.connector import TOKEN_ENVIRONMENT_ID as TMU_ENVIRONMENT
from ..connectors.tmu.fake import FakeTMU
from ..connectors.tmu.fake import create_app as tmu_app
from ..engine.definition import parse
from ..instance import InstanceError, bind, prepare_data_dir
from ..testing.fakeserver import serve_in_thread
from . import scenarios

SLACK_BOT_ENVIRONMENT = "0b6c8f52-3e1d-4d0a-9f3e-5a7b8c9d0e12"  # "Slack bot token"
STATE_FILE = "demo.json"
DELETION_API_KEY = "demo-deletion-key"
LOOPBACK = "127.0.0.1/32"
FINAL = ("succeeded", "failed", "cancelled")

# The Segment user ids the demo knows, with "your product's" internal ids (Account storage).
INTERNAL_IDS = {
    "ada@example.com": "cus_000101",
    "visitor-001": "cus_000102",
    "visitor-002": "cus_000103",
}

FAKES = ("tmu", "slack", "smtp", "pendo", "service")


class DemoError(RuntimeError):
    """The demo could not start (a port in use, the API refusing the set-up...)."""


# -- "your product": the deletion endpoint, and an inbox of everything the fakes got ----------


@dataclass
class DeletionRequest:
    id: str
    body: Any
    received_at: float = field(default_factory=time.time)


class DeletionService:
    """The product's privacy-deletion endpoint: ``POST /deletions`` with the
    ``X-API-Key`` header, answered 202. Everything it accepted is in ``requests``."""

    def __init__(self, api_key: str = DELETION_API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[DeletionRequest] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def post(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != self.api_key:
            return JSONResponse({"error": "a valid X-API-Key header is required"}, 401)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, 400)
        if not isinstance(body, dict) or not body.get("internal_id"):
            return JSONResponse({"error": "internal_id is required"}, 422)
        with self._lock:
            accepted = DeletionRequest(f"del_{next(self._ids):06d}", body)
            self.requests.append(accepted)
        return JSONResponse({"id": accepted.id, "status": "accepted"}, 202)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"id": r.id, "received_at": r.received_at, **r.body} for r in self.requests]


def _email_json(received) -> dict[str, Any]:
    msg = received.message
    body = msg.get_body(preferencelist=("plain", "html"))
    return {
        "from": str(msg["From"]),
        "to": received.rcpt_tos,
        "subject": str(msg["Subject"]),
        "text": body.get_content() if body is not None else "",
        "received_at": received.received_at,
    }


def _pendo_updates(pendo: FakePendo) -> list[dict[str, Any]]:
    return [
        {"object_type": r.segments[1], "metadata_kind": r.segments[2], "objects": r.body}
        for r in list(pendo.requests)
        if r.method == "POST" and len(r.segments) == 4 and r.segments[0] == "metadata"
    ]


# -- Patchbay in a thread -----------------------------------------------------------------------


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the caller owns the signals
        pass


def _bind(host: str, port: int) -> socket.socket:
    try:
        return bind(host, port)
    except InstanceError as exc:
        raise DemoError(str(exc)) from exc


def _port_free(host: str, port: int) -> None:
    if port:
        _bind(host, port).close()


# -- the demo ----------------------------------------------------------------------------------


class Demo:
    """The fakes, Patchbay and the demo's set-up; :meth:`start` / :meth:`stop` or a
    ``with`` block.

    ``port`` is Patchbay's (0: any free port); the fakes listen on ``fake_ports`` (keys
    ``tmu``, ``slack``, ``smtp``, ``pendo``, ``service``), by default the five ports after
    Patchbay's (any free ports when ``port`` is 0). ``settings`` are the base settings
    (database URL, ...); the demo sets the data directory, host, port and admits loopback
    outbound. ``echo`` receives a line for each thing a fake receives and each run that
    ends (None: silent)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8080,
        host: str = "127.0.0.1",
        fake_ports: dict[str, int] | None = None,
        settings: Settings | None = None,
        echo: Callable[[str], None] | None = print,
        watch_seconds: float = 0.25,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        if fake_ports is None:
            fake_ports = {name: (port + i if port else 0) for i, name in enumerate(FAKES, 1)}
        self.fake_ports = {name: int(fake_ports.get(name, 0)) for name in FAKES}
        self.base_settings = settings or Settings()
        self.echo = echo
        self.watch_seconds = watch_seconds
        self.tmu = FakeTMU(delivery_backoff=0.2)
        self.slack = FakeSlack()
        self.smtp = FakeSMTP()
        self.pendo = FakePendo()
        self.deletions = DeletionService()
        self.urls: dict[str, str] = {}
        self.token = ""
        self.auth_ids: dict[str, str] = {}
        self.workflow_ids: dict[str, str] = {}
        self.segment_url = ""
        self.url = ""
        self.settings: Settings | None = None
        self._stack = contextlib.ExitStack()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._smtp_server: FakeSMTPServer | None = None
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Demo:
        try:
            for port in (self.port, *self.fake_ports.values()):
                _port_free(self.host, port)
            self._start_fakes()
            self._start_patchbay()
            self.set_up()
        except BaseException:
            self.stop()
            raise
        if self.echo is not None:
            self._watcher = threading.Thread(target=self._watch, name="demo-watch", daemon=True)
            self._watcher.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self.tmu.close()

    def _start_fakes(self) -> None:
        host = self.host
        self.urls["tmu"] = self._stack.enter_context(
            serve_in_thread(tmu_app(self.tmu), host, self.fake_ports["tmu"])
        )
        self.urls["slack"] = self._stack.enter_context(
            serve_in_thread(slack_app(self.slack), host, self.fake_ports["slack"])
        )
        self.urls["pendo"] = self._stack.enter_context(
            serve_in_thread(pendo_app(self.pendo), host, self.fake_ports["pendo"])
        )
        self.urls["service"] = self._stack.enter_context(
            serve_in_thread(self._service_app(), host, self.fake_ports["service"])
        )
        smtp = start_smtp_server(self.smtp, host=host, port=self.fake_ports["smtp"])
        self._stack.callback(smtp.stop)
        self._smtp_server = smtp
        self.urls["smtp"] = f"smtp://{smtp.host}:{smtp.port}"

    def _service_app(self) -> Starlette:
        async def inbox(request: Request) -> Response:
            return JSONResponse(self.inbox())

        return Starlette(
            routes=[
                Route("/deletions", self.deletions.post, methods=["POST"]),
                Route(
                    "/deletions",
                    lambda r: JSONResponse({"deletions": self.deletions.to_json()}),
                    methods=["GET"],
                ),
                Route("/inbox", inbox, methods=["GET"]),
            ]
        )

    def inbox(self) -> dict[str, Any]:
        """Everything the fakes received: emails, Slack messages, Pendo updates, deletion
        requests (also served at ``GET <service>/inbox``)."""
        return {
            "emails": [_email_json(m) for m in list(self.smtp.messages)],
            "slack_messages": list(self.slack.messages),
            "pendo_updates": _pendo_updates(self.pendo),
            "deletions": self.deletions.to_json(),
        }

    def _start_patchbay(self) -> None:
        sock = _bind(self.host, self.port)
        port = sock.getsockname()[1]
        allow = self.base_settings.outbound_allow
        allowed = [a.strip() for a in allow.split(",") if a.strip()]
        if LOOPBACK not in allowed:
            allowed.append(LOOPBACK)
        self.settings = self.base_settings.model_copy(
            update={
                "data_dir": self.data_dir,
                "host": self.host,
                "port": port,
                "public_url": None,
                "outbound_allow": ",".join(allowed),
            }
        )
        self.url = f"http://{self.host}:{port}"
        prepare_data_dir(self.settings)
        self.token = asyncio.run(self._master_token())

        from ..api.app import create_app

        config = uvicorn.Config(
            create_app(self.settings),
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        server = _Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="patchbay-demo",
            daemon=True,
        )
        self._server, self._thread = server, thread
        self._stack.callback(sock.close)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive():
                raise DemoError("Patchbay did not start (see the messages above)")
            if time.monotonic() > deadline:
                raise DemoError("Patchbay did not start within 60 s")
            time.sleep(0.02)

    async def _master_token(self) -> str:
        """The demo's master token: the one saved in the state file while it is still
        valid, else a new one (saved with the rest of the state)."""
        from ..services.errors import ServiceError
        from ..services.platform import Platform

        saved = self._load_state().get("token")
        platform = Platform(self.settings)
        try:
            await platform.db.migrate()
            org_id = await platform.identity.ensure_org()
            if saved:
                try:
                    principal = await platform.identity.authenticate(saved)
                except ServiceError:
                    principal = None
                if principal is not None and principal.kind == "master":
                    return saved
            return (await platform.identity.create_master_token(org_id, "demo")).token
        finally:
            await platform.stop()

    # -- state -----------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def _load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _save_state(self) -> None:
        state = {
            "token": self.token,
            "authentications": self.auth_ids,
            "workflows": self.workflow_ids,
        }
        path = self.state_path
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)  # it holds a master token
        tmp.replace(path)

    # -- set-up through the API -------------------------------------------------------------
    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An API client acting with the demo's master token."""
        with httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            trust_env=False,
        ) as client:
            yield client

    def authentications(self) -> dict[str, dict[str, Any]]:
        tmu, slack, pendo = self.urls["tmu"], self.urls["slack"], self.urls["pendo"]
        smtp = self._smtp_server
        assert smtp is not None
        return {
            "tmu_alice": {
                "name": "Demo: TMU (Alice, schedules calls)",
                "serviceEnvironmentId": TMU_ENVIRONMENT,
                "credentials": {"api_token": FakeTMU.alice_token},
                "userData": {"base_url": tmu + "/v1"},
            },
            "tmu_bob": {
                "name": "Demo: TMU (Bob, call alerts)",
                "serviceEnvironmentId": TMU_ENVIRONMENT,
                "credentials": {"api_token": FakeTMU.bob_token},
                "userData": {"base_url": tmu + "/v1"},
            },
            "smtp": {
                "name": "Demo: SMTP",
                "serviceEnvironmentId": EMAIL_ENVIRONMENT,
                "credentials": {"username": self.smtp.username, "password": self.smtp.password},
                "userData": {
                    "host": smtp.host,
                    "port": smtp.port,
                    "security": "none",
                    "from_address": "Patchbay demo <demo@patchbay.test>",
                },
            },
            "slack": {
                "name": "Demo: Slack bot",
                "serviceEnvironmentId": SLACK_BOT_ENVIRONMENT,
                "credentials": {"access_token": FakeSlack.bot_token},
                "userData": {"base_url": slack + "/api"},
            },
            "pendo": {
                "name": "Demo: Pendo",
                "serviceEnvironmentId": PENDO_ENVIRONMENT,
                "credentials": {"integration_key": FakePendo.integration_key},
                "userData": {"base_url": pendo + "/api/v1"},
            },
            "deletions": {
                "name": "Demo: deletion API key",
                "serviceEnvironmentId": API_KEY_ENVIRONMENT,
                "credentials": {"value": self.deletions.api_key},
                "userData": {"header_name": "X-API-Key"},
            },
        }

    def definitions(self) -> dict[str, dict[str, Any]]:
        a = self.auth_ids
        return {
            "seed": scenarios.seed_internal_ids(),
            "schedule": scenarios.schedule_call_then_email(a["tmu_alice"], a["smtp"]),
            "call_started": scenarios.call_started_to_slack(a["tmu_bob"], a["slack"]),
            "segment": scenarios.segment_to_deletion_and_pendo(
                self.urls["service"] + "/deletions", a["deletions"], a["pendo"]
            ),
        }

    def set_up(self) -> None:
        """Create or update the authentications and workflows, enable the workflows and
        fill the internal id map. Safe to repeat: what the state file names and still
        exists is updated rather than created again."""
        state = self._load_state()
        saved_auths = state.get("authentications") or {}
        saved_workflows = state.get("workflows") or {}
        with self.client() as api:
            for key, body in self.authentications().items():
                self.auth_ids[key] = self._ensure_auth(api, saved_auths.get(key), body)
            self._save_state()
            for key, definition in self.definitions().items():
                self.workflow_ids[key] = self._ensure_workflow(
                    api, saved_workflows.get(key), definition, key
                )
                self._save_state()
            run = _ok(
                api.post(
                    f"/core/v1/workflows/{self.workflow_ids['seed']}/runs",
                    json={
                        "users": [
                            {"segment_user_id": k, "internal_id": v}
                            for k, v in INTERNAL_IDS.items()
                        ]
                    },
                ),
                "run the id map workflow",
            )
            final = self.wait_run(api, self.workflow_ids["seed"], run["id"])
            if final["status"] != "succeeded":
                raise DemoError(f"The id map workflow {final['status']}: {final.get('error')}")
            workflow = _ok(
                api.get(f"/core/v1/workflows/{self.workflow_ids['segment']}"), "read workflow"
            )
            self.segment_url = workflow["triggerUrl"]

    @staticmethod
    def _ensure_auth(api: httpx.Client, saved: str | None, body: dict[str, Any]) -> str:
        if saved and api.get(f"/core/v1/authentications/{saved}").status_code == 200:
            update = {k: body[k] for k in ("name", "credentials", "userData")}
            _ok(api.put(f"/core/v1/authentications/{saved}", json=update), "update " + body["name"])
            return saved
        return _ok(api.post("/core/v1/authentications", json=body), "create " + body["name"])["id"]

    @staticmethod
    def _ensure_workflow(
        api: httpx.Client, saved: str | None, definition: dict[str, Any], key: str
    ) -> str:
        wanted = parse(definition).to_export()
        found = api.get(f"/core/v1/workflows/{saved}") if saved else None
        if found is not None and found.status_code == 200:
            workflow_id = saved
            current = found.json()
            if current.get("definition") != wanted:
                _ok(api.put(f"/core/v1/workflows/{workflow_id}", json=definition), "update " + key)
            enabled = current.get("enabled")
        else:
            created = _ok(api.post("/core/v1/workflows", json=definition), "create " + key)
            workflow_id, enabled = created["id"], False
        # The TMU emulator starts empty each time: its webhook is registered anew on every
        # start. A Segment workflow keeps its subscription (and so its intake URL).
        if key == "call_started" or not enabled:
            _ok(api.post(f"/core/v1/workflows/{workflow_id}/enable"), "enable " + key)
        return workflow_id

    @staticmethod
    def wait_run(
        api: httpx.Client, workflow_id: str, run_id: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = _ok(api.get(f"/core/v1/workflows/{workflow_id}/runs/{run_id}"), "read run")
            if run["status"] in FINAL:
                return run
            if time.monotonic() > deadline:
                raise DemoError(f"Run {run_id} still {run['status']} after {timeout:g} s")
            time.sleep(0.05)

    # -- telling what happens ------------------------------------------------------------------
    def _watch(self) -> None:
        """Print what each fake receives and each demo run that ends, as it happens."""
        assert self.echo is not None
        kept: list[Any] = []  # what was printed, held so that ids stay unique
        seen_ids: set[int] = set()
        finished: set[str] = set()
        bases: dict[str, str | None] = {}  # per workflow: runs before this are all reported
        names = {v: scenarios.TITLES[k] for k, v in self.workflow_ids.items()}
        first = True

        def fresh(items: list[Any]) -> list[Any]:
            new = [item for item in items if id(item) not in seen_ids]
            kept.extend(new)
            seen_ids.update(id(item) for item in new)
            return new

        def ended_runs(api: httpx.Client, workflow_id: str) -> list[dict[str, Any]]:
            ended, cursor = [], bases.get(workflow_id)
            while True:
                params: dict[str, Any] = {"first": 100}
                if cursor:
                    params["cursor"] = cursor
                body = api.get(f"/core/v1/workflows/{workflow_id}/runs", params=params).json()
                elements, info = body["elements"], body["pageInfo"]
                ended += [r for r in elements if r["status"] in FINAL]
                if len(elements) == 100 and all(r["status"] in FINAL for r in elements):
                    bases[workflow_id] = info["endCursor"]
                if not info["hasNextPage"]:
                    return ended
                cursor = info["endCursor"]

        deferred: list[str] = []  # run lines wait a round: their effects print first
        with self.client() as api:
            while not self._stopping.wait(0 if first else self.watch_seconds):
                lines: list[str] = []
                for received in fresh(list(self.smtp.messages)):
                    email = _email_json(received)
                    lines.append(f"[email]    to {', '.join(email['to'])}: {email['subject']!r}")
                for message in fresh(list(self.slack.messages)):
                    lines.append(f"[slack]    to {message['channel']}: {message.get('text', '')}")
                for request in fresh(list(self.pendo.requests)):
                    if request.method == "POST" and request.segments[:1] == ["metadata"]:
                        kind = "/".join(request.segments[1:3])
                        lines.append(f"[pendo]    {kind} values: {json.dumps(request.body)}")
                for deletion in fresh(list(self.deletions.requests)):
                    lines.append(f"[deletion] {deletion.id}: {json.dumps(deletion.body)}")
                run_lines: list[str] = []
                for workflow_id, title in names.items():
                    try:
                        runs = ended_runs(api, workflow_id)
                    except (httpx.HTTPError, ValueError, KeyError):
                        continue
                    for run in runs:
                        if run["id"] in finished:
                            continue
                        finished.add(run["id"])
                        if not first:  # not the runs of earlier sessions
                            run_lines.append(_run_line(title, run))
                first = False
                for line in lines + deferred:
                    self.echo(line)
                deferred = run_lines

    # -- what to do ---------------------------------------------------------------------------
    def instructions(self) -> str:
        ids, token = self.workflow_ids, self.token
        auth = f'-H "Authorization: Bearer {token}"'
        json_header = "-H 'Content-Type: application/json'"
        schedule = json.dumps(
            {
                "subject": "Quarterly planning",
                "description": "Plans for Q3",
                "start_time": "2031-07-01T09:30",
                "time_zone": "Europe/London",
                "invitees": ["bob@example.com"],
            }
        )
        call = json.dumps({"subject": "Design review", "invitees": [{"email": "bob@example.com"}]})
        delete = json.dumps(
            {"type": "delete", "userId": "ada@example.com", "timestamp": "2025-01-01T12:00:00Z"}
        )
        identify = json.dumps(
            {"type": "identify", "userId": "ada@example.com", "traits": {"beta_tester": True}}
        )
        service = self.urls["service"]
        return "\n".join(
            [
                f"Patchbay demo running at {self.url} (data in {self.data_dir}).",
                f"Master token: {token}",
                "",
                "1. TMU Schedule Call -> email (the email's subject is the call's subject):",
                f"   curl -s -X POST {self.url}/core/v1/workflows/{ids['schedule']}/runs "
                f"{auth} {json_header} -d '{schedule}'",
                "   The call is scheduled as alice@example.com, who gets the email.",
                "",
                "2. TMU Call Started -> Slack message to the user (Bob), linking to the call:",
                f"   curl -s -X POST {self.urls['tmu']}/v1/calls "
                f"-H 'Authorization: Bearer {FakeTMU.alice_token}' {json_header} -d '{call}'",
                "   Alice starts a call with Bob invited; Bob (Slack U0BOB) gets a direct message.",
                "",
                "3. Segment -> the workflow's intake URL (paste it into Segment's Tray.io "
                "destination as a Workflow Url):",
                f"   {self.segment_url}",
                "   Privacy delete (the internal id comes from the Account storage map, the "
                "deletion endpoint gets it):",
                f"   curl -s -X POST '{self.segment_url}' {json_header} -d '{delete}'",
                "   Engage audience (identify with the snake_cased audience property) -> Pendo:",
                f"   curl -s -X POST '{self.segment_url}' {json_header} -d '{identify}'",
                f"   Known Segment users: {', '.join(INTERNAL_IDS)}.",
                "",
                "What arrived is printed below as it happens, and listed at:",
                f"   curl -s {service}/inbox",
                "Runs and their steps:",
                f"   curl -s {self.url}/core/v1/workflows/<workflow id>/runs {auth}",
                "Workflows: " + ", ".join(f"{scenarios.TITLES[k]} = {v}" for k, v in ids.items()),
                f"Fakes: TMU {self.urls['tmu']}/v1, Slack {self.urls['slack']}/api, "
                f"SMTP {self.urls['smtp']}, Pendo {self.urls['pendo']}/api/v1, "
                f"deletion endpoint {service}/deletions.",
            ]
        )


def _run_line(title: str, run: dict[str, Any]) -> str:
    line = f"[run]      {title}: {run['status']}"
    if run["status"] != "succeeded":
        error = run.get("error") or {}
        at = f" at {run['failedStep']}" if run.get("failedStep") else ""
        line += f"{at}: {error.get('message', '')}"
    return line


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise DemoError(f"Could not {what}: HTTP {response.status_code} {response.text}")
    return response.json()
