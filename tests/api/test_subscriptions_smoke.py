import json

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber

SEGMENT = {"name": "segment-trigger", "version": "1.0"}


async def test_segment_event_is_delivered(api):
    sub = Subscriber()
    with serve_in_thread(sub.app) as url:
        r = await api.client.post(
            "/core/v1/subscriptions",
            json={
                "name": "s",
                "trigger": SEGMENT,
                "operation": "segment_message",
                "input": {},
                "endpoint": url + "/hook",
            },
            headers=api.master,
        )
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["state"] == "active", created
        intake = created["intakeUrl"].split("://", 1)[1].split("/", 1)[1]
        msg = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}
        r = await api.client.post("/" + intake, content=json.dumps(msg))
        assert r.status_code == 200, r.text
        got = await sub.await_for(1)
        assert got[0].json["messageId"] == "m1"
        assert Subscriber.verified(got[0], created["signingKey"])
