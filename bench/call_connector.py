"""Call Connector overhead: Patchbay calling the Slack fake versus calling the fake directly.

Starts the Slack fake and, for each worker count asked for, a Patchbay server (SQLite,
fresh data dir) as separate processes; sets up an end user with a Slack authentication
pointing at the fake; then drives the fake directly and through Patchbay in the same run:

- latency: one request at a time, from an httpx client and from a raw-socket client (the
  same client for both targets, so the difference is what Patchbay adds);
- throughput: N concurrent keep-alive connections for a fixed time, from the raw-socket
  load generator (bench/loadgen.py), cheap enough not to be the bottleneck.

Usage: python bench/call_connector.py [--workers 1,2] [--seconds 10] [--concurrency 32]
Targets (issue #2): at most 1 ms p50 added, at least 1,500 calls/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import loadgen  # noqa: E402

from patchbay.connectors.slack.fake import FakeSlack  # noqa: E402

HOST = "127.0.0.1"
MESSAGE = {"channel": "C0000GENERAL", "text": "bench"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL)


def setup(base: str, token: str, fake_url: str) -> tuple[str, str]:
    """An end user, their token, and their Slack authentication against the fake."""
    master = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as c:
        user = c.post(
            "/core/v1/end-users", json={"name": "Bench", "externalUserId": "bench"}, headers=master
        ).json()
        user_token = c.post(f"/core/v1/end-users/{user['id']}/tokens", headers=master).json()[
            "accessToken"
        ]
        envs = c.get("/core/v1/services/slack/versions/1/environments", headers=master).json()
        env_id = next(e["id"] for e in envs["elements"] if e["authenticationType"] == "token")
        auth = c.post(
            "/core/v1/authentications",
            json={
                "name": "bench slack",
                "serviceEnvironmentId": env_id,
                "credentials": {"access_token": FakeSlack.bot_token},
                "userData": {"base_url": fake_url + "/api"},
            },
            headers={"Authorization": f"Bearer {user_token}"},
        ).json()
    return user_token, auth["id"]


class Target:
    """One thing to drive: the fake itself, or Patchbay calling it."""

    def __init__(self, name, port, path, payload, token, marker) -> None:
        self.name, self.port, self.path, self.payload = name, port, path, payload
        self.headers = {"Authorization": f"Bearer {token}"}
        self.marker = marker
        self.raw = loadgen.build_request(
            "POST",
            f"{HOST}:{port}",
            path,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **self.headers},
        )

    def ok(self, body: bytes) -> bool:
        return self.marker in body


async def sequential_httpx(target: Target, requests: int) -> loadgen.Result:
    result = loadgen.Result()
    url = f"http://{HOST}:{target.port}{target.path}"
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            r = await client.post(url, json=target.payload, headers=target.headers)
            result.latencies.append(time.perf_counter() - t0)
            if r.status_code != 200 or not target.ok(r.content):
                result.errors += 1
        result.elapsed = time.perf_counter() - start
    return result


async def measure(args, direct: Target, via: Target) -> dict:
    for t in (direct, via):  # warm connection pools and caches
        await loadgen.run(HOST, t.port, t.raw, concurrency=4, duration=1.5)
    figures: dict = {}
    for t in (direct, via):
        figures[("httpx", t.name)] = await sequential_httpx(t, args.requests)
        figures[("raw", t.name)] = await loadgen.run(
            HOST, t.port, t.raw, duration=60, max_requests=args.requests, check=t.ok
        )
        figures[("load", t.name)] = await loadgen.run(
            HOST, t.port, t.raw, concurrency=args.concurrency, duration=args.seconds, check=t.ok
        )
    return figures


def run_one(args, workers: int, fake_port: int, token_env: dict) -> dict:
    pb_port = free_port()
    proc = start(
        ["patchbay", "serve", "--port", str(pb_port), "--workers", str(workers)], token_env
    )
    try:
        base = f"http://{HOST}:{pb_port}"
        wait_for(base + "/health")
        user_token, auth_id = setup(base, token_env["TOKEN"], f"http://{HOST}:{fake_port}")
        direct = Target(
            "direct", fake_port, "/api/chat.postMessage", MESSAGE, FakeSlack.bot_token, b'"ok":true'
        )
        via = Target(
            "patchbay",
            pb_port,
            "/core/v1/connectors/slack/versions/1.0/call",
            {"operation": "send_message", "authId": auth_id, "input": MESSAGE},
            user_token,
            b'"outcome":"success"',
        )
        return asyncio.run(measure(args, direct, via))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f}"


def report(args, results: dict[int, dict]) -> dict:
    summary: dict = {}
    for workers, f in results.items():
        print(f"\n== Patchbay with {workers} worker process(es) ==")
        print(f"Latency, one request at a time ({args.requests} each), ms:")
        print(f"  {'client':8} {'target':9} {'p50':>8} {'p99':>8}  errors")
        added = {}
        for client in ("httpx", "raw"):
            for name in ("direct", "patchbay"):
                r = f[(client, name)]
                print(f"  {client:8} {name:9} {ms(r.pct(50))} {ms(r.pct(99))}  {r.errors}")
            d, p = f[(client, "direct")], f[(client, "patchbay")]
            added[client] = (p.pct(50) - d.pct(50), p.pct(99) - d.pct(99))
            a50, a99 = added[client]
            print(f"  {client:8} {'added':9} {ms(a50)} {ms(a99)}")
        print(f"Throughput, {args.concurrency} connections for {args.seconds:g} s:")
        print(f"  {'target':9} {'calls/s':>8} {'p50 ms':>8} {'p99 ms':>8}  errors")
        for name in ("direct", "patchbay"):
            r = f[("load", name)]
            print(f"  {name:9} {r.rate:8.0f} {ms(r.pct(50))} {ms(r.pct(99))}  {r.errors}")
        summary[f"{workers}_worker"] = {
            "added_p50_ms_httpx": round(added["httpx"][0] * 1000, 3),
            "added_p99_ms_httpx": round(added["httpx"][1] * 1000, 3),
            "added_p50_ms_raw": round(added["raw"][0] * 1000, 3),
            "added_p99_ms_raw": round(added["raw"][1] * 1000, 3),
            "calls_per_second": round(f[("load", "patchbay")].rate),
            "fake_alone_per_second": round(f[("load", "direct")].rate),
        }
    print("\nTargets: added p50 <= 1 ms, >= 1500 calls/s.")
    print(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]

    fake_port = free_port()
    fake = start(["patchbay", "fake", "slack", "--port", str(fake_port)], {})
    print(f"Slack fake on {HOST}:{fake_port}; {os.cpu_count()} cores")
    try:
        wait_for(f"http://{HOST}:{fake_port}/api/api.test")
        results = {}
        for workers in worker_counts:
            with tempfile.TemporaryDirectory() as data_dir:
                env = {
                    "PATCHBAY_DATA_DIR": data_dir,
                    "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1",
                    "PATCHBAY_LOG_LEVEL": "warning",
                }
                out = subprocess.run(
                    ["patchbay", "admin", "token", "create", "--create-org"],
                    env={**os.environ, **env},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                env["TOKEN"] = out.stdout.strip().splitlines()[-1]
                results[workers] = run_one(args, workers, fake_port, env)
        report(args, results)
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
