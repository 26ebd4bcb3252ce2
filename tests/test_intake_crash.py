"""A real ``patchbay serve`` is SIGKILLed while Segment messages arrive and are delivered;
after a restart every acknowledged message reaches the subscriber, none twice.

The sender behaves as Segment does: it sends messages from a few connections at once and
sends again any message that was not acknowledged with a 2xx (refused connection, reset,
5xx), with the same ``messageId``. Delivery is at least once with a stable
``x-patchbay-event-id``: an event whose delivery was answered by the subscriber in the
instant before the kill (at most one per subscription, since a subscription's events go one
at a time) may come again with the same event id, for the receiver to drop; the test allows
exactly that and nothing more.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import ServerProcess
from patchbay.testing.subscriber import Subscriber

MESSAGES = 400
SENDERS = 4


class Sender:
    """Posts messages 0..n-1 from a few threads, retrying each until it is acknowledged."""

    def __init__(self, url: str, n: int) -> None:
        self.url = url
        self.todo = list(range(n))
        self.acked: set[str] = set()
        self.attempts = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout)

    def _next(self) -> int | None:
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while (n := self._next()) is not None:
                message_id = f"msg-{n:05d}"
                body = {"type": "track", "messageId": message_id, "userId": "u", "event": "E"}
                while True:
                    with self.lock:
                        self.attempts += 1
                    try:
                        r = client.post(self.url, json=body)
                        if 200 <= r.status_code < 300:
                            with self.lock:
                                self.acked.add(message_id)
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.05)  # Segment backs off and sends the same message again


def test_sigkill_loses_no_acknowledged_event(tmp_path, database_url):
    env = {
        "PATCHBAY_DATABASE_URL": database_url,
        "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32",
        "PATCHBAY_WORKER_LEASE_SECONDS": "2",
        "PATCHBAY_WORKER_POLL_SECONDS": "0.1",
        "PATCHBAY_DELIVERY_BACKOFF_SECONDS": "0.1",
    }
    subscriber = Subscriber()
    subscriber.script(*[(200, {}, 0.01)] * MESSAGES)  # a slowish endpoint: a queue builds
    server = ServerProcess(tmp_path / "data", env=env)
    try:
        server.wait_healthy()
        [token] = server.tokens()
        with serve_in_thread(subscriber.app) as hook:
            r = httpx.post(
                f"{server.url}/core/v1/subscriptions",
                json={
                    "name": "crash",
                    "trigger": {"name": "segment-trigger", "version": "1.0"},
                    "operation": "segment_message",
                    "input": {},
                    "endpoint": hook + "/events",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            intake_url = r.json()["intakeUrl"]
            sender = Sender(intake_url, MESSAGES)
            sender.start()

            # Kill while messages arrive and deliveries are under way.
            deadline = time.monotonic() + 60
            while len(sender.acked) < MESSAGES // 3 or not subscriber.accepted:
                assert time.monotonic() < deadline, "no traffic before the kill"
                time.sleep(0.01)
            acked_before_kill = len(sender.acked)
            server.kill()
            time.sleep(0.5)  # the sender meets a dead server meanwhile
            server.start()
            server.wait_healthy()

            sender.join(timeout=90)
            assert len(sender.acked) == MESSAGES, len(sender.acked)
            accepted = subscriber.wait_for(MESSAGES, timeout=90)
            time.sleep(1.0)  # anything delivered twice would show up now
            accepted = subscriber.accepted
    finally:
        server.stop()

    assert acked_before_kill < MESSAGES  # the kill happened mid-stream
    by_message = {}
    for delivery in accepted:
        message_id = delivery.json["messageId"]
        by_message.setdefault(message_id, set()).add(delivery.event_id)
    # Every acknowledged message was delivered, as exactly one event.
    assert set(by_message) == sender.acked
    assert all(len(ids) == 1 for ids in by_message.values()), by_message
    # At most the one event in flight at the kill came twice, with the same event id.
    repeats = sum(c - 1 for c in Counter(d.event_id for d in accepted).values())
    assert repeats <= 1, repeats
