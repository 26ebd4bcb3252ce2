"""Importing Tray exports (``tray_export_version: 4``) and workflows written as YAML.

``parse_body`` reads a request body as JSON or YAML by its ``Content-Type`` (the same
structure either way); ``to_yaml`` writes data back as YAML that ``parse_body`` reads to the
same value. ``WorkflowImporter`` turns an export file into Patchbay workflows: every
workflow is stored (disabled, even when the export says ``enabled: true``), including those
whose steps Patchbay cannot run yet, with a report of the connectors Patchbay lacks and of
the steps that run on another version of their connector than the one the export names.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import yaml
from sqlalchemy import select

from ...engine.core_steps import ENGINE_STEPS, is_engine_step
from ...engine.definition import TRIGGER, DefinitionError, Workflow, parse
from ...storage.models import Authentication, WorkflowRow
from ..errors import BadRequest, ServiceError
from ..identity.principal import Principal
from .definitions import Workflows

EXPORT_VERSION = 4
EXPORT_TYPES = ("workflow", "project")
YAML_MEDIA_TYPE = "application/yaml"
CALL_WORKFLOW = "call-workflow"
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class UnsupportedMediaType(ServiceError):
    status = 415
    default_code = "unsupported_media_type"


# -- bodies: JSON or YAML -----------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """``yaml.safe_load``'s loader, except that timestamps stay strings (JSON has no dates:
    ``2024-05-01`` must mean the same in YAML as in JSON)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str
)


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump`` without anchors, and multi-line strings (scripts) as blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_str(data)


_Dumper.add_representer(str, _represent_str)


def media_kind(content_type: str | None) -> str:
    """``"json"`` or ``"yaml"`` for a request's ``Content-Type`` (JSON when absent)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in YAML_MEDIA_TYPES or media.endswith("+yaml"):
        return "yaml"
    if not media or media in ("application/json", "text/json") or media.endswith("+json"):
        return "json"
    raise UnsupportedMediaType(
        f"Unsupported Content-Type {media!r}: send application/json or application/yaml",
        "unsupported_media_type",
    )


def _key(key: Any) -> str:
    """A YAML mapping key as the string JSON would have (``true:`` is ``"true"``, as in a
    boolean condition's ``content.true``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return orjson.dumps(key).decode()
    raise ValueError(f"a mapping key must be a string, not {type(key).__name__}")


def _jsonable(value: Any, budget: list[int]) -> Any:
    """``value`` (loaded from YAML) as plain JSON data. ``budget`` caps the number of values:
    aliases could otherwise expand a small document enormously."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("the document expands to too many values (aliases?)")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        return value
    if isinstance(value, list):
        return [_jsonable(v, budget) for v in value]
    if isinstance(value, dict):
        return {_key(k): _jsonable(v, budget) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} values have no JSON equivalent")


def _load_yaml(raw: bytes) -> Any:
    try:
        loaded = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a safe loader
        return _jsonable(loaded, [len(raw) + 1000])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise BadRequest(f"Malformed YAML body: {where}{problem}", "invalid_yaml") from exc
    except yaml.YAMLError as exc:
        raise BadRequest(f"Malformed YAML body: {exc}", "invalid_yaml") from exc
    except RecursionError as exc:
        raise BadRequest("Malformed YAML body: nested too deeply", "invalid_yaml") from exc
    except ValueError as exc:
        raise BadRequest(f"Unsupported YAML body: {exc}", "invalid_yaml") from exc


def _load_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"Malformed JSON body: line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "malformed_json",
        ) from exc


def parse_body(content_type: str | None, raw: bytes | str) -> dict[str, Any]:
    """A request body holding one object, as JSON or (``application/yaml``, ``text/yaml``)
    YAML. Malformed YAML is ``invalid_yaml`` naming the line, malformed JSON
    ``malformed_json``; another media type is 415."""
    kind = media_kind(content_type)
    data = raw.encode() if isinstance(raw, str) else raw
    if not data.strip():
        raise BadRequest(f"A {kind.upper()} object body is required", "invalid_request")
    value = _load_yaml(data) if kind == "yaml" else _load_json(data)
    if not isinstance(value, dict):
        what = "mapping" if kind == "yaml" else "object"
        raise BadRequest(f"The body must be a {kind.upper()} {what}", "invalid_request")
    return value


def to_yaml(data: Any) -> str:
    """``data`` (JSON data) as YAML, keys in their order; ``parse_body`` reads it back to
    the same value."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


# -- Tray exports -------------------------------------------------------------------------


def _where(index: int, raw: Any) -> str:
    if isinstance(raw, dict):
        title, source = raw.get("title"), raw.get("id")
        label = ", ".join(
            x for x in (repr(title) if title else "", f"id {source}" if source else "") if x
        )
        return f"workflow {index + 1}" + (f" ({label})" if label else "")
    return f"workflow {index + 1}"


def _check_export(export: dict[str, Any]) -> list[Any]:
    version = export.get("tray_export_version")
    if version is None:
        raise BadRequest(
            "Not a Tray export: tray_export_version is missing (Patchbay imports version "
            f"{EXPORT_VERSION})",
            "unsupported_export_version",
        )
    if isinstance(version, bool) or version != EXPORT_VERSION:
        raise BadRequest(
            f"Unsupported tray_export_version {version!r}: Patchbay imports version "
            f"{EXPORT_VERSION} exports only",
            "unsupported_export_version",
        )
    if export.get("export_type") not in EXPORT_TYPES:
        raise BadRequest(
            f"export_type must be one of {', '.join(EXPORT_TYPES)}, "
            f"not {export.get('export_type')!r}",
            "invalid_export",
        )
    workflows = export.get("workflows")
    if not isinstance(workflows, list) or not workflows:
        raise BadRequest("The export holds no workflows (workflows: [...])", "invalid_export")
    if not isinstance(export.get("projects", []), list):
        raise BadRequest("projects must be a list", "invalid_export")
    return workflows


def _references(workflow: Workflow) -> list[tuple[str | None, str]]:
    """The workflows ``workflow`` names: ``(None, id)`` for its alerting workflow,
    ``(step, id)`` for a call-workflow step's literal ``workflow_id``."""
    found: list[tuple[str | None, str]] = []
    alerting = (workflow.settings or {}).get("alerting_workflow_id")
    if isinstance(alerting, str) and alerting:
        found.append((None, alerting))
    for name, step in workflow.steps.items():
        target = step.properties.get("workflow_id") if step.connector == CALL_WORKFLOW else None
        if isinstance(target, dict) and target.get("type") == "string":
            if isinstance(target.get("value"), str) and target["value"]:
                found.append((name, target["value"]))
    return found


def _link(
    definition: dict[str, Any],
    refs: list[tuple[str | None, str]],
    created: dict[str, str],
    sources: dict[str, int],
    existing: set[str],
    notes: list[str],
) -> None:
    """Point ``definition``'s references at the imported workflows; a reference to a
    workflow neither in the export nor in Patchbay is dropped (alerting) or noted (call)."""
    settings = definition["settings"] = dict(definition.get("settings") or {})
    for step, ref in refs:
        new = created.get(ref)
        if step is None:
            if new:
                settings["alerting_workflow_id"] = new
            elif ref not in existing:
                del settings["alerting_workflow_id"]
                why = (
                    "is imported after this one (a cycle)"
                    if ref in sources
                    else "is neither in this export nor in Patchbay"
                )
                notes.append(
                    f"settings.alerting_workflow_id: workflow {ref} {why}; the reference was "
                    "dropped"
                )
            continue
        if new:
            exported = definition["steps"][step]
            exported["properties"] = {
                **exported["properties"],
                "workflow_id": {"type": "string", "value": new},
            }
        elif ref in sources:
            notes.append(f"{step}: calls workflow {ref} of this export in a cycle: set workflow_id")
        elif ref not in existing:
            notes.append(
                f"{step}: calls workflow {ref}, which is neither in this export nor in Patchbay"
            )


class WorkflowImporter:
    """One export file into workflows. Every workflow is checked before any is stored: a
    workflow that is not well formed (no trigger, a node without its step...) refuses the
    whole file; one whose steps Patchbay cannot run is stored with its problems."""

    def __init__(self, workflows: Workflows) -> None:
        self.workflows = workflows
        self.registry = workflows.registry

    async def run(
        self, p: Principal, export: dict[str, Any], *, workspace_id: str | None = None
    ) -> dict[str, Any]:
        """Import into ``workspace_id`` (else the caller's: ``Principal.target_workspace``);
        the authentications and workflows the export refers to are looked up there."""
        p.require_master()
        workspace = p.target_workspace(workspace_id)
        raws = _check_export(export)
        parsed: list[tuple[dict[str, Any], Workflow]] = []
        errors: list[str] = []
        for i, raw in enumerate(raws):
            if not isinstance(raw, dict):
                errors.append(f"{_where(i, raw)}: must be an object")
                continue
            try:
                parsed.append((raw, parse(raw)))
            except DefinitionError as exc:
                errors.append(f"{_where(i, raw)}: {'; '.join(exc.problems)}")
        if errors:
            raise BadRequest("Invalid export: " + " | ".join(errors), "invalid_workflow")

        missing: dict[tuple[str, str], list[str]] = {}
        mappings: list[dict[str, str]] = []
        known_auths = await self._known_authentications(p, workspace, [w for _, w in parsed])
        notes_of: list[list[str]] = []
        for raw, workflow in parsed:  # the report in the export's order
            notes: list[str] = []
            self._connectors(workflow, missing, mappings, notes)
            for name, step in workflow.steps.items():
                if step.authentication and str(step.authentication) not in known_auths:
                    notes.append(
                        f"{name}: authentication {step.authentication} does not exist in "
                        "Patchbay (it comes from the export): create one and set it on the step"
                    )
            if raw.get("enabled") is True:
                notes.append("enabled in the export: imported disabled; enable it once it is ready")
            notes_of.append(notes)
        # A workflow another one refers to (its alerting workflow, a workflow it calls) is
        # created first, so the reference can point at the new workflow.
        sources = {str(raw["id"]): i for i, (raw, _) in enumerate(parsed) if raw.get("id")}
        refs = [_references(w) for _, w in parsed]
        existing = await self._existing_workflows(
            p, workspace, {ref for r in refs for _, ref in r} - set(sources)
        )
        order: list[int] = []

        def visit(i: int, path: tuple[int, ...]) -> None:
            if i in order or i in path:  # done, or a cycle: left for its own turn
                return
            for _, ref in refs[i]:
                if ref in sources:
                    visit(sources[ref], (*path, i))
            order.append(i)

        for i in range(len(parsed)):
            visit(i, ())
        created_ids: dict[str, str] = {}
        results: dict[int, dict[str, Any]] = {}
        for i in order:
            raw, workflow = parsed[i]
            notes = notes_of[i]
            definition = workflow.to_export()
            _link(definition, refs[i], created_ids, sources, existing, notes)
            body = await self.workflows.create(
                p, definition, keep_invalid=True, workspace_id=workspace
            )
            problems = list(body.get("problems", []))
            trigger = workflow.trigger.connector
            unknown = not is_engine_step(trigger) and self.registry.latest_trigger(trigger) is None
            if unknown and not any(x.startswith("trigger:") for x in problems):
                notes.append(
                    f"trigger: Patchbay has no {trigger} trigger; the workflow starts only "
                    "when a run is started through the API or its webhook URL"
                )
            source = raw.get("id")
            if source is not None:
                created_ids[str(source)] = body["id"]
            results[i] = {
                "id": body["id"],
                "title": body["title"],
                "sourceId": source,
                "enabled": body["enabled"],
                "problems": problems,
                "notes": [*body.get("notes", []), *notes],
            }
        return {
            "workflows": [results[i] for i in range(len(parsed))],
            "report": {
                "missingConnectors": [
                    {"connector": name, "version": version, "steps": steps}
                    for (name, version), steps in missing.items()
                ],
                "versionMappings": mappings,
            },
        }

    def _connectors(
        self,
        workflow: Workflow,
        missing: dict[tuple[str, str], list[str]],
        mappings: list[dict[str, str]],
        notes: list[str],
    ) -> None:
        """Record the steps whose connector Patchbay lacks and those that run on another
        version than the export's."""
        for node in workflow.walk():
            step = workflow.steps.get(node.name)
            if step is None or node.type == "break":  # a break's step (break-loop) never runs
                continue
            name, version = step.connector, step.version
            to: str | None = None
            if is_engine_step(name):
                versions = ENGINE_STEPS[name][0]
                if version and version not in versions:
                    to = versions[-1]
                    notes.append(f"{node.name}: {name} {version} runs as the engine's {name} {to}")
            elif node.name == TRIGGER:
                latest = self.registry.latest_trigger(name)
                if latest is None:
                    steps = missing.setdefault((name, version), [])
                    if node.name not in steps:
                        steps.append(node.name)
                elif self.registry.trigger(name, version) is None:
                    to = latest.version
            elif not self.registry.versions(name):
                steps = missing.setdefault((name, version), [])
                if node.name not in steps:
                    steps.append(node.name)
            else:
                try:
                    connector, note = self.workflows.connector_for(name, version, step.operation)
                except LookupError:
                    pass  # an operation the connector lacks: among the workflow's problems
                else:
                    if note:
                        to = connector.version
            if to is not None:
                entry = {"step": node.name, "connector": name, "from": version, "to": to}
                if entry not in mappings:
                    mappings.append(entry)

    async def _existing_workflows(self, p: Principal, workspace: str, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        async with self.workflows.db.session() as s:
            found = await s.scalars(
                select(WorkflowRow.id).where(
                    WorkflowRow.id.in_(ids),
                    WorkflowRow.org_id == p.org_id,
                    WorkflowRow.workspace_id == workspace,
                    WorkflowRow.deleted_at.is_(None),
                )
            )
            return set(found)

    async def _known_authentications(
        self, p: Principal, workspace: str, workflows: list[Workflow]
    ) -> set[str]:
        ids = {
            str(s.authentication) for w in workflows for s in w.steps.values() if s.authentication
        }
        if not ids:
            return set()
        async with self.workflows.db.session() as s:
            found = await s.scalars(
                select(Authentication.id).where(
                    Authentication.id.in_(ids),
                    Authentication.org_id == p.org_id,
                    Authentication.workspace_id == workspace,
                )
            )
            return set(found)
