"""A step's authentication in a workflow: any of the organisation's (an end user's too, not
another organisation's), and ``$.auth`` exposing its fields to the step's mapping, with its
credential values masked in the logged input."""

from __future__ import annotations

from test_error_handling import endpoint, get  # noqa: F401  (a fixture)
from test_workflow_api import create, node, run, step, steps_named, workflow

from patchbay.connectors.http_client.connector import TOKEN_ENVIRONMENT_ID


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
    from patchbay.services.runs import redact

    secrets = frozenset({"abcd", "abcdefgh-token-tail"})
    assert redact({"h": "x abcdefgh-token-tail y abcd"}, secrets) == {
        "h": "x [redacted] y [redacted]"
    }
