"""GitHub webhook benchmark (`make bench`): prints figures, asserts nothing about time.

1. Deliveries: the local runner's HTTP server (its server processes, each a Dispatcher
   over template.yaml, sharing one socket, as `logpipe run` serves) takes signed
   deliveries from 32 concurrent senders (two processes of 16 threads, each thread on a
   keep-alive connection, waiting for each answer before its next delivery). Figures:
   deliveries/s and latency percentiles; then Postgres is checked: every delivery sent is
   stored once, with its one event, and every redelivery (one in 20 is sent twice) added
   nothing. Target: >= 500 deliveries/s, p99 < 100 ms.
2. Actions logs: a `workflow_run` completed delivery for a run whose archive (built here,
   served by the tests' fake GitHub) holds 50,000 lines in two steps; the figure is the
   time from sending the delivery to the last line being found by GET /api/events, with
   two parse-worker processes.

    .venv/bin/python bench/webhook_bench.py [--deliveries N] [--senders N] [--lines N] [--http-processes N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the fake GitHub the tests use
sys.path.insert(0, str(ROOT / "local"))

from fake_github import FakeGitHub, zip_of  # noqa: E402
from ingest_bench import Pipeline, backends_cpu, cpu_seconds, machine, say, workers  # noqa: E402

from logpipe import db  # noqa: E402
from logpipe.github.signature import sign  # noqa: E402

SECRET = "bench-secret-" + "z" * 20
PAYLOADS = ROOT.parent / "shared" / "testdata" / "github" / "payloads"


def bodies() -> list[tuple[str, bytes]]:
    """(event, body) to send round: GitHub's own examples when ../shared is there."""
    if PAYLOADS.is_dir():
        found = [(p.parent.name, p.read_bytes()) for p in sorted(PAYLOADS.glob("*/*.json"))]
        # Completed runs and jobs would queue log fetches that no fake serves here.
        return [(e, b) for e, b in found if e not in ("workflow_run", "workflow_job")]
    one = {"action": "created", "repository": {"full_name": "octo-org/octo-repo"}, "sender": {"login": "octocat"}}
    return [("star", json.dumps(one).encode())]


def sender(port: int, jobs: list[tuple[str, str]], threads: int, start: Any, out: Any) -> None:
    """Send ``jobs`` (delivery id, event) on ``threads`` threads, each waiting for its answer
    before sending the next, on a keep-alive connection of its own, bodies signed before the
    clock starts; put (latencies, failures, CPU seconds this process spent sending)."""
    import resource
    import threading

    payloads = dict(bodies())
    signed = {e: (b, sign(SECRET, b)) for e, b in payloads.items()}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    it = iter(jobs)

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                break
            delivery, event = job
            body, signature = signed[event]
            headers = {
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-GitHub-Hook-ID": "1",
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            }
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/webhook/github", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status in (200, 202)
                if resp.getheader("Connection", "").lower() == "close" or resp.version == 10:
                    conn.close()
            except OSError as exc:
                ok, resp = False, None
                failures.append(f"{delivery}: {exc}")
                conn.close()
            mine.append(time.perf_counter() - t0)
            if not ok and resp is not None:
                failures.append(f"{delivery}: {resp.status}")
        with lock:
            latencies.extend(mine)

    def cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start.wait()
    cpu0 = cpu_s()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((latencies, failures, cpu_s() - cpu0))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def send(port: int, jobs: list[tuple[str, str]], senders: int) -> tuple[list[Any], float]:
    """``jobs`` sent by ``senders`` threads in two processes; their results, and the seconds
    from the moment every sender was ready to the last answer."""
    procs_n = 2
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    share = [jobs[i::procs_n] for i in range(procs_n)]
    start = ctx.Barrier(procs_n + 1)
    procs = [ctx.Process(target=sender, args=(port, share[i], senders // procs_n, start, out)) for i in range(procs_n)]
    for p in procs:
        p.start()
    start.wait(timeout=120)  # the senders have started and signed their bodies
    t0 = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return results, elapsed


def bench_deliveries(pipe: Pipeline, port: int, count: int, senders: int) -> None:
    events = [e for e, _ in bodies()]
    jobs = [(f"bench-{n}-{uuid.uuid4().hex[:8]}", events[n % len(events)]) for n in range(count)]
    unique = len(jobs)
    jobs += [jobs[n] for n in range(0, unique, 20)]  # redeliveries, in the same flow
    warm_up = senders * 4  # deliveries sent first, untimed: they open the connections
    send(port, jobs[:warm_up], senders)
    servers = [p.pid for p in multiprocessing.active_children() if p.name.startswith("http-") and p.pid]
    cpu0 = {pid: cpu_seconds(pid) for pid in servers}
    postgres0 = backends_cpu(pipe.settings)  # the server processes' connections, open now, kept by their pools
    results, elapsed = send(port, jobs[warm_up:], senders)
    timed = len(jobs) - warm_up
    server_cpu = sum(cpu_seconds(pid) - cpu0[pid] for pid in servers)
    postgres_cpu = backends_cpu(pipe.settings) - postgres0
    latencies = [x for r in results for x in r[0]]
    failures = [x for r in results for x in r[1]]
    conn = db.connect(pipe.settings)
    try:
        stored = conn.run("SELECT count(*), count(DISTINCT delivery_id) FROM github_deliveries")[0]
        event_rows = conn.run("SELECT count(*) FROM events WHERE source = 'github'")[0][0]
        sent_ids = {d for d, _ in jobs}
        in_db = {r[0] for r in conn.run("SELECT delivery_id FROM github_deliveries")}
    finally:
        conn.close()
    lost = len(sent_ids - in_db)
    duplicated = stored[0] - stored[1] + (event_rows - stored[0])
    say(
        f"deliveries: {len(jobs)} requests ({unique} deliveries + {len(jobs) - unique} redeliveries), "
        f"{warm_up} of them first as a warm-up, then {timed} from {senders} senders in {elapsed:.1f} s "
        f"= {timed / elapsed:.0f} deliveries/s; "
        f"latency p50 {pct(latencies, 50) * 1000:.1f} ms, p95 {pct(latencies, 95) * 1000:.1f} ms, "
        f"p99 {pct(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    client_cpu = sum(r[2] for r in results)
    cores = os.cpu_count() or 1
    machine_s = elapsed * cores
    say(
        f"  CPU of the machine's {machine_s:.1f} core-seconds: the senders' own {client_cpu:.1f} s "
        f"({client_cpu / machine_s:.0%}), the server processes' {server_cpu:.1f} s ({server_cpu / machine_s:.0%}, "
        f"{server_cpu / timed * 1000:.2f} ms a request), Postgres's backends {postgres_cpu:.1f} s "
        f"({postgres_cpu / machine_s:.0%}); the rest is other work on the machine"
    )
    say(
        f"  checked in Postgres: {stored[0]} stored, {event_rows} events, lost {lost}, duplicated {duplicated}, "
        f"failed requests {len(failures)} {failures[:3]}"
    )


def _log_lines(n: int, step: str) -> bytes:
    rows = []
    for i in range(n):
        ts = f"2026-11-30T10:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d}.{i % 10_000_000:07d}Z"
        if i % 500 == 0:
            rows.append(f"{ts} ##[group]Run step {step} part {i // 500}")
        elif i % 500 == 499:
            rows.append(f"{ts} ##[endgroup]")
        elif i % 997 == 0:
            rows.append(f"{ts} ##[error]\x1b[31mtest_{i} failed\x1b[0m in {step}")
        else:
            rows.append(f"{ts} ok {step} line {i} \x1b[32mpassed\x1b[0m in {i % 97} ms")
    rows.append(f"{rows[-1][:29]} lastline{step}marker done")
    return ("\ufeff" + "\n".join(rows) + "\n").encode()


def bench_actions_logs(pipe: Pipeline, port: int, lines: int) -> None:
    fake = FakeGitHub()
    repo, run = "octo-org/octo-repo", 424242
    half = lines // 2 - 1
    fake.logs[f"/repos/{repo}/actions/runs/{run}/attempts/1/logs"] = zip_of(
        {"build/1_Unit tests.txt": _log_lines(half, "a"), "build/2_Integration.txt": _log_lines(half, "b")}
    )
    env = {**pipe.env, "GITHUB_API_URL": fake.api_url, "GITHUB_TOKEN": "ghs_bench"}
    payload = {
        "action": "completed",
        "repository": {"full_name": repo},
        "sender": {"login": "octocat"},
        "workflow_run": {"id": run, "name": "CI", "run_attempt": 1, "run_number": 7, "conclusion": "failure"},
    }
    body = json.dumps(payload).encode()
    with workers(env, 2) as w:
        w.wait_settled()
        api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        t0 = time.perf_counter()
        headers = {
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": f"run-{uuid.uuid4()}",
            "X-Hub-Signature-256": sign(SECRET, body),
            "Content-Type": "application/json",
        }
        api.request("POST", "/webhook/github", body=body, headers=headers)
        resp = api.getresponse()
        answer = json.loads(resp.read())
        answered = time.perf_counter() - t0
        found = 0
        deadline = time.monotonic() + 600
        auth = {"Authorization": f"Bearer {pipe.settings.api_token}"}
        while time.monotonic() < deadline:
            api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            api.request("GET", "/api/events?source=github-actions&q=lastlineamarker&limit=5", headers=auth)
            a = json.loads(api.getresponse().read())
            api.request("GET", "/api/events?source=github-actions&q=lastlinebmarker&limit=5", headers=auth)
            b = json.loads(api.getresponse().read())
            found = len(a.get("events", [])) + len(b.get("events", []))
            if found == 2:
                break
            w.check_alive()
            time.sleep(0.05)
        searchable = time.perf_counter() - t0
    conn = db.connect(pipe.settings)
    try:
        events = conn.run("SELECT count(*) FROM events WHERE source = 'github-actions'")[0][0]
        errors = conn.run("SELECT count(*) FROM events WHERE source = 'github-actions' AND level = 'error'")[0][0]
    finally:
        conn.close()
    fake.close()
    state = "both last lines found" if found == 2 else "NOT FOUND within 600 s"
    say(
        f"actions logs: a {lines:,}-line run (2 step files): delivery answered in {answered * 1000:.0f} ms "
        f"({answer.get('logs')}); searchable after {searchable:.2f} s ({state}); "
        f"{events:,} events stored, {errors} at level error"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=10_000)
    ap.add_argument("--senders", type=int, default=32)
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--http-processes", type=int, default=0, help="server processes (0: as logpipe run)")
    args = ap.parse_args()
    say(f"webhook_bench on {machine()}")
    pipe = Pipeline()
    pipe.start()
    pipe.env["GITHUB_WEBHOOK_SECRET"] = SECRET
    pipe.env["LOGPIPE_LOG_LEVEL"] = "WARNING"
    try:
        port = int(pipe.serve_as_runner(args.http_processes).rsplit(":", 1)[1])
        servers = sum(p.name.startswith("http-") for p in multiprocessing.active_children())
        say(f"the runner's HTTP server: {servers} processes")
        bench_deliveries(pipe, port, args.deliveries, args.senders)
        if args.lines:
            bench_actions_logs(pipe, port, args.lines)
    finally:
        pipe.stop()


if __name__ == "__main__":
    main()
