"""A step's authentication in a workflow: any of the organisation's (an end user's too, not
another organisation's), and ``$.auth`` exposing its fields to the step's mapping, with its
credential values masked in the logged input, and in outputs and errors that echo them
(outputs sealed in the journal, so the run itself still has the real value)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select
from test_error_handling import endpoint, get  # noqa: F401  (a fixture)
from test_workflow_api import create, node, run, step, steps_named, workflow

from patchbay.connectors.http_client.connector import BASIC_ENVIRONMENT_ID, TOKEN_ENVIRONMENT_ID
from patchbay.crypto import KeyRing, read_key_file
from patchbay.services.credentials.key_rotation import rotate
from patchbay.services.workflows.run_logs import unseal
from patchbay.storage.models import RunStep
from patchbay.testing.fakeserver import serve_in_thread


async def test_an_end_users_authentication_serves_the_organisations_workflow(api, endpoint):  # noqa: F811
    target, url = endpoint
    _, user_headers = await api.new_user()
    auth_id = await api.create_auth(user_headers, TOKEN_ENVIRONMENT_ID, {"token": "u5er-token"})
    call = get(url)
    call["authentication"] = auth_id
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done
    assert target.received[0].headers["authorization"] == "Bearer u5er-token"


async def test_another_organisations_authentication_is_not_found(api, endpoint):  # noqa: F811
    _, url = endpoint
    _, other = await api.other_org()
    foreign = await api.create_auth(other, TOKEN_ENVIRONMENT_ID, {"token": "their-token"})
    call = get(url)
    call["authentication"] = foreign
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    done = await run(api, wf["id"])
    assert done["status"] == "failed"
    assert done["error"]["kind"] == "user_input_error"
    assert "Authentication not found" in done["error"]["message"]


async def test_another_workspaces_authentication_is_not_found(api, endpoint):  # noqa: F811
    """Workspaces own what is built in them: a workflow's steps use the authentications of
    its own workspace only."""
    from patchbay.storage.models import Workspace

    _, url = endpoint
    async with api.platform.db.session() as s:
        other = Workspace(org_id=api.platform.default_org_id, name="B")
        s.add(other)
        await s.commit()
    r = await api.client.post(
        "/core/v1/authentications",
        params={"workspaceId": other.id},
        json={
            "name": "b",
            "serviceEnvironmentId": TOKEN_ENVIRONMENT_ID,
            "credentials": {"token": "b-token"},
        },
        headers=api.master,
    )
    assert r.status_code == 200, r.text
    call = get(url)
    call["authentication"] = r.json()["id"]
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    done = await run(api, wf["id"])
    assert done["status"] == "failed"
    assert "Authentication not found" in done["error"]["message"]


async def test_dollar_auth_maps_the_steps_authentication_and_is_masked_in_logs(api, endpoint):  # noqa: F811
    target, url = endpoint
    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "s3cret-value"})
    call = step(
        "http-client",
        "get_request",
        url=url,
        headers={"X-Sig": "t={$.auth.token}"},
        query_parameters={"copy": "$.auth.token"},
    )
    call["authentication"] = auth_id
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done
    sent = target.received[0]
    assert sent.headers["x-sig"] == "t=s3cret-value"
    logged = steps_named(done, "http-client-1")[0]["input"]
    assert logged["headers"] == {"X-Sig": "t=[redacted]"}
    assert logged["query_parameters"] == {"copy": "[redacted]"}
    assert "s3cret-value" not in str(done)


async def test_dollar_auth_without_an_authentication_does_not_resolve(api, endpoint):  # noqa: F811
    _, url = endpoint
    call = step("http-client", "get_request", url=url, headers={"X-Token": "$.auth.token"})
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    done = await run(api, wf["id"])
    assert done["status"] == "failed"
    assert "$.auth.token did not resolve" in done["error"]["message"]


def test_a_secret_inside_another_is_masked_whole():
    """Masking replaces the longer secret first: a shorter one it contains must not leave
    the rest of the longer one readable."""
    from patchbay.services.workflows.run_logs import redact

    secrets = frozenset({"abcd", "abcdefgh-token-tail"})
    assert redact({"h": "x abcdefgh-token-tail y abcd"}, secrets) == {
        "h": "x [redacted] y [redacted]"
    }


# -- a service echoing a credential back ----------------------------------------------------
def _echo_app():
    """Answers with the X-Copy header it got: 200 ``{"youSent": ...}``, or 400 with the same
    body when the path is /refuse; /auth answers the Authorization header it got under a
    key that does not look secret (``{"x-custom": ...}``)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request):
        if request.url.path.endswith("/auth"):
            return JSONResponse({"x-custom": request.headers.get("authorization")})
        status = 400 if request.url.path.endswith("/refuse") else 200
        return JSONResponse({"youSent": request.headers.get("x-copy")}, status_code=status)

    return Starlette(routes=[Route("/{path}", echo, methods=["GET", "POST"])])


@pytest.fixture
def echo():
    with serve_in_thread(_echo_app()) as url:
        yield url


async def _journal_text(api, run_id: str) -> str:
    async with api.platform.db.session() as s:
        rows = (await s.execute(select(RunStep).where(RunStep.run_id == run_id))).scalars().all()
        return json.dumps([[r.input, r.output, r.error] for r in rows])


async def test_an_output_echoing_a_credential_is_sealed_and_the_run_still_uses_it(
    api,
    echo,
    endpoint,  # noqa: F811
):
    """The echoed credential is masked in the run log and encrypted in the journal; after a
    durable delay the run resumes, replays the sealed output, and maps the real value on."""
    target, url = endpoint
    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "s3cret-echo"})
    ask = step("http-client", "get_request", url=echo + "/echo", headers={"X-Copy": "$.auth.token"})
    ask["authentication"] = auth_id
    forward = step(
        "http-client",
        "get_request",
        url=url,
        headers={"X-Forwarded": "$.steps.http-client-1.response.body.youSent"},
    )
    definition = workflow(
        [node("http-client-1"), node("delay-1"), node("http-client-2")],
        {
            "http-client-1": ask,
            "delay-1": step("delay", "delay", amount=0.2, unit="seconds"),
            "http-client-2": forward,
        },
    )
    wf = await create(api, definition)
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done
    assert target.received[0].headers["x-forwarded"] == "s3cret-echo"  # the real value
    shown = steps_named(done, "http-client-1")[0]["output"]
    assert shown["response"]["body"] == {"youSent": "[redacted]"}
    assert "s3cret-echo" not in str(done)
    stored = await _journal_text(api, done["id"])
    assert "s3cret-echo" not in stored and "$sealed" in stored


async def test_an_error_echoing_a_credential_is_masked(api):
    """A step whose error message quotes its input (here a script's): the credential
    ``$.auth`` put there is masked in the step's error, the run's, and the journal."""
    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "s3cret-error"})
    quote = step(
        "script",
        "execute",
        "3.3",
        variables=[{"name": "t", "value": "$.auth.token"}],
        script='exports.step = function(input) { throw new Error("refused " + input.t); };',
    )
    quote["authentication"] = auth_id
    wf = await create(api, workflow([node("script-1")], {"script-1": quote}))
    done = await run(api, wf["id"])
    assert done["status"] == "failed"
    error = steps_named(done, "script-1")[0]["error"]
    assert "refused [redacted]" in error["message"], error
    assert "refused [redacted]" in done["error"]["message"], done["error"]
    assert "s3cret-error" not in str(done)
    assert "s3cret-error" not in await _journal_text(api, done["id"])


async def test_key_rotation_reencrypts_sealed_outputs(api, echo):
    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "s3cret-rotate"})
    ask = step("http-client", "get_request", url=echo + "/echo", headers={"X-Copy": "$.auth.token"})
    ask["authentication"] = auth_id
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": ask}))
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done

    report = await rotate(api.platform.db, api.platform.keyring)
    assert report.rotated == 2  # the authentication and the sealed output
    async with api.platform.db.session() as s:
        row = (
            await s.execute(
                select(RunStep).where(
                    RunStep.run_id == done["id"], RunStep.step_name == "http-client-1"
                )
            )
        ).scalar_one()
    ring = KeyRing(read_key_file(api.platform.keyring.key_file))  # only the new key left
    assert ring.is_current(row.output["$sealed"])
    assert unseal(row.output, ring)["response"]["body"] == {"youSent": "s3cret-rotate"}


@pytest.mark.parametrize(
    ("environment", "credentials", "shown"),
    [
        (TOKEN_ENVIRONMENT_ID, {"token": "s3cret-unmapped"}, "Bearer [redacted]"),
        (BASIC_ENVIRONMENT_ID, {"username": "ann", "password": "s3cret-pw"}, "Basic [redacted]"),
    ],
)
async def test_a_credential_the_step_does_not_map_is_sealed_when_echoed(
    api, echo, environment, credentials, shown
):
    """A step with an authentication it never references through ``$.auth``: the service
    echoes the credential the connector sent under a key that does not look secret, and
    the run log still masks it (the Basic pair as sent too) and the journal seals it."""
    auth_id = await api.create_auth(api.master, environment, credentials)
    ask = step("http-client", "get_request", url=echo + "/auth")
    ask["authentication"] = auth_id
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": ask}))
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done
    output = steps_named(done, "http-client-1")[0]["output"]
    assert output["response"]["body"] == {"x-custom": shown}
    sent = "ann:s3cret-pw" if "password" in credentials else "s3cret-unmapped"
    basic = base64.b64encode(b"ann:s3cret-pw").decode()
    for secret in (sent, basic, "s3cret"):
        assert secret not in str(done)
    stored = await _journal_text(api, done["id"])
    assert "s3cret" not in stored and basic not in stored and "$sealed" in stored
