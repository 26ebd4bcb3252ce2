"""Call Connector overhead: Patchbay calling the Slack fake versus calling the fake directly.

Starts the Slack fake and a Patchbay server (SQLite, fresh data dir) as separate processes,
sets up an end user with a Slack authentication pointing at the fake, then drives both
targets with the same load generator:

- latency: one request at a time; Patchbay's added p50/p99 = its figure minus the direct one;
- throughput: N concurrent keep-alive connections for a fixed time.

Usage: python bench/call_connector.py [--seconds 10] [--concurrency 32] [--requests 2000]
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
            "/core/v1/users", json={"name": "Bench", "externalUserId": "bench"}, headers=master
        ).json()
        user_token = c.post(f"/core/v1/users/{user['id']}/tokens", headers=master).json()[
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


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


async def measure(args, pb_port: int, fake_port: int, user_token: str, auth_id: str):
    message = {"channel": "C0000GENERAL", "text": "bench"}
    direct = loadgen.build_request(
        "POST",
        f"{HOST}:{fake_port}",
        "/api/chat.postMessage",
        json.dumps(message).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {FakeSlack.bot_token}"},
    )
    via = loadgen.build_request(
        "POST",
        f"{HOST}:{pb_port}",
        "/core/v1/connectors/slack/versions/1.0/call",
        json.dumps({"operation": "send_message", "authId": auth_id, "input": message}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {user_token}"},
    )
    ok_direct = lambda body: b'"ok":true' in body  # noqa: E731
    ok_via = lambda body: b'"outcome":"success"' in body  # noqa: E731
    # Warm up both paths (connection pools, caches).
    await loadgen.run(HOST, fake_port, direct, concurrency=4, duration=1.5)
    await loadgen.run(HOST, pb_port, via, concurrency=4, duration=1.5)

    seq = {}
    for name, port, req, check in (
        ("direct", fake_port, direct, ok_direct),
        ("patchbay", pb_port, via, ok_via),
    ):
        seq[name] = await loadgen.run(
            HOST, port, req, concurrency=1, duration=60, max_requests=args.requests, check=check
        )
    conc = {}
    for name, port, req, check in (
        ("direct", fake_port, direct, ok_direct),
        ("patchbay", pb_port, via, ok_via),
    ):
        conc[name] = await loadgen.run(
            HOST, port, req, concurrency=args.concurrency, duration=args.seconds, check=check
        )
    return seq, conc


def report(seq, conc, args) -> dict:
    d, p = seq["direct"], seq["patchbay"]
    added50 = p.pct(50) - d.pct(50)
    added99 = p.pct(99) - d.pct(99)
    print(f"\nLatency, one request at a time ({args.requests} requests each):")
    print(f"  {'':10} {'p50':>10} {'p99':>10} {'errors':>7}")
    print(f"  {'direct':10} {fmt_ms(d.pct(50))} {fmt_ms(d.pct(99))} {d.errors:7}")
    print(f"  {'patchbay':10} {fmt_ms(p.pct(50))} {fmt_ms(p.pct(99))} {p.errors:7}")
    print(f"  added by Patchbay: p50 {fmt_ms(added50)}, p99 {fmt_ms(added99)}")
    print(f"\nThroughput, {args.concurrency} connections for {args.seconds:g} s:")
    print(f"  {'':10} {'calls/s':>9} {'p50':>10} {'p99':>10} {'errors':>7}")
    for name in ("direct", "patchbay"):
        r = conc[name]
        print(f"  {name:10} {r.rate:9.0f} {fmt_ms(r.pct(50))} {fmt_ms(r.pct(99))} {r.errors:7}")
    ratio = conc["patchbay"].rate / conc["direct"].rate if conc["direct"].rate else 0
    print(f"  Patchbay reaches {ratio:.0%} of the fake's own rate")
    verdict = {
        "added_p50_ms": round(added50 * 1000, 3),
        "added_p99_ms": round(added99 * 1000, 3),
        "calls_per_second": round(conc["patchbay"].rate),
        "target_added_p50_ms": 1.0,
        "target_calls_per_second": 1500,
    }
    print("\n" + json.dumps(verdict))
    return verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()

    fake_port, pb_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            "PATCHBAY_DATA_DIR": data_dir,
            "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1",
            "PATCHBAY_LOG_LEVEL": "warning",
        }
        out = subprocess.run(
            ["patchbay", "admin", "token", "create", "--name", "bench"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        token = out.stdout.strip().splitlines()[-1]
        procs = [
            start(["patchbay", "fake", "slack", "--port", str(fake_port)], {}),
            start(["patchbay", "serve", "--port", str(pb_port)], env),
        ]
        try:
            fake_url = f"http://{HOST}:{fake_port}"
            base = f"http://{HOST}:{pb_port}"
            wait_for(fake_url + "/api/api.test")
            wait_for(base + "/health")
            user_token, auth_id = setup(base, token, fake_url)
            print(f"Patchbay {base} -> Slack fake {fake_url} ({os.cpu_count()} cores)")
            seq, conc = asyncio.run(measure(args, pb_port, fake_port, user_token, auth_id))
            report(seq, conc, args)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)


if __name__ == "__main__":
    main()
