"""The demo's workflows, in Tray's shape (what ``POST /core/v1/workflows`` takes), from the
seed documents' three scenarios:

1. :func:`schedule_call_then_email` — a manual run schedules a TMU call, then an email
   goes out whose subject is the scheduled call's subject (seed 000, "Starting and
   Scheduling Calls").
2. :func:`call_started_to_slack` — the TMU trigger's Call Started, for one TMU user: that
   user gets a Slack message linking to the call (seed 000, "TMU Trigger").
3. :func:`segment_to_deletion_and_pendo` — Segment's Tray destination (seed 004): a
   privacy ``delete`` looks the user's internal id up in Account storage and calls the
   product's deletion endpoint; an Engage ``identify`` carrying an audience property sets
   that field on the Pendo visitor (seed 001, Update Object Values). A ``branch`` step
   routes on ``$.steps.trigger.type``.

:func:`seed_internal_ids` is a helper workflow the demo runs once to fill that Account
storage map (Segment user id -> internal id).

Every function takes the authentication ids (and URLs) it needs and returns a plain dict;
nothing here talks to anything.
"""

from __future__ import annotations

from typing import Any

from ..engine.definition import typed

TITLES = {
    "schedule": "Demo 1: TMU Schedule Call -> email",
    "call_started": "Demo 2: TMU Call Started -> Slack message",
    "segment": "Demo 3: Segment delete / Engage identify -> deletion API / Pendo",
    "seed": "Demo: seed the internal id map",
}

# Account-scoped storage keys of the Segment user id -> internal id map.
ID_KEY_PREFIX = "internal_id:"


def ref(path: str, fallback: Any = ...) -> dict[str, Any]:
    """A reference, with a fallback when given (``None`` is a null fallback)."""
    out: dict[str, Any] = {"type": "jsonpath", "value": path}
    if fallback is not ...:
        out["fallback"] = typed(fallback)
    return out


def step(
    connector: str,
    version: str,
    operation: str,
    title: str,
    *,
    auth: str | None = None,
    **properties: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": title,
        "description": "",
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {k: typed(v) for k, v in properties.items()},
        "error_handling": {},
    }
    if auth is not None:
        out["authentication"] = auth
    return out


def node(name: str, kind: str = "normal", **content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "type": kind, "content": content}


def _workflow(
    title: str,
    trigger: dict[str, Any],
    structure: list[dict[str, Any]],
    steps: dict[str, dict[str, Any]],
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "tags": ["demo"],
        "settings": {"config": config or {}, "input_schema": {}, "output_schema": {}},
        "steps_structure": [node("trigger"), *structure],
        "steps": {"trigger": trigger, **steps},
    }


def manual_trigger() -> dict[str, Any]:
    return step("noop", "1.0", "trigger", "Manual trigger")


# -- 1. Schedule Call -> email ------------------------------------------------------------


def schedule_call_then_email(tmu_auth: str, email_auth: str) -> dict[str, Any]:
    """Run it with ``{"subject", "start_time", "time_zone"?, "description"?, "invitees"?}``
    (``start_time`` a wall-clock time such as ``2031-07-01T09:30``, read in ``time_zone``).
    The call is scheduled as the TMU authentication's user (the host), who then gets an
    email whose subject is the call's subject, as TMU returned it."""
    return _workflow(
        TITLES["schedule"],
        manual_trigger(),
        [node("tmu-1"), node("email-1")],
        {
            "tmu-1": step(
                "tmu",
                "1.0",
                "schedule_call",
                "Schedule Call",
                auth=tmu_auth,
                subject="$.steps.trigger.subject",
                description=ref("$.steps.trigger.description", ""),
                start_time="$.steps.trigger.start_time",
                time_zone=ref("$.steps.trigger.time_zone", "UTC"),
                invitees=ref("$.steps.trigger.invitees", []),
            ),
            "email-1": step(
                "email",
                "1.0",
                "send_email",
                "Send Email",
                auth=email_auth,
                to=["$.steps.tmu-1.host.email"],
                subject="$.steps.tmu-1.subject",
                text_body=(
                    "Your TMU call is scheduled.\n\n"
                    "Subject: {$.steps.tmu-1.subject}\n"
                    "Starts: {$.steps.tmu-1.start_time} ({$.steps.tmu-1.time_zone})\n"
                    "Description: {$.steps.tmu-1.description}\n"
                    "Join: {$.steps.tmu-1.join_url}\n"
                ),
            ),
        },
    )


# -- 2. Call Started -> Slack message to the user ----------------------------------------------


def call_started_to_slack(tmu_user_auth: str, slack_auth: str) -> dict[str, Any]:
    """Triggered when a call the TMU authentication's user hosts or is invited to starts.
    The user's email address comes from TMU (``GET /me`` with the same authentication),
    Slack finds the user by it (``users.lookupByEmail``) and the message goes to that
    user id (a direct message) with the call's join URL."""
    trigger = step("tmu-trigger", "1.0", "call_started", "Call Started", auth=tmu_user_auth)
    return _workflow(
        TITLES["call_started"],
        trigger,
        [node("tmu-1"), node("slack-1"), node("slack-2")],
        {
            "tmu-1": step(
                "tmu",
                "1.1",
                "raw_http_request",
                "Who is the user (GET /me)",
                auth=tmu_user_auth,
                method="GET",
                url="me",
            ),
            "slack-1": step(
                "slack",
                "1.0",
                "lookup_user_by_email",
                "Find the Slack user",
                auth=slack_auth,
                email="$.steps.tmu-1.response.body.email",
            ),
            "slack-2": step(
                "slack",
                "1.0",
                "send_message",
                "Send Message",
                auth=slack_auth,
                channel="$.steps.slack-1.user.id",
                text=(
                    ":telephone_receiver: Your TMU call *{$.steps.trigger.subject}* has "
                    "started: <{$.steps.trigger.join_url}|join the call> "
                    "({$.steps.trigger.join_url})"
                ),
            ),
        },
    )


# -- 3. Segment delete -> deletion API; Engage identify -> Pendo --------------------------------


def segment_to_deletion_and_pendo(
    deletion_url: str,
    deletion_auth: str,
    pendo_auth: str,
    audience: str = "beta_tester",
) -> dict[str, Any]:
    """Segment's Tray destination posts to the workflow's intake URL (``triggerUrl``).

    - ``delete`` (privacy deletion): the user's internal id is read from Account storage
      (``internal_id:<Segment user id>``); when there is one, ``POST deletion_url`` with
      ``{"internal_id", "segment_user_id", "requested_at"}``; an unknown user is left alone.
    - ``identify`` from Engage with the audience's snake_cased property (``audience``):
      the Pendo visitor whose id is the Segment user id gets the custom field ``audience``
      set to the property's true/false. An identify without the property does nothing.
    """
    trigger = step(
        "segment-trigger",
        "1.0",
        "segment_message",
        "Segment Message",
        message_types=["delete", "identify"],
    )
    by_type = {
        "value": "$.steps.trigger.type",
        "branches": [
            {"name": "delete", "value": "delete"},
            {"name": "identify", "value": "identify"},
        ],
    }
    known_user = {
        "value": "$.steps.storage-1.value",
        "branches": [{"name": "unknown_user", "value": None}],
    }
    in_audience = {
        "value": ref(f"$.steps.trigger.traits.{audience}", None),
        "branches": [{"name": "no_audience_property", "value": None}],
    }
    return _workflow(
        TITLES["segment"],
        trigger,
        [
            node(
                "branch-1",
                "branch",
                delete=[
                    node("storage-1"),
                    node("branch-2", "branch", unknown_user=[], default=[node("http-client-1")]),
                ],
                identify=[
                    node("branch-3", "branch", no_audience_property=[], default=[node("pendo-1")]),
                ],
                default=[],
            )
        ],
        {
            "branch-1": step("branch", "1.1", "branch", "Message type", **by_type),
            "storage-1": step(
                "storage",
                "1.4",
                "get",
                "Internal id of the Segment user",
                scope="Account",
                key=ID_KEY_PREFIX + "{$.steps.trigger.userId}",
            ),
            "branch-2": step("branch", "1.1", "branch", "Known user?", **known_user),
            "http-client-1": step(
                "http-client",
                "1.0",
                "post_request",
                "Request the deletion",
                auth=deletion_auth,
                url="$.config.deletion_url",
                body={
                    "json": {
                        "internal_id": "$.steps.storage-1.value",
                        "segment_user_id": "$.steps.trigger.userId",
                        "requested_at": ref("$.steps.trigger.timestamp", None),
                    }
                },
            ),
            "branch-3": step("branch", "1.1", "branch", "Audience property?", **in_audience),
            "pendo-1": step(
                "pendo",
                "1.0",
                "update_object_values",
                "Update Object Values",
                auth=pendo_auth,
                object_type="visitor",
                metadata_kind="custom",
                objects=[
                    {"id": "$.steps.trigger.userId", "values": {audience: "$.steps.branch-3.value"}}
                ],
            ),
        },
        config={"deletion_url": deletion_url, "audience": audience},
    )


# -- the id map ---------------------------------------------------------------------------------


def seed_internal_ids() -> dict[str, Any]:
    """Run with ``{"users": [{"segment_user_id", "internal_id"}, ...]}``: each pair is
    stored (Account scope) under ``internal_id:<segment_user_id>``."""
    return _workflow(
        TITLES["seed"],
        manual_trigger(),
        [node("loop-1", "loop", _loop=[node("storage-1")])],
        {
            "loop-1": step("loop", "1.3", "loop_array", "Each user", array="$.steps.trigger.users"),
            "storage-1": step(
                "storage",
                "1.4",
                "set",
                "Remember the internal id",
                scope="Account",
                key=ID_KEY_PREFIX + "{$.steps.loop-1.value.segment_user_id}",
                value="$.steps.loop-1.value.internal_id",
            ),
        },
    )
