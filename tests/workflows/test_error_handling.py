"""Per-step error handling and Tray's automatic retries, with a real HTTP step (the
http-client connector) against a loopback endpoint scripted to fail."""

from __future__ import annotations

import pytest
from test_workflow_api import create, node, run, step, steps_named, typed, workflow

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber


@pytest.fixture
def endpoint():
    target = Subscriber()
    with serve_in_thread(target.app) as url:
        yield target, url + "/thing"


def get(url, strategy=None, **extra):
    s = step("http-client", "get_request", url=url, **extra)
    if strategy:
        s["error_handling"] = {"strategy": strategy}
    return s


async def test_api_errors_are_retried_three_times_then_fail(api, endpoint):
    target, url = endpoint
    target.script(500, 502, 503, 500, 500)
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": get(url)}))
    body = await run(api, wf["id"])
    assert body["status"] == "failed"
    assert body["failedStep"] == "http-client-1"
    [attempted] = steps_named(body, "http-client-1")
    assert attempted["attempts"] == 4  # the first try and Tray's 3 retries
    assert attempted["error"]["kind"] == "api_error"
    assert len(target.received) == 4


async def test_an_api_error_that_recovers_succeeds(api, endpoint):
    target, url = endpoint
    target.script(500, 429)
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": get(url)}))
    body = await run(api, wf["id"])
    assert body["status"] == "succeeded", body
    [attempted] = steps_named(body, "http-client-1")
    assert attempted["attempts"] == 3
    assert attempted["output"]["response"]["status_code"] == 200


async def test_bad_input_is_never_retried(api, endpoint):
    target, url = endpoint
    wf = await create(
        api,
        workflow(
            [node("http-client-1")],
            {"http-client-1": get("$.steps.trigger.url")},
        ),
    )
    body = await run(api, wf["id"], {"url": 42})  # not a string: refused by the schema
    assert body["status"] == "failed"
    [attempted] = steps_named(body, "http-client-1")
    assert attempted["attempts"] == 1
    assert attempted["error"]["kind"] == "user_input_error"
    assert target.received == []


async def test_unresolved_reference_names_the_path_and_fallback_rescues(api, endpoint):
    _, url = endpoint
    wf = await create(
        api, workflow([node("http-client-1")], {"http-client-1": get("$.steps.trigger.nope")})
    )
    body = await run(api, wf["id"])
    assert body["status"] == "failed"
    assert "$.steps.trigger.nope" in body["error"]["message"]

    rescued = get("x")
    rescued["properties"]["url"] = {
        "type": "jsonpath",
        "value": "$.steps.trigger.nope",
        "fallback": {"type": "string", "value": url},
    }
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": rescued}))
    assert (await run(api, wf["id"]))["status"] == "succeeded"


async def test_manual_error_handling_takes_the_error_branch(api, endpoint):
    target, url = endpoint
    target.script(404)  # not retried: a client error from the API is final after 3 retries?
    definition = workflow(
        [
            node(
                "http-client-1",
                "branch",
                success=[node("storage-1")],
                error=[node("storage-2")],
            )
        ],
        {
            "http-client-1": get(url, "manual", status_code_ok="200"),
            "storage-1": step("storage", "set", "1.4", key="path", value="success"),
            "storage-2": step(
                "storage", "set", "1.4", key="path", value="$.errors.http-client-1.message"
            ),
        },
    )
    target.script(404, 404, 404, 404)
    wf = await create(api, definition)
    body = await run(api, wf["id"])
    assert body["status"] == "succeeded", body
    assert steps_named(body, "storage-1") == []
    [error_branch] = steps_named(body, "storage-2")
    assert "404" in error_branch["output"]["value"]


async def test_continue_goes_on_with_the_error_as_output(api, endpoint):
    target, url = endpoint
    target.script(*[500] * 4)
    definition = workflow(
        [node("http-client-1"), node("storage-1")],
        {
            "http-client-1": get(url, "continue"),
            "storage-1": step(
                "storage", "set", "1.4", key="k", value="$.steps.http-client-1.error.kind"
            ),
        },
    )
    wf = await create(api, definition)
    body = await run(api, wf["id"])
    assert body["status"] == "succeeded", body
    assert steps_named(body, "storage-1")[0]["output"] == {"value": "api_error"}


@pytest.mark.parametrize("strategy,expected", [("break_loop", 1), ("continue_loop", 3)])
async def test_loop_strategies(api, endpoint, strategy, expected):
    target, url = endpoint
    # Item 2 fails (every attempt): break stops the loop there, continue skips it.
    definition = workflow(
        [
            node(
                "loop-1",
                "loop",
                _loop=[node("http-client-1"), node("storage-1")],
            )
        ],
        {
            "loop-1": step("loop", "loop_array", "1.3", array=[1, 2, 3, 4]),
            "http-client-1": get(
                url, strategy, query_parameters=[{"key": "n", "value": "$.steps.loop-1.value"}]
            ),
            "storage-1": step(
                "storage", "append_to_list", "1.4", key="done", value="$.steps.loop-1.value"
            ),
        },
    )
    target.script(200, 500, 500, 500, 500)
    wf = await create(api, definition)
    body = await run(api, wf["id"])
    assert body["status"] == "succeeded", body
    done = steps_named(body, "storage-1")
    assert len(done) == expected
    assert done[0]["output"] == {"value": [1]}


async def test_terminate_fails_the_run_with_its_message(api):
    definition = workflow(
        [node("terminate-1"), node("storage-1")],
        {
            "terminate-1": step(
                "terminate", "terminate", status="failure", message="stopped on purpose"
            ),
            "storage-1": step("storage", "set", "1.4", key="k", value=1),
        },
    )
    wf = await create(api, definition)
    body = await run(api, wf["id"])
    assert body["status"] == "failed"
    assert body["error"]["message"] == "stopped on purpose"
    assert steps_named(body, "storage-1") == []


def test_typed_helper_is_tray_shaped():
    assert typed({"a": [1, "$.x"]}) == {
        "type": "object",
        "value": {
            "a": {
                "type": "array",
                "value": [{"type": "integer", "value": 1}, {"type": "jsonpath", "value": "$.x"}],
            }
        },
    }


async def test_steps_use_their_authentication_as_call_connector_does(api, endpoint):
    """The step's authentication goes through the same preparation as Call Connector's:
    one that needs re-authorization is refused without calling the service (an
    authentication error, retried as Tray does), and an unknown one is bad input."""
    from sqlalchemy import update

    from patchbay.connectors.http_client.connector import TOKEN_ENVIRONMENT_ID
    from patchbay.storage.models import Authentication

    target, url = endpoint
    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "t0ken"})
    call = get(url)
    call["authentication"] = auth_id
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    ok = await run(api, wf["id"])
    assert ok["status"] == "succeeded", ok
    assert target.received[0].headers["authorization"] == "Bearer t0ken"

    async with api.platform.db.session() as s, s.begin():
        await s.execute(
            update(Authentication)
            .where(Authentication.id == auth_id)
            .values(status="needs_reauthorization")
        )
    api.platform.authentications.forget()
    refused = await run(api, wf["id"])
    assert refused["status"] == "failed"
    [attempted] = steps_named(refused, "http-client-1")
    assert attempted["error"]["kind"] == "auth_error"
    assert attempted["attempts"] == 4  # the try, a retry at once, then two 20 s apart
    assert len(target.received) == 1  # the service was not called again

    call["authentication"] = "00000000-0000-4000-8000-000000000000"
    wf = await create(api, workflow([node("http-client-1")], {"http-client-1": call}))
    missing = await run(api, wf["id"])
    [attempted] = steps_named(missing, "http-client-1")
    assert attempted["error"]["kind"] == "user_input_error"
    assert attempted["attempts"] == 1
