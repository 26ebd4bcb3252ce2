"""Event intake: acknowledged Segment messages per second, and acknowledge latency.

For each configuration asked for (worker processes x database), starts a fresh
``patchbay serve`` (durability on: every acknowledged message was committed first) and a
subscriber endpoint in its own process, subscribes to the Segment trigger with a shared
secret, then drives the intake URL with signed Segment ``track`` messages, each with its own
``messageId``, from the raw-socket load generator (bench/loadgen.py) over N keep-alive
connections for a fixed time. Delivery to the subscriber runs meanwhile, as in production.

Prints, side by side: acknowledged events/s, p50/p99/max acknowledge latency, non-2xx
answers, and how long delivery took to catch up after the load stopped (every event counted
at the subscriber).

Usage: python bench/intake.py [--workers 1,2] [--seconds 10] [--concurrency 32]
                              [--postgres postgresql://postgres@127.0.0.1:5432/test]
Target (issue #4): at least 2,000 events/s with p99 under 25 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import configs  # noqa: E402
import loadgen  # noqa: E402
from configs import ms  # noqa: E402

from patchbay.testing.process import ServerProcess, free_port  # noqa: E402

HOST = "127.0.0.1"
SECRET = "bench-shared-secret"
EXTRA_ENV: dict = {}
SINK = r"""
import sys, uvicorn
count = 0
async def app(scope, receive, send):
    global count
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["method"] == "POST":
        count += 1
        body = b"{}"
    else:
        body = str(count).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def message_factory(host: str, path: str):
    counter = itertools.count()
    run = uuid.uuid4().hex[:8]

    def make() -> bytes:
        n = next(counter)
        body = json.dumps(
            {
                "type": "track",
                "messageId": f"{run}-{n}",
                "userId": f"user-{n % 1000}",
                "event": "Item Purchased",
                "properties": {"sku": n, "price": 19.99},
                "timestamp": "2026-12-01T10:00:00.000Z",
            }
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Segment.io/1.0",
            "X-Signature": signature,
        }
        return loadgen.build_request("POST", host, path, body, headers)

    return make


def delivered(sink_port: int) -> int:
    return int(httpx.get(f"http://{HOST}:{sink_port}/count", timeout=5).text)


def run_one(args, workers: int, database: str) -> dict:
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    env = {"PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32", "PATCHBAY_LOG_LEVEL": "warning", **EXTRA_ENV}
    if database != "sqlite":
        env["PATCHBAY_DATABASE_URL"] = configs.fresh_postgres(args.postgres)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "data", "--workers", str(workers), env=configs.server_env(args, **env)
        )
        try:
            server.wait_healthy()
            [token] = server.tokens()
            r = httpx.post(
                f"{server.url}/core/v1/subscriptions",
                json={
                    "name": "bench",
                    "trigger": {"name": "segment-trigger", "version": "1.0"},
                    "operation": "segment_message",
                    "input": {"shared_secret": SECRET},
                    "endpoint": f"http://{HOST}:{sink_port}/events",
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            r.raise_for_status()
            path = "/" + r.json()["intakeUrl"].split("/", 3)[3]
            make = message_factory(f"{HOST}:{server.port}", path)
            ok = lambda body: b'"ok":true' in body  # noqa: E731
            warm = asyncio.run(
                loadgen.run(HOST, server.port, make, concurrency=4, duration=1.5, check=ok)
            )
            load = asyncio.run(
                loadgen.run(
                    HOST,
                    server.port,
                    make,
                    concurrency=args.concurrency,
                    duration=args.seconds,
                    check=ok,
                )
            )
            stopped = time.perf_counter()
            expected = warm.count - warm.errors + load.count - load.errors
            caught_up = None
            while time.perf_counter() - stopped < args.drain:
                if delivered(sink_port) >= expected:
                    caught_up = time.perf_counter() - stopped
                    break
                time.sleep(0.1)
            return {
                "load": load,
                "expected": expected,
                "delivered": delivered(sink_port),
                "caught_up": caught_up,
            }
        finally:
            server.stop()
            sink.terminate()
            sink.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--drain", type=float, default=120.0, help="max wait for delivery")
    configs.add_arguments(ap)
    args = ap.parse_args()
    runs = configs.configurations(args)
    results = {c: run_one(args, *c) for c in runs}

    names = [f"{w} worker{'s' if w > 1 else ''}, {db}" for w, db in runs]
    rows = [
        ("acknowledged events/s", lambda r: f"{r['load'].rate:,.0f}"),
        ("ack latency p50", lambda r: ms(r["load"].pct(50))),
        ("ack latency p99", lambda r: ms(r["load"].pct(99))),
        ("ack latency max", lambda r: ms(max(r["load"].latencies))),
        ("non-2xx / bad answers", lambda r: str(r["load"].errors)),
        ("events delivered", lambda r: f"{r['delivered']:,} of {r['expected']:,}"),
        (
            "delivery caught up after",
            lambda r: f"{r['caught_up']:.1f} s" if r["caught_up"] is not None else "not yet",
        ),
    ]
    width = max(len(n) for n in names) + 2
    print(f"\nIntake: signed Segment messages, {args.concurrency} connections, {args.seconds:g} s")
    print(f"{'':26}" + "".join(f"{n:>{width}}" for n in names))
    for label, fn in rows:
        print(f"{label:26}" + "".join(f"{fn(results[c]):>{width}}" for c in runs))
    print("\nTarget: >= 2,000 events/s, p99 < 25 ms")


if __name__ == "__main__":
    main()
