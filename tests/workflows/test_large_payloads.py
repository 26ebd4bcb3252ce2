"""Large values by reference: webhook bodies and step outputs over the inline threshold are
stored once (payload store, in the database) and carried as ``{"$payload": ...}``
references; steps that take references stream them (HTTP client, data mapper), a path
going into one reads it, other steps receive the value. The memory bound with a 50 MB body
is in test_large_payload_memory.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import func, select, update
from test_replies_and_calls import enable, hook_path, webhook_trigger
from test_workflow_api import create, node, run, step, steps_named, wait_run, workflow

from patchbay.storage.models import Payload, PayloadChunk, utcnow
from patchbay.testing.fakeserver import serve_in_thread

INLINE = 4096


@pytest.fixture
async def api(settings, make_api):
    small = settings.model_copy(
        update={
            "workflow_retry_scale": 0.001,
            "worker_poll_seconds": 0.05,
            "workflow_inline_bytes": INLINE,
            "workflow_max_body_bytes": 3 * 1024 * 1024,
        }
    )
    async with make_api(small) as running:
        yield running


class Sink:
    """A loopback service: POST /upload hashes what it receives (streamed), GET /big answers
    a large JSON document."""

    def __init__(self) -> None:
        self.uploads: list[dict] = []
        self.big = {"items": [{"n": i, "text": "x" * 50} for i in range(2000)]}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        if scope["path"] == "/moved":  # sent again, whole, to /upload
            location = (b"location", b"/upload")
            await send({"type": "http.response.start", "status": 307, "headers": [location]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/upload":
            digest, size, pieces = hashlib.sha256(), 0, 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                digest.update(chunk)
                size += len(chunk)
                pieces += 1
                if not message.get("more_body"):
                    break
            self.uploads.append(
                {
                    "sha256": digest.hexdigest(),
                    "size": size,
                    "content_type": headers.get(b"content-type", b"").decode(),
                    "content_length": headers.get(b"content-length", b"").decode(),
                }
            )
            body, ctype = b'{"ok":true}', b"application/json"
        else:
            body, ctype = orjson.dumps(self.big), b"application/json"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]}
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def sink():
    app = Sink()
    with serve_in_thread(app) as url:
        app.url = url
        yield app


def big_body(n: int = 3000) -> dict:
    return {"items": [{"name": f"item-{i}", "pad": "y" * 40} for i in range(n)]}


def mover() -> dict:
    """A data-mapper step moving the trigger's body to ``result.payload``."""
    return step(
        "data-mapper",
        "map_values",
        value="$.steps.trigger",
        mappings=[{"from": "body", "to": "payload"}],
    )


def pipeline(sink_url: str) -> dict:
    """webhook -> data-mapper (moves the body) -> HTTP POST of it -> a step reading into it."""
    definition = workflow(
        [node("data-mapper-1"), node("http-client-1"), node("text-helpers-1")],
        {
            "data-mapper-1": mover(),
            "http-client-1": step(
                "http-client",
                "post_request",
                "5.6",
                url=f"{sink_url}/moved",
                body={"json": "$.steps.data-mapper-1.result.payload"},
            ),
            "text-helpers-1": step(
                "text-helpers",
                "change_case",
                "3.0",
                text="{$.steps.trigger.body.items[2].name}",
                case="upper",
            ),
        },
    )
    definition["steps"]["trigger"] = webhook_trigger()
    return definition


async def pipeline_run(api, sink) -> tuple[dict, dict]:
    """The pipeline's workflow, enabled, and its finished run of a large JSON body."""
    wf = await create(api, pipeline(sink.url))
    await enable(api, wf["id"])
    r = await api.client.post(
        hook_path(wf),
        content=orjson.dumps(big_body()),
        headers={"content-type": "application/json"},
    )
    return wf, await wait_run(api, wf["id"], r.json()["runId"])


async def test_a_large_webhook_body_flows_by_reference(api, sink):
    wf = await create(api, pipeline(sink.url))
    await enable(api, wf["id"])
    raw = orjson.dumps(big_body())
    assert len(raw) > INLINE * 20
    r = await api.client.post(
        hook_path(wf), content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 202, r.text
    done = await wait_run(api, wf["id"], r.json()["runId"])
    assert done["status"] == "succeeded", done

    mapper = steps_named(done, "data-mapper-1")[0]
    ref = mapper["input"]["value"]["body"]
    assert ref["$payload"] and ref["size"] == len(raw)
    assert ref["contentType"] == "application/json" and ref["encoding"] == "json"
    # moved whole: the output holds the same reference, not the value
    assert mapper["output"]["result"]["payload"] == ref

    # streamed to the service byte for byte, with its length and JSON content type (and
    # streamed again after a 307 redirect)
    (upload,) = sink.uploads
    assert upload["sha256"] == hashlib.sha256(raw).hexdigest()
    assert upload["size"] == len(raw) and upload["content_length"] == str(len(raw))
    assert upload["content_type"] == "application/json"
    assert steps_named(done, "http-client-1")[0]["input"]["body"]["json"] == ref

    # a path going into the payload reads it
    assert steps_named(done, "text-helpers-1")[0]["output"]["result"] == "ITEM-2"

    # and the API hands the stored bytes back
    url = f"/core/v1/workflows/{wf['id']}/runs/{done['id']}/payloads/{ref['$payload']}"
    got = await api.client.get(url, headers=api.master)
    assert got.status_code == 200
    assert got.content == raw and got.headers["content-type"] == "application/json"


async def test_a_large_text_body_is_stored_as_text_and_read_as_a_string(api):
    definition = workflow(
        [node("text-helpers-1")],
        {
            "text-helpers-1": step(
                "text-helpers", "change_case", "3.0", text="$.steps.trigger.body", case="upper"
            )
        },
    )
    definition["steps"]["trigger"] = webhook_trigger()
    wf = await create(api, definition)
    await enable(api, wf["id"])
    text = "line of text\n" * 1000
    r = await api.client.post(hook_path(wf), content=text, headers={"content-type": "text/plain"})
    assert r.status_code == 202, r.text
    done = await wait_run(api, wf["id"], r.json()["runId"])
    assert done["status"] == "succeeded", done
    step_log = steps_named(done, "text-helpers-1")[0]
    assert step_log["input"]["text"]["encoding"] == "text"  # the log keeps the reference
    out = step_log["output"]
    assert set(out) == {"$payload", "size", "contentType", "encoding"}  # itself stored
    got = await api.client.get(
        f"/core/v1/workflows/{wf['id']}/runs/{done['id']}/payloads/{out['$payload']}",
        headers=api.master,
    )
    assert orjson.loads(got.content) == {"result": text.upper()}


async def test_a_large_step_output_is_journaled_by_reference_and_read_through(api, sink):
    definition = workflow(
        [node("http-client-1"), node("list-helpers-1")],
        {
            "http-client-1": step("http-client", "get_request", url=f"{sink.url}/big"),
            "list-helpers-1": step(
                "list-helpers",
                "get_item",
                "2.0",
                list="$.steps.http-client-1.response.body.items",
                index=1999,
            ),
        },
    )
    wf = await create(api, definition)
    done = await run(api, wf["id"])
    assert done["status"] == "succeeded", done
    http = steps_named(done, "http-client-1")[0]["output"]["response"]
    assert http["status_code"] == 200
    ref = http["body"]
    assert ref["encoding"] == "json" and ref["size"] == len(orjson.dumps(sink.big))
    assert steps_named(done, "list-helpers-1")[0]["output"]["result"] == sink.big["items"][1999]


async def test_await_and_respond_replies_with_a_stored_body(api):
    definition = workflow(
        [node("trigger-reply-1")],
        {"trigger-reply-1": step("trigger-reply", "trigger_reply", body="$.steps.trigger.body")},
    )
    definition["steps"]["trigger"] = webhook_trigger(mode="await_response")
    wf = await create(api, definition)
    await enable(api, wf["id"])
    raw = orjson.dumps(big_body(500))
    r = await api.client.post(
        hook_path(wf), content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.content == raw and r.headers["content-type"] == "application/json"


async def _webhook_only(api) -> dict:
    """An enabled workflow with a webhook trigger and no step."""
    definition = workflow([], {})
    definition["steps"]["trigger"] = webhook_trigger()
    wf = await create(api, definition)
    await enable(api, wf["id"])
    return wf


async def _assert_nothing_kept(api, wf) -> None:
    """No payload (or piece of one) stored, no run started."""
    async with api.platform.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Payload)) == 0
        assert await s.scalar(select(func.count()).select_from(PayloadChunk)) == 0
    r = await api.client.get(f"/core/v1/workflows/{wf['id']}/runs", headers=api.master)
    assert r.json()["elements"] == []


async def test_a_body_over_the_limit_is_refused_and_nothing_is_kept(api):
    wf = await _webhook_only(api)
    too_big = b"z" * (3 * 1024 * 1024 + 1)
    r = await api.client.post(hook_path(wf), content=too_big)
    api.expect_error(r, 413, "payload_too_large")

    async def chunks():  # no Content-Length: refused while streaming
        for _ in range(4):
            yield b"z" * (1024 * 1024)

    r = await api.client.post(hook_path(wf), content=chunks())
    api.expect_error(r, 413, "payload_too_large")
    await _assert_nothing_kept(api, wf)


async def test_a_large_body_to_an_unknown_hook_is_404(api):
    r = await api.client.post("/hooks/" + "a" * 32, content=b"q" * (INLINE * 4))
    api.expect_error(r, 404, "not_found")


async def test_another_organisations_payload_cannot_be_read(api, sink):
    wf, done = await pipeline_run(api, sink)
    ref = steps_named(done, "data-mapper-1")[0]["input"]["value"]["body"]

    _, other = await api.other_org()
    reader = workflow(
        [node("text-helpers-1")],
        {
            "text-helpers-1": step(
                "text-helpers", "change_case", "3.0", text="{$.steps.trigger.stolen}", case="upper"
            )
        },
    )
    r = await api.client.post("/core/v1/workflows", json=reader, headers=other)
    theirs = r.json()
    r = await api.client.post(
        f"/core/v1/workflows/{theirs['id']}/runs", json={"stolen": ref}, headers=other
    )
    failed = await wait_run(api, theirs["id"], r.json()["id"], headers=other)
    assert failed["status"] == "failed"
    assert failed["error"]["kind"] == "user_input_error"
    assert f"Stored payload {ref['$payload']} not found" in failed["error"]["message"]
    # nor downloaded through one of their runs, nor through ours with their token
    r = await api.client.get(
        f"/core/v1/workflows/{theirs['id']}/runs/{failed['id']}/payloads/{ref['$payload']}",
        headers=other,
    )
    api.expect_error(r, 404, "payload_not_found")
    r = await api.client.get(
        f"/core/v1/workflows/{wf['id']}/runs/{done['id']}/payloads/{ref['$payload']}",
        headers=other,
    )
    assert r.status_code == 404


async def test_payloads_go_with_their_runs(api, sink):
    await pipeline_run(api, sink)
    payloads = api.platform.runs.payloads
    abandoned = Payload(org_id="o", run_id="gone", complete=False)
    async with api.platform.db.session() as s, s.begin():
        s.add(abandoned)
    async with api.platform.db.session() as s, s.begin():
        await s.execute(update(Payload).values(created_at=utcnow() - timedelta(hours=2)))
    assert await payloads.prune() == 1  # the abandoned upload; the run's payload stays
    removed = await api.platform.runs.prune(utcnow() + timedelta(seconds=1))
    assert removed == 1
    async with api.platform.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Payload)) == 0
        assert await s.scalar(select(func.count()).select_from(PayloadChunk)) == 0


async def test_a_run_resumed_after_a_delay_replays_large_outputs_as_their_values(api):
    """The loop step's output (its items) is journaled by reference; when the run resumes
    after a durable delay the interpreter replays from the top and gets the items back."""
    items = [f"item-{i:04d}-" + "z" * 30 for i in range(300)]
    definition = workflow(
        [
            node("loop-1", "loop", _loop=[node("text-helpers-1")]),
            node("delay-1"),
            node("list-helpers-1"),
        ],
        {
            "loop-1": step("loop", "loop_array", "1.3", array="$.steps.trigger.items"),
            "text-helpers-1": step(
                "text-helpers", "change_case", "3.0", text="$.steps.loop-1.value", case="upper"
            ),
            "delay-1": step("delay", "delay", amount=0.2, unit="seconds"),
            "list-helpers-1": step("list-helpers", "length", "2.0", list="$.steps.trigger.items"),
        },
    )
    wf = await create(api, definition)
    done = await run(api, wf["id"], {"items": items})
    assert done["status"] == "succeeded", done["error"]
    loop_log = steps_named(done, "loop-1")[0]
    assert "$payload" in loop_log["output"]  # journaled by reference
    assert len(steps_named(done, "text-helpers-1")) == 300  # not run again on resumption
    assert steps_named(done, "list-helpers-1")[0]["output"]["result"] == 300


async def test_unknown_or_malformed_payload_references(api, sink):
    wf, done = await pipeline_run(api, sink)
    base = f"/core/v1/workflows/{wf['id']}/runs"
    r = await api.client.get(f"{base}/{done['id']}/payloads/no-such-payload", headers=api.master)
    api.expect_error(r, 404, "payload_not_found")
    ref = steps_named(done, "data-mapper-1")[0]["input"]["value"]["body"]
    r = await api.client.get(f"{base}/no-such-run/payloads/{ref['$payload']}", headers=api.master)
    api.expect_error(r, 404, "run_not_found")

    reader = workflow(
        [node("text-helpers-1")],
        {
            "text-helpers-1": step(
                "text-helpers", "change_case", "3.0", text="{$.steps.trigger.x}", case="upper"
            )
        },
    )
    mine = await create(api, reader)
    for bad in ({"$payload": 5}, {"$payload": "missing"}):
        failed = await run(api, mine["id"], {"x": bad})
        assert failed["status"] == "failed"
        assert failed["error"]["kind"] == "user_input_error"
        assert "Stored payload" in failed["error"]["message"]


async def test_a_large_malformed_json_body_is_refused_like_a_small_one(api):
    """Checked as it streams in: 400 ``invalid_json`` as for a small body, no run started,
    nothing kept."""
    wf = await _webhook_only(api)
    good = orjson.dumps({"items": ["x" * 100] * (INLINE // 50)})
    json_type = {"content-type": "application/json"}
    for bad, reason in (
        (good[:-1], "premature EOF"),  # cut short
        (good + b"]", "trailing garbage"),
        (good[:-1] + b",}", "invalid object key"),
    ):
        r = await api.client.post(hook_path(wf), content=bad, headers=json_type)
        message = api.expect_error(r, 400, "invalid_json")["message"]
        assert message.startswith("The body is not valid JSON: ") and reason in message
        small = await api.client.post(hook_path(wf), content=b"{", headers=json_type)
        api.expect_error(small, 400, "invalid_json")
    await _assert_nothing_kept(api, wf)
    r = await api.client.post(hook_path(wf), content=good, headers=json_type)
    assert r.status_code == 202, r.text  # the same body, whole, is taken


async def test_a_large_body_nested_too_deeply_is_refused_like_a_small_one(api):
    """The depth limit a small body meets (orjson's 1,024 levels) applies while a large
    one streams: 400 ``invalid_json``, no run started; 1,024 levels are taken."""
    wf = await _webhook_only(api)
    json_type = {"content-type": "application/json"}
    padding = b'"' + b"x" * INLINE + b'"'  # over the inline size: streamed

    def nested(depth: int) -> bytes:
        return b'{"a":' * depth + padding + b"}" * depth

    for body in (nested(100_000), b"[" * 1025 + b"]" * 1025):
        r = await api.client.post(hook_path(wf), content=body, headers=json_type)
        message = api.expect_error(r, 400, "invalid_json")["message"]
        assert "depth limit exceeded" in message
    await _assert_nothing_kept(api, wf)
    r = await api.client.post(hook_path(wf), content=nested(1024), headers=json_type)
    assert r.status_code == 202, r.text
