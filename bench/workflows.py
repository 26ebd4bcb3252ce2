"""Workflow executions: a webhook-triggered workflow with one data-mapping step, end to end.

For each configuration asked for (worker processes x database), starts a fresh
``patchbay serve`` (fresh data dir; SQLite, or a fresh PostgreSQL database with
``--postgres``), creates a workflow ``webhook trigger -> one data-mapping step`` and enables
it. The step is the ``data-mapper`` connector's ``map_values`` when the server has it
(``GET /core/v1/connectors``), else ``object-helpers`` ``pick_keys``; the table says which.
Run logs are durable: Patchbay journals every run and every step in the database (there is
no switch to turn that off).

Then the workflow's ``triggerUrl`` is driven with JSON POSTs, each with its own body, from
the raw-socket load generator (bench/loadgen.py) over N keep-alive connections for a fixed
time, after a short warm-up. Two different things are measured:

- acknowledged: the webhook answered 202 (the run is durably queued). Rate = 202 answers
  per second of load; p50/p99/max are the latencies of those answers.
- executed: the run finished with status ``succeeded``. After the load stops, the script
  waits (at most ``--drain`` seconds) until no run of the workflow is queued, running or
  waiting, then counts the load's succeeded runs through the API. Rate = succeeded runs /
  (load time + the drain time that was needed).

Peak RSS is the largest sum of VmRSS over the server's process tree (the serve process and
its children), sampled every 100 ms from start-up to the end of the drain.

The ceiling: bench/ceiling_app.py, a bare ASGI app answering 202 ``{}`` to any POST, run by
uvicorn with the same settings in its own process, driven the same way (same generator,
connections, duration, bodies).

Usage: python bench/workflows.py [--workers 1,2] [--seconds 20] [--concurrency 16]
                                 [--drain 300] [--postgres postgresql://...@127.0.0.1/test]
Target (this 2-core machine): >= 1,500 executions/s, p99 < 20 ms, peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import configs  # noqa: E402
import loadgen  # noqa: E402
from configs import ms  # noqa: E402

from patchbay.engine.definition import typed  # noqa: E402
from patchbay.testing.process import ServerProcess, free_port  # noqa: E402

HOST = "127.0.0.1"
CEILING_APP = Path(__file__).parent / "ceiling_app.py"
PENDING = ("queued", "running", "waiting")
PAGE = 100  # the API's largest page


# -- the workload ---------------------------------------------------------------------------
# The fields the mapping step keeps from each webhook body: (source key path, target key).
FIELDS = [
    ("order.id", "orderId"),
    ("order.total", "total"),
    ("order.currency", "currency"),
    ("order.customer.email", "email"),
    ("order.customer.name", "customerName"),
]


def mapping_step(connectors: set[tuple[str, str]]) -> tuple[str, dict]:
    """(what it is, the step): data-mapper map_values if registered, else a pure helper."""
    body = "$.steps.trigger.body"
    if any(name == "data-mapper" for name, _ in connectors):
        version = max((v for n, v in connectors if n == "data-mapper"), key=_version_key)
        properties = {
            "value": body,
            "mappings": [{"from": source, "to": target} for source, target in FIELDS],
        }
        return f"data-mapper {version} map_values", _step(
            "data-mapper", version, "map_values", properties
        )
    if any(name == "object-helpers" for name, _ in connectors):
        version = max((v for n, v in connectors if n == "object-helpers"), key=_version_key)
        properties = {"object": body, "key_paths": [source for source, _ in FIELDS]}
        return f"object-helpers {version} pick_keys (no data-mapper)", _step(
            "object-helpers", version, "pick_keys", properties
        )
    raise SystemExit("Neither data-mapper nor object-helpers is registered on this server")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _step(connector: str, version: str, operation: str, properties: dict) -> dict:
    return {
        "title": connector,
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {k: typed(v) for k, v in properties.items()},
        "error_handling": {},
    }


def definition(step: dict) -> dict:
    return {
        "title": "bench: webhook -> map",
        "steps_structure": [
            {"name": "trigger", "type": "normal", "content": {}},
            {"name": "map-1", "type": "normal", "content": {}},
        ],
        "steps": {
            "trigger": {
                "title": "Webhook",
                "connector": {"name": "webhook", "version": "2.0"},
                "operation": "webhook",
                "properties": {},
                "error_handling": {},
            },
            "map-1": step,
        },
    }


def order_factory(host: str, path: str):
    """Each request a different order (a few hundred bytes of JSON)."""
    counter = itertools.count()
    run = uuid.uuid4().hex[:8]
    headers = {"Content-Type": "application/json", "User-Agent": "bench"}

    def make() -> bytes:
        n = next(counter)
        body = json.dumps(
            {
                "event": "order.created",
                "id": f"{run}-{n}",
                "order": {
                    "id": n,
                    "total": round(10 + n % 500 * 0.37, 2),
                    "currency": "EUR",
                    "customer": {"email": f"user{n % 1000}@example.com", "name": f"User {n}"},
                    "items": [{"sku": f"SKU-{n % 97}", "qty": 1 + n % 3, "price": 9.99}],
                },
            }
        ).encode()
        return loadgen.build_request("POST", host, path, body, headers)

    return make


# -- peak RSS of a process tree ------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])  # the name may hold spaces
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """The peak, over samples every ``interval`` s, of the summed VmRSS of ``pid`` and its
    descendants (the tree is re-read every second: workers start after the server)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children = _children()
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def _run(self) -> None:
        pids: list[int] = []
        for n in itertools.count():
            if n % 10 == 0:
                pids = self._tree()
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in pids))
            if self._stop.wait(self.interval):
                return

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak_kib / 1024


# -- counting runs through the API ----------------------------------------------------------
def count_runs(client: httpx.Client, wf_id: str, status: str, cursor: str | None = None):
    """(how many runs of ``wf_id`` have ``status`` after ``cursor``, the last cursor)."""
    total = 0
    while True:
        params = {"status": status, "first": PAGE}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"/core/v1/workflows/{wf_id}/runs", params=params)
        r.raise_for_status()
        page = r.json()
        total += len(page["elements"])
        cursor = page["pageInfo"]["endCursor"] or cursor
        if not page["pageInfo"]["hasNextPage"]:
            return total, cursor


def pending(client: httpx.Client, wf_id: str) -> bool:
    """Whether any run of the workflow is still queued, running or waiting."""
    for status in PENDING:
        r = client.get(f"/core/v1/workflows/{wf_id}/runs", params={"status": status, "first": 1})
        r.raise_for_status()
        if r.json()["elements"]:
            return True
    return False


def drain(client: httpx.Client, wf_id: str, limit: float) -> float | None:
    """Seconds until no run is pending (polled every 100 ms), None if still after ``limit``."""
    start = time.perf_counter()
    while True:
        if not pending(client, wf_id):
            return time.perf_counter() - start
        if time.perf_counter() - start > limit:
            return None
        time.sleep(0.1)


# -- one configuration ----------------------------------------------------------------------
@dataclass
class Measured:
    load: loadgen.Result
    peak_rss_mb: float
    step: str = ""
    succeeded: int = 0
    failed: int = 0
    drained_after: float | None = 0.0
    sample_output: object = None
    extra: dict = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.load.statuses.get(202, 0)

    @property
    def ack_rate(self) -> float:
        return self.accepted / self.load.elapsed if self.load.elapsed else 0.0

    @property
    def executions_per_s(self) -> float:
        window = self.load.elapsed + (self.drained_after or 0.0)
        return self.succeeded / window if window else 0.0


def drive(port: int, make, args) -> tuple[loadgen.Result, loadgen.Result]:
    """A 1.5 s warm-up on 4 connections, then the measured load."""
    warm = asyncio.run(loadgen.run(HOST, port, make, concurrency=4, duration=1.5))
    load = asyncio.run(
        loadgen.run(HOST, port, make, concurrency=args.concurrency, duration=args.seconds)
    )
    return warm, load


def run_patchbay(args, workers: int, database: str) -> Measured:
    # The per-token API rate limit off (0): it would answer the drain polls and the run
    # counts 429. The webhook is unauthenticated, never rate-limited: no effect on the load.
    env = {"PATCHBAY_LOG_LEVEL": "warning", "PATCHBAY_RATE_LIMIT_PER_SECOND": "0"}
    if database != "sqlite":
        env["PATCHBAY_DATABASE_URL"] = configs.fresh_postgres(args.postgres)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "data", "--workers", str(workers), env=configs.server_env(args, **env)
        )
        sampler = RssSampler(server.proc.pid)
        try:
            server.wait_healthy()
            [token] = server.tokens()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
                r = client.get("/core/v1/connectors")
                r.raise_for_status()
                registered = {(c["name"], c["version"]) for c in r.json()["elements"]}
                step_name, step = mapping_step(registered)
                r = client.post("/core/v1/workflows", json=definition(step))
                if r.status_code != 201:
                    raise SystemExit(f"creating the workflow failed: {r.status_code} {r.text}")
                wf_id = r.json()["id"]
                r = client.post(f"/core/v1/workflows/{wf_id}/enable")
                r.raise_for_status()
                r = client.get(f"/core/v1/workflows/{wf_id}")
                r.raise_for_status()
                path = "/" + r.json()["triggerUrl"].split("/", 3)[3]
                make = order_factory(f"{HOST}:{server.port}", path)

                warm = asyncio.run(
                    loadgen.run(HOST, server.port, make, concurrency=4, duration=1.5)
                )
                if warm.statuses.get(202, 0) == 0:
                    raise SystemExit(f"the webhook answered no 202 in the warm-up: {warm.statuses}")
                if drain(client, wf_id, args.drain) is None:
                    raise SystemExit("the warm-up's runs did not finish within --drain")
                warm_ok, ok_cursor = count_runs(client, wf_id, "succeeded")
                warm_failed, failed_cursor = count_runs(client, wf_id, "failed")
                if warm_failed:
                    raise SystemExit(f"{warm_failed} warm-up runs failed; see the run details")

                load = asyncio.run(
                    loadgen.run(
                        HOST,
                        server.port,
                        make,
                        concurrency=args.concurrency,
                        duration=args.seconds,
                    )
                )
                drained_after = drain(client, wf_id, args.drain)
                peak = sampler.stop()
                succeeded, _ = count_runs(client, wf_id, "succeeded", ok_cursor)
                failed, _ = count_runs(client, wf_id, "failed", failed_cursor)
                last = client.get(
                    f"/core/v1/workflows/{wf_id}/runs", params={"status": "succeeded", "first": 1}
                ).json()["elements"]
                sample = None
                if last:
                    got = client.get(f"/core/v1/workflows/{wf_id}/runs/{last[0]['id']}").json()
                    sample = [s["output"] for s in got["steps"] if s["step"] == "map-1"]
            return Measured(
                load=load,
                peak_rss_mb=peak,
                step=step_name,
                succeeded=succeeded,
                failed=failed,
                drained_after=drained_after,
                sample_output=sample,
                extra={"warm_runs": warm_ok},
            )
        finally:
            sampler.stop()
            server.stop()


def run_ceiling(args) -> Measured:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(CEILING_APP), str(port)])
    sampler = RssSampler(proc.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://{HOST}:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the ceiling app did not start") from None
                time.sleep(0.05)
        make = order_factory(f"{HOST}:{port}", "/hooks/ceiling")
        _warm, load = drive(port, make, args)
        return Measured(load=load, peak_rss_mb=sampler.stop())
    finally:
        sampler.stop()
        proc.terminate()
        proc.wait(timeout=10)


# -- the report -----------------------------------------------------------------------------
def report(args, runs, results: dict, ceiling: Measured) -> None:
    names = [f"Patchbay {w}w {db}" for w, db in runs] + ["ceiling (bare ASGI)"]
    columns = [results[c] for c in runs] + [ceiling]
    na = "-"

    def pb(fn):
        return lambda m: na if m is ceiling else fn(m)

    def drained(m: Measured) -> str:
        if m.drained_after is None:
            return f"NOT within {args.drain:g} s"
        return f"{m.drained_after:.1f} s"

    rows = [
        ("mapping step", pb(lambda m: "{0} {2}".format(*m.step.split()))),
        ("EXECUTED (run succeeded)", lambda m: ""),
        ("  executions/s", pb(lambda m: f"{m.executions_per_s:,.0f}")),
        ("  succeeded runs", pb(lambda m: f"{m.succeeded:,}")),
        ("  failed runs", pb(lambda m: f"{m.failed:,}")),
        ("  drain after load", pb(drained)),
        ("ACKNOWLEDGED (202 answer)", lambda m: ""),
        ("  202 answers/s", lambda m: f"{m.ack_rate:,.0f}"),
        ("  202 answers", lambda m: f"{m.accepted:,}"),
        ("  latency p50", lambda m: ms(m.load.pct(50))),
        ("  latency p99", lambda m: ms(m.load.pct(99))),
        ("  latency max", lambda m: ms(max(m.load.latencies)) if m.load.latencies else na),
        ("  non-202 answers", lambda m: str(m.load.count - m.accepted)),
        ("peak RSS (process tree)", lambda m: f"{m.peak_rss_mb:,.0f} MB"),
        (
            "executions/s / ceiling req/s",
            pb(lambda m: f"{m.executions_per_s / ceiling.ack_rate:.1%}"),
        ),
        ("202/s / ceiling req/s", pb(lambda m: f"{m.ack_rate / ceiling.ack_rate:.1%}")),
        ("p99 / ceiling p99", pb(lambda m: f"{m.load.pct(99) / ceiling.load.pct(99):.1f}x")),
        ("RSS / ceiling RSS", pb(lambda m: f"{m.peak_rss_mb / ceiling.peak_rss_mb:.1f}x")),
    ]
    cells = [[fn(m) for m in columns] for _, fn in rows]
    label_width = max(len(label) for label, _ in rows) + 2
    width = max(len(c) for c in [*names, *itertools.chain(*cells)]) + 2
    print(
        f"\nWorkflow executions: webhook -> one data-mapping step -> done, durable run logs "
        f"(run + step journal in the database); {args.concurrency} connections, "
        f"{args.seconds:g} s of load on loopback"
    )
    steps = {m.step for m in results.values()}
    for step in sorted(steps):
        print(f"Mapping step used: {step}")
    print(f"{'':{label_width}}" + "".join(f"{n:>{width}}" for n in names))
    for (label, _), row in zip(rows, cells, strict=True):
        print(f"{label:{label_width}}" + "".join(f"{cell:>{width}}" for cell in row))
    print(
        "\nexecutions/s = succeeded runs / (load time + drain needed); 202 answers/s = webhook "
        "acknowledgements per second of load; latencies are of the 202 answers."
    )
    for m in results.values():
        if m.sample_output:
            print(f"A run's mapping step output: {json.dumps(m.sample_output[0])}")
            break
    print("\nTarget (2-core machine): >= 1,500 executions/s, p99 < 20 ms, peak RSS < 200 MB")
    for (w, db), m in results.items():
        verdict = [
            f"{'ok' if m.executions_per_s >= 1500 else 'MISSED'} executions/s",
            f"{'ok' if m.load.pct(99) < 0.020 else 'MISSED'} p99",
            f"{'ok' if m.peak_rss_mb < 200 else 'MISSED'} RSS",
        ]
        print(f"  Patchbay {w}w {db}: " + ", ".join(verdict))
    print(
        "Reference, n8n 1.123 (SQLite, regular mode), same workload on this machine: "
        "~60 executions/s, p99 ~380 ms, ~600 MB RSS"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="load duration")
    ap.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    ap.add_argument("--drain", type=float, default=300.0, help="max wait for runs to finish")
    configs.add_arguments(ap)
    args = ap.parse_args()
    runs = configs.configurations(args)
    results = {}
    for c in runs:
        print(f"running Patchbay, {c[0]} worker(s), {c[1]} ...", file=sys.stderr, flush=True)
        results[c] = run_patchbay(args, *c)
    print("running the ceiling (bare ASGI app) ...", file=sys.stderr, flush=True)
    ceiling = run_ceiling(args)
    report(args, runs, results, ceiling)


if __name__ == "__main__":
    main()
