"""The seeds' three scenarios end to end, as ``patchbay demo`` sets them up: Patchbay serving
on a real socket (in a thread of this process), the TMU emulator, Slack, SMTP, Pendo and
deletion-endpoint fakes on loopback ports, the authentications and workflows created
through the API. Assertions are on what the fakes received.

1. A manual run schedules a TMU call; the email that goes out has the call's subject.
2. A call Bob is invited to starts on the TMU emulator, which POSTs its signed webhook to
   the workflow's intake URL over HTTP; Bob gets a Slack direct message with the join URL.
3. Segment messages posted to the workflow's ``triggerUrl``: a ``delete`` reaches the
   deletion endpoint with the internal id from Account storage (an unknown user does not);
   an Engage ``identify`` sets the audience field on the Pendo visitor (an identify without
   the audience property does nothing).

Restarting the demo on the same data directory finds its token, authentications and
workflows again, and the TMU trigger works with the new emulator.
"""

from __future__ import annotations

import socket
import stat
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner

from patchbay.cli.main import cli
from patchbay.config import Settings
from patchbay.connectors.tmu.fake import FakeTMU
from patchbay.demo import Demo
from patchbay.demo.runner import INTERNAL_IDS


@pytest.fixture
def demo_settings(database_url) -> Settings:
    return Settings(
        database_url=database_url,
        worker_poll_seconds=0.05,
        workflow_retry_scale=0.001,
        delivery_backoff_seconds=0.1,
        rate_limit_per_second=10_000,
        rate_limit_burst=10_000,
    )


def start_demo(tmp_path, settings: Settings, lines: list[str]) -> Demo:
    return Demo(
        tmp_path / "demo", port=0, settings=settings, echo=lines.append, watch_seconds=0.05
    ).start()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def final_runs(api: httpx.Client, workflow_id: str, count: int) -> list[dict[str, Any]]:
    def done():
        r = api.get(f"/core/v1/workflows/{workflow_id}/runs", params={"first": 100})
        assert r.status_code == 200, r.text
        runs = r.json()["elements"]
        final = [x for x in runs if x["status"] in ("succeeded", "failed", "cancelled")]
        return runs if len(runs) >= count and len(final) == len(runs) else None

    return wait_for(done, f"{count} runs of {workflow_id}")


def start_call_as_alice(demo: Demo, subject: str, invitees: list[str]) -> dict[str, Any]:
    r = httpx.post(
        demo.urls["tmu"] + "/v1/calls",
        headers={"Authorization": f"Bearer {FakeTMU.alice_token}"},
        json={"subject": subject, "invitees": [{"email": e} for e in invitees]},
    )
    assert r.status_code == 201, r.text
    return r.json()


def slack_message_about(demo: Demo, call: dict[str, Any]) -> dict[str, Any]:
    return wait_for(
        lambda: next((m for m in demo.slack.messages if call["join_url"] in m["text"]), None),
        f"a Slack message about {call['id']}",
    )


def test_the_three_scenarios(tmp_path, demo_settings):
    lines: list[str] = []
    demo = start_demo(tmp_path, demo_settings, lines)
    try:
        with demo.client() as api:
            ids = demo.workflow_ids

            # 1. TMU Schedule Call -> an email whose subject is the call's subject.
            subject = "Quarterly planning – Q3 ✓"
            r = api.post(
                f"/core/v1/workflows/{ids['schedule']}/runs",
                json={
                    "subject": subject,
                    "description": "Plans for the quarter",
                    "start_time": "2031-07-01T09:30",
                    "time_zone": "Europe/Berlin",
                    "invitees": ["bob@example.com"],
                },
            )
            assert r.status_code == 201, r.text
            run = demo.wait_run(api, ids["schedule"], r.json()["id"])
            assert run["status"] == "succeeded", run
            [call] = demo.tmu.calls.values()
            assert call.status == "scheduled" and call.host_id == "usr_alice"
            assert call.start_time.isoformat() == "2031-07-01T07:30:00+00:00"
            [email] = demo.smtp.messages
            assert email.message["Subject"] == call.subject == subject
            assert email.rcpt_tos == ["alice@example.com"]  # the call's host
            assert demo.tmu.call_to_api(call)["join_url"] in email.message.get_content()
            scheduled = next(s for s in run["steps"] if s["step"] == "tmu-1")["output"]
            assert scheduled["subject"] == subject and scheduled["id"] == call.id

            # 2. A call Bob is invited to starts -> Bob gets a Slack message linking to it.
            started = start_call_as_alice(demo, "Design review", ["bob@example.com"])
            message = slack_message_about(demo, started)
            assert message["channel"] == "D0BOB"  # a direct message to U0BOB
            assert "Design review" in message["text"]
            [slack_run] = final_runs(api, ids["call_started"], 1)
            assert slack_run["status"] == "succeeded", slack_run
            assert slack_run["trigger"] == "tmu-trigger"
            detail = demo.wait_run(api, ids["call_started"], slack_run["id"])
            send = next(s for s in detail["steps"] if s["step"] == "slack-2")
            assert send["input"]["channel"] == "U0BOB"  # found by bob@example.com
            assert list(demo.slack.messages) == [message]

            # 3. Segment: delete -> storage lookup -> deletion endpoint; identify -> Pendo.
            got = api.get(f"/core/v1/workflows/{ids['segment']}").json()
            intake = got["triggerUrl"]
            assert intake == demo.segment_url and "/intake/" in intake
            assert not demo.pendo.visitors["visitor-005"].metadata["custom"]["beta_tester"]
            messages = [
                {
                    "type": "delete",
                    "userID": "ada@example.com",  # as Segment's Tray page spells it
                    "messageId": "m-delete-1",
                    "timestamp": "2025-03-01T10:00:00Z",
                },
                {"type": "delete", "userId": "nobody@example.com", "messageId": "m-delete-2"},
                {
                    "type": "identify",
                    "userId": "visitor-005",
                    "messageId": "m-identify-1",
                    "traits": {"beta_tester": True},
                },
                {
                    "type": "identify",
                    "userId": "visitor-006",
                    "messageId": "m-identify-2",
                    "traits": {"plan": "pro"},
                },
                {"type": "track", "userId": "visitor-006", "messageId": "m-track-1"},
            ]
            for body in messages:
                r = httpx.post(intake, json=body, headers={"User-Agent": "Segment.io/1.0"})
                assert r.status_code == 200, r.text
            runs = final_runs(api, ids["segment"], 4)
            assert len(runs) == 4  # the track message is not among the trigger's types
            assert all(r["status"] == "succeeded" for r in runs), runs

            deletions = wait_for(lambda: demo.deletions.to_json(), "the deletion request")
            assert [
                (d["internal_id"], d["segment_user_id"], d["requested_at"]) for d in deletions
            ] == [(INTERNAL_IDS["ada@example.com"], "ada@example.com", "2025-03-01T10:00:00Z")]
            updates = demo.inbox()["pendo_updates"]
            assert updates == [
                {
                    "object_type": "visitor",
                    "metadata_kind": "custom",
                    "objects": [{"visitorId": "visitor-005", "values": {"beta_tester": True}}],
                }
            ]
            assert demo.pendo.visitors["visitor-005"].metadata["custom"]["beta_tester"] is True

            # The demo printed each arrival and each run's end as it happened.
            def printed():
                kinds = {line.split("]")[0] + "]" for line in lines}
                wanted = {"[email]", "[slack]", "[pendo]", "[deletion]", "[run]"}
                return wanted <= kinds

            wait_for(printed, "the demo's lines")
            assert any(f"'{subject}'" in line for line in lines if line.startswith("[email]"))
            assert not any("failed" in line for line in lines), lines
            inbox = httpx.get(demo.urls["service"] + "/inbox").json()
            assert [e["subject"] for e in inbox["emails"]] == [subject]
            assert [d["internal_id"] for d in inbox["deletions"]] == ["cus_000101"]
    finally:
        demo.stop()


def test_a_restart_finds_and_reuses_its_set_up(tmp_path, demo_settings):
    first = start_demo(tmp_path, demo_settings, [])
    try:
        before = (first.token, dict(first.auth_ids), dict(first.workflow_ids), first.segment_url)
        # The directory holds a master token (demo.json): its owner's alone, out of git.
        assert stat.S_IMODE((tmp_path / "demo").stat().st_mode) == 0o700
        assert (tmp_path / "demo" / ".gitignore").read_text().splitlines()[-1] == "*"
        # Again on the same ports, as `patchbay demo --port P` does.
        port = urlsplit(first.url).port
        fake_ports = {name: urlsplit(url).port for name, url in first.urls.items()}
    finally:
        first.stop()

    second = Demo(
        tmp_path / "demo", port=port, fake_ports=fake_ports, settings=demo_settings, echo=None
    ).start()
    try:
        after = (second.token, second.auth_ids, second.workflow_ids, second.segment_url)
        assert after == before  # the same token, authentications, workflows, intake URL
        with second.client() as api:
            listed = api.get("/core/v1/workflows", params={"first": 100}).json()["elements"]
            assert sorted(w["id"] for w in listed) == sorted(before[2].values())
            assert all(w["enabled"] for w in listed)
            for workflow_id in before[2].values():  # nothing changed: no new version
                versions = api.get(f"/core/v1/workflows/{workflow_id}/versions").json()
                assert [v["version"] for v in versions["elements"]] == [1]
            # The Account map was written again, not duplicated: the lookup still works.
            started = start_call_as_alice(second, "After the restart", ["bob@example.com"])
            assert slack_message_about(second, started)["channel"] == "D0BOB"
            r = httpx.post(second.segment_url, json={"type": "delete", "userId": "visitor-002"})
            assert r.status_code == 200, r.text
            deletions = wait_for(lambda: second.deletions.to_json(), "the deletion request")
            assert deletions[0]["internal_id"] == INTERNAL_IDS["visitor-002"]
    finally:
        second.stop()


def test_the_demo_command_refuses_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["--data-dir", str(tmp_path / "demo"), "demo", "--port", str(port)]
        )
    assert result.exit_code == 1, result.output
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "demo").exists()
