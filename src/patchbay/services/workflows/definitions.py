"""Workflows (``/core/v1/workflows``): definitions in Tray's export shape, validated on
save and kept as versions (every save is a new one; rollback makes the chosen one current
again as a new version), enabled or disabled, exported as a ``tray_export_version: 4``
file. Workflows belong to the organisation, in one of its workspaces: a caller sees those
of the workspaces it has a role in (viewers read, contributors and admins build and run);
end users none."""

from __future__ import annotations

import secrets
from typing import Any

from jsonschema import Draft4Validator
from pydantic import ValidationError
from sqlalchemy import func, select

from ...config import Settings
from ...connectors.registry import Registry
from ...connectors.sdk import Connector
from ...engine.core_steps import ENGINE_STEPS, is_engine_step
from ...engine.definition import TRIGGER, DefinitionError, Node, Workflow, parse
from ...engine.mapping import references
from ...storage.db import Database
from ...storage.models import WorkflowRow, WorkflowVersion, utcnow
from ..cursors import paginate
from ..errors import BadRequest, NotFound
from ..identity.principal import Principal
from ..scope import guard, in_visible
from ..signals import Signals
from ..triggers.subscriptions import Subscriptions

HOOK_PATH = "/hooks/"
# Triggers the workflows service handles itself (Tray's names): manual, webhook, callable.
WORKFLOW_TRIGGERS = ("noop", "manual", "webhook", "callable-trigger", "alerting-trigger")


def _is_literal(value: Any) -> bool:
    """A typed value with no reference anywhere in it."""
    if isinstance(value, dict) and "type" in value and "value" in value:
        kind, inner = value["type"], value["value"]
        if kind == "jsonpath":
            return False
        if kind == "string":
            return not (isinstance(inner, str) and "{$." in inner)
        if kind == "array":
            return all(_is_literal(v) for v in inner or [])
        if kind == "object":
            return all(_is_literal(v) for v in (inner or {}).values())
        return True
    return not (isinstance(value, str) and "{$." in value)


def plain_value(value: Any) -> Any:
    """A literal typed value as plain JSON."""
    if isinstance(value, dict) and "type" in value and "value" in value:
        kind, inner = value["type"], value["value"]
        if kind == "array":
            return [plain_value(v) for v in inner or []]
        if kind == "object":
            return {k: plain_value(v) for k, v in (inner or {}).items()}
        return inner
    return value


class Workflows:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        registry: Registry,
        subscriptions: Subscriptions | None = None,
        signals: Signals | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.registry = registry
        self.subscriptions = subscriptions
        # Told when a workflow is enabled, disabled, saved or deleted.
        self.signals = signals or Signals()

    # -- triggers -------------------------------------------------------------------------
    def service_trigger(self, workflow: Workflow):
        """(trigger, operation) when the workflow starts on a service or schedule trigger;
        None for the manual, webhook and callable triggers."""
        step = workflow.trigger
        if step.connector in WORKFLOW_TRIGGERS:
            return None
        trigger = self.registry.trigger(step.connector, step.version)
        if trigger is None:
            candidates = [t for t in self.registry.triggers() if t.name == step.connector]
            trigger = candidates[-1] if candidates else None
        op = trigger.operation(step.operation) if trigger else None
        return (trigger, op) if op is not None else None

    def _check_trigger(self, workflow: Workflow, problems: list[str]) -> None:
        step = workflow.trigger
        if step.connector in WORKFLOW_TRIGGERS:
            return
        found = self.service_trigger(workflow)
        if found is None:
            problems.append(
                f"trigger: {step.connector} {step.version} {step.operation} is not a trigger "
                "Patchbay has (manual: noop, webhook, callable-trigger, alerting-trigger, or "
                f"one of {', '.join(sorted({t.name for t in self.registry.triggers()}))})"
            )
            return
        _trigger, op = found
        settings = {k: plain_value(v) for k, v in step.properties.items()}
        if not all(_is_literal(v) for v in step.properties.values()):
            problems.append("trigger: a service trigger's properties must be literal values")
            return
        errors = list(op.validator.errors(settings))
        for error in errors:
            problems.append(f"trigger: {error}")
        if not errors:
            # What the schema cannot say (a cron expression, a day's name): the settings'
            # own validators, run when the trigger subscribes, are run here too.
            try:
                op.parse_settings(settings)
            except ValidationError as exc:
                for error in exc.errors():
                    where = ".".join(str(x) for x in error["loc"])
                    problems.append(f"trigger: {where}: {error['msg']}")

    # -- connectors of steps -------------------------------------------------------------
    def connector_for(self, name: str, version: str, operation: str) -> tuple[Connector, str]:
        """The connector a step runs on: the version asked for, else the nearest version
        that has the operation (with a note saying so). Raises LookupError."""
        exact = self.registry.get(name, version)
        if exact is not None and exact.operation(operation) is not None:
            return exact, ""
        candidates = [c for c in self.registry.versions(name) if c.operation(operation) is not None]
        if not candidates:
            if exact is not None or self.registry.versions(name):
                raise LookupError(f"connector {name} has no operation {operation}")
            raise LookupError(f"connector {name} is not available in Patchbay")

        def distance(c: Connector) -> tuple[float, str]:
            try:
                return (abs(float(c.version) - float(version or 0)), c.version)
            except ValueError:
                return (0.0, c.version)

        chosen = min(candidates, key=distance)
        return chosen, f"{name} {version or '?'} runs on version {chosen.version}"

    def check(self, workflow: Workflow) -> tuple[list[str], list[str]]:
        """(problems, notes): unknown connectors/operations, references to steps that do
        not precede, literal properties the operation's input schema refuses."""
        problems: list[str] = []
        notes: list[str] = []
        before: set[str] = {TRIGGER}

        def visit(nodes: list[Node], loops: tuple[str, ...]) -> None:
            for node in nodes:
                if node.type == "break":
                    continue
                step = workflow.steps.get(node.name)
                if step is None:
                    continue
                visible = before | set(loops)
                for prop, value in step.properties.items():
                    for ref in sorted(references(value) - visible - {node.name}):
                        problems.append(
                            f"{node.name}.{prop}: refers to step {ref}, which does not precede it"
                        )
                if node.name != TRIGGER:
                    self._check_step(node.name, step, problems, notes)
                before.add(node.name)  # what it contains runs after it
                if node.type == "loop":
                    visit(node.content.get("_loop", []), (*loops, node.name))
                else:
                    for children in node.content.values():
                        visit(children, loops)

        visit(workflow.structure, ())
        self._check_trigger(workflow, problems)
        return problems, notes

    def _check_step(self, name, step, problems: list[str], notes: list[str]) -> None:
        if is_engine_step(step.connector):
            _versions, operations = ENGINE_STEPS[step.connector]
            if step.operation not in operations:
                problems.append(
                    f"{name}: {step.connector} has no operation {step.operation!r} "
                    f"(one of {', '.join(operations)})"
                )
            return
        try:
            connector, note = self.connector_for(step.connector, step.version, step.operation)
        except LookupError as exc:
            problems.append(f"{name}: {exc}")
            return
        if note:
            notes.append(f"{name}: {note}")
        op = connector.operation(step.operation)
        schema = op.input_schema
        for prop, value in step.properties.items():
            sub = (schema.get("properties") or {}).get(prop)
            if sub is None or not _is_literal(value):
                continue
            for error in Draft4Validator(sub).iter_errors(plain_value(value)):
                where = "/".join(str(p) for p in error.absolute_path)
                problems.append(f"{name}.{prop}{'/' + where if where else ''}: {error.message}")

    def validate(self, definition: Any) -> tuple[Workflow, list[str]]:
        try:
            workflow = parse(definition)
        except DefinitionError as exc:
            problems = "; ".join(exc.problems)
            raise BadRequest("Invalid workflow: " + problems, "invalid_workflow") from exc
        problems, notes = self.check(workflow)
        if problems:
            raise BadRequest("Invalid workflow: " + "; ".join(problems), "invalid_workflow")
        return workflow, notes

    # -- shapes -------------------------------------------------------------------------
    def trigger_url(self, row: WorkflowRow) -> str:
        return self.settings.effective_public_url + HOOK_PATH + row.trigger_id

    def to_api(self, row: WorkflowRow, definition: dict | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": row.id,
            "title": row.title,
            "enabled": row.enabled,
            "version": row.current_version,
            "triggerUrl": self.trigger_url(row),
            "subscriptionId": row.subscription_id,
            "createdAt": row.created_at.isoformat(),
            "updatedAt": row.updated_at.isoformat(),
        }
        if definition is not None:
            body["definition"] = definition
        return body

    # -- use cases ----------------------------------------------------------------------
    async def _row(self, s, p: Principal, workflow_id: str) -> WorkflowRow:
        p.require_master()
        row = await s.scalar(
            select(WorkflowRow).where(
                WorkflowRow.id == workflow_id,
                WorkflowRow.org_id == p.org_id,
                WorkflowRow.deleted_at.is_(None),
            )
        )
        missing = NotFound("Workflow not found", "workflow_not_found")
        if row is None:
            raise missing
        guard(p, row.workspace_id, missing)
        return row

    async def definition(self, s, workflow_id: str, version: int) -> dict[str, Any]:
        found = await s.scalar(
            select(WorkflowVersion.definition).where(
                WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
            )
        )
        if found is None:
            raise NotFound(f"Version {version} not found", "version_not_found")
        return found

    async def create(
        self,
        p: Principal,
        definition: dict[str, Any],
        *,
        keep_invalid: bool = False,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        """A new workflow (version 1, disabled), in ``workspace_id`` (else the caller's:
        ``Principal.target_workspace``). With ``keep_invalid`` (imports), a well-formed
        definition whose steps Patchbay cannot run is stored all the same and its
        ``problems`` reported: it cannot be enabled until they are fixed."""
        p.require_master()
        workspace = p.target_workspace(workspace_id)
        problems: list[str] = []
        if keep_invalid:
            try:
                workflow = parse(definition)
            except DefinitionError as exc:
                raise BadRequest(
                    "Invalid workflow: " + "; ".join(exc.problems), "invalid_workflow"
                ) from exc
            problems, notes = self.check(workflow)
        else:
            workflow, notes = self.validate(definition)
        row = WorkflowRow(
            org_id=p.org_id,
            workspace_id=workspace,
            title=workflow.title,
            enabled=False,
            current_version=1,
            trigger_id=secrets.token_urlsafe(24),
        )
        stored = workflow.to_export()
        async with self.db.session() as s:
            s.add(row)
            await s.flush()
            s.add(WorkflowVersion(workflow_id=row.id, version=1, definition=stored))
            await s.commit()
        body = {**self.to_api(row, stored), "notes": notes}
        if keep_invalid:
            body["problems"] = problems
        return body

    async def list(
        self,
        p: Principal,
        first: int | None,
        cursor: str | None,
        *,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        p.require_master()
        query = select(WorkflowRow).where(
            WorkflowRow.org_id == p.org_id,
            WorkflowRow.deleted_at.is_(None),
            *in_visible(p, WorkflowRow.workspace_id, workspace_id),
        )
        async with self.db.session() as s:
            rows, info = await paginate(s, query, WorkflowRow.seq, first, cursor)
        return {"elements": [self.to_api(r) for r in rows], "pageInfo": info}

    async def get(self, p: Principal, workflow_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            definition = await self.definition(s, row.id, row.current_version)
        body = self.to_api(row, definition)
        intake = await self.trigger_info(row)
        if intake:  # a service trigger configured by hand (Segment): where it sends
            body["triggerUrl"] = intake
        return body

    async def _save(self, s, row: WorkflowRow, definition: dict[str, Any]) -> int:
        latest = await s.scalar(
            select(func.max(WorkflowVersion.version)).where(WorkflowVersion.workflow_id == row.id)
        )
        version = (latest or 0) + 1
        s.add(WorkflowVersion(workflow_id=row.id, version=version, definition=definition))
        row.current_version = version
        row.title = definition.get("title") or row.title
        row.updated_at = utcnow()
        return version

    async def update(
        self, p: Principal, workflow_id: str, definition: dict[str, Any]
    ) -> dict[str, Any]:
        workflow, notes = self.validate(definition)
        stored = workflow.to_export()
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            before = await self.definition(s, row.id, row.current_version)
            await self._save(s, row, stored)
            await s.commit()
        self.signals.workflows_changed()
        if row.enabled and before["steps"].get(TRIGGER) != stored["steps"].get(TRIGGER):
            # a new trigger: subscribe anew (an unchanged one keeps its subscription and
            # its intake URL, which a sender may have been given)
            await self.set_enabled(p, workflow_id, True)
        return {**self.to_api(row, stored), "notes": notes}

    async def rollback(self, p: Principal, workflow_id: str, version: int) -> dict[str, Any]:
        """Make ``version``'s definition current again, as a new version."""
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            definition = await self.definition(s, row.id, version)
            self.validate(definition)  # connectors may have gone since
            await self._save(s, row, definition)
            await s.commit()
        self.signals.workflows_changed()
        return self.to_api(row, definition)

    async def versions(self, p: Principal, workflow_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            rows = (
                await s.execute(
                    select(WorkflowVersion.version, WorkflowVersion.created_at)
                    .where(WorkflowVersion.workflow_id == row.id)
                    .order_by(WorkflowVersion.version.desc())
                )
            ).all()
        return {
            "elements": [
                {"version": v, "createdAt": at.isoformat(), "current": v == row.current_version}
                for v, at in rows
            ]
        }

    async def set_enabled(self, p: Principal, workflow_id: str, enabled: bool) -> dict[str, Any]:
        """Enabling a workflow on a service or schedule trigger subscribes it (the trigger
        registers with the service); disabling unsubscribes."""
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            definition = await self.definition(s, row.id, row.current_version)
        if enabled:
            workflow, _ = self.validate(definition)
            await self._unsubscribe(p, row)
            row.subscription_id = await self._subscribe(p, row, workflow)
        else:
            await self._unsubscribe(p, row)
        async with self.db.session() as s:
            current = await self._row(s, p, workflow_id)
            current.enabled = enabled
            current.subscription_id = row.subscription_id
            current.updated_at = utcnow()
            await s.commit()
        self.signals.workflows_changed()
        return self.to_api(current)

    async def _subscribe(self, p: Principal, row: WorkflowRow, workflow: Workflow) -> str | None:
        found = self.service_trigger(workflow)
        if found is None or self.subscriptions is None:
            return None
        trigger, op = found
        step = workflow.trigger
        created = await self.subscriptions.create(
            Principal(
                org_id=row.org_id,
                kind="master",
                token_id=p.token_id,
                workspace_id=row.workspace_id,
            ),
            {
                "name": f"workflow {row.title}",
                "trigger": {"name": trigger.name, "version": trigger.version},
                "operation": op.name,
                "input": {k: plain_value(v) for k, v in step.properties.items()},
                "endpoint": "",
                "authenticationId": step.authentication,
            },
            workflow_id=row.id,
        )
        if created["state"] != "active":
            error = created.get("error") or {}
            raise BadRequest(
                f"The trigger could not subscribe: {error.get('message', 'unknown error')}",
                "trigger_subscription_failed",
            )
        return created["id"]

    async def _unsubscribe(self, p: Principal, row: WorkflowRow) -> None:
        if row.subscription_id and self.subscriptions is not None:
            owner = Principal(
                org_id=row.org_id,
                kind="master",
                token_id=p.token_id,
                workspace_id=row.workspace_id,
            )
            try:
                await self.subscriptions.delete(owner, row.subscription_id)
            except NotFound:
                pass
            row.subscription_id = None

    async def delete(self, p: Principal, workflow_id: str) -> None:
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
        await self._unsubscribe(p, row)
        async with self.db.session() as s:
            current = await self._row(s, p, workflow_id)
            current.deleted_at = utcnow()
            current.enabled = False
            current.subscription_id = None
            await s.commit()
        self.signals.workflows_changed()

    async def trigger_info(self, row: WorkflowRow) -> str | None:
        """The URL a hand-configured sender posts to: the subscription's intake URL."""
        if not row.subscription_id or self.subscriptions is None:
            return None
        owner = Principal(
            org_id=row.org_id, kind="master", token_id="workflow", workspace_id=row.workspace_id
        )
        try:
            return (await self.subscriptions.get(owner, row.subscription_id)).get("intakeUrl")
        except NotFound:
            return None

    async def export(self, p: Principal, workflow_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self._row(s, p, workflow_id)
            definition = await self.definition(s, row.id, row.current_version)
        return {
            "tray_export_version": 4,
            "export_type": "workflow",
            "workflows": [{"id": row.id, "enabled": row.enabled, **definition}],
            "projects": [],
        }
