"""Workflows, their versions and exports, runs and steps, imports and webhook answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...services.workflows.runs.journal import STATUSES
from .common import PageInfo

RunStatus = Literal[STATUSES]  # the statuses the runs service knows, one list


class Workflow(BaseModel):
    id: str
    title: str
    enabled: bool
    version: int
    triggerUrl: str
    subscriptionId: str | None
    createdAt: datetime
    updatedAt: datetime


class Workflows(BaseModel):
    elements: list[Workflow]
    pageInfo: PageInfo


class WorkflowDefinition(Workflow):
    definition: dict[str, Any] = Field(description="The version's definition (Tray's shape)")


class SavedWorkflow(WorkflowDefinition):
    notes: list[str] = Field(description="What Patchbay noticed and accepted")


class WorkflowVersion(BaseModel):
    version: int
    createdAt: datetime
    current: bool


class WorkflowVersions(BaseModel):
    elements: list[WorkflowVersion]


class Export(BaseModel):
    tray_export_version: Literal[4]
    export_type: Literal["workflow"]
    workflows: list[dict[str, Any]]
    projects: list[Any]


class Run(BaseModel):
    id: str
    workflowId: str
    version: int
    status: RunStatus
    trigger: str = Field(description="webhook, manual, replay:<run id>, a trigger's name")
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None
    error: Any = None
    failedStep: str | None


class Runs(BaseModel):
    elements: list[Run]
    pageInfo: PageInfo


class Step(BaseModel):
    key: str
    step: str
    connector: str | None
    operation: str | None
    status: str
    input: Any = None
    output: Any = None
    error: Any = None
    attempts: int
    startedAt: datetime
    finishedAt: datetime | None
    durationMs: float | None


class RunDetail(Run):
    steps: list[Step]


class ImportedWorkflow(BaseModel):
    id: str
    title: str
    sourceId: Any = Field(description="The workflow's id in the export")
    enabled: bool
    problems: list[str]
    notes: list[str]


class MissingConnector(BaseModel):
    connector: str
    version: str
    steps: list[str]


class VersionMapping(BaseModel):
    step: str
    connector: str
    to: str
    from_: str = Field(alias="from")


class ImportReport(BaseModel):
    missingConnectors: list[MissingConnector]
    versionMappings: list[VersionMapping]


class Imported(BaseModel):
    workflows: list[ImportedWorkflow]
    report: ImportReport


class HookAccepted(BaseModel):
    runId: str


class HookFinished(BaseModel):
    runId: str
    status: Literal["succeeded"]
