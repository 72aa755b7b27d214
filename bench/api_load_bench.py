"""API under load (`make bench`): latency of the HTTP API with many clients at once. Prints
figures, asserts nothing about time.

The API is served over HTTP as ``logpipe run`` serves it (its server processes sharing one
socket, ``--http-processes``, by default one per core), on a fresh database (the real
PostgreSQL) holding one ingested file of ``--lines`` lines.
``--clients`` clients (64, as threads of ``--processes`` processes of their own, so that they
do not take the server's interpreter lock) then send requests for ``--seconds`` seconds,
each one after the other, in a fixed mix: the files list, one file, a page of events of that file, a text
search, the top patterns, and a presigned upload. Printed: requests, requests/s, and p50,
p99 and the worst latency for each kind and over all; any answer other than 2xx is
counted and printed.

    .venv/bin/python bench/api_load_bench.py [--clients 64] [--processes 4] [--seconds 20] [--lines 20000]
        [--http-processes N]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ingest_bench import Pipeline, machine, say, workers  # noqa: E402

DONE_TIMEOUT_S = 600.0  # a guard against a stall, not a timing assertion


def seed_file(pipe: Pipeline, lines: int, out: Path) -> str:
    """One file of ``lines`` lines, ingested by two workers; its id."""
    path = out / f"api-load-{lines}.log"
    with open(path, "wb") as fh:
        for i in range(1, lines + 1):
            level = ("INFO", "WARN", "ERROR")[i % 3]
            fh.write(f"2026-11-30T00:{i // 60 % 60:02d}:{i % 60:02d}Z {level} request {i} took {i % 97} ms\n".encode())
    with workers(pipe.env, 2):
        file_id, _, complete = pipe.upload(path, "text/plain")
        if complete is not None:
            complete()
        deadline = time.monotonic() + DONE_TIMEOUT_S
        while pipe.file(file_id)["status"] != "done":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the seed file was not done after {DONE_TIMEOUT_S} s")
            time.sleep(0.2)
    path.unlink()
    return file_id


def requests_mix(api: str, file_id: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    return [
        ("files list", "GET", f"{api}/api/files", None),
        ("one file", "GET", f"{api}/api/files/{file_id}", None),
        ("events page", "GET", f"{api}/api/events?file_id={file_id}&limit=100", None),
        ("text search", "GET", f"{api}/api/events?q=took&level=error&limit=50", None),
        ("top patterns", "GET", f"{api}/api/patterns", None),
        ("presign upload", "POST", f"{api}/api/uploads", {"filename": "x.log", "size": 100}),
    ]


Mix = list[tuple[str, str, str, dict[str, Any] | None]]


def client_process(
    mix: Mix, headers: dict[str, str], first: int, threads: int, seconds: float, start: Any, results: Any
) -> None:
    """``threads`` clients in one process (the API's own process is not theirs): each sends
    requests one after the other for ``seconds`` once every client is ready."""
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()

    def client(n: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        mine: dict[str, list[float]] = defaultdict(list)
        bad: dict[str, list[str]] = defaultdict(list)
        start.wait()
        stop_at = time.monotonic() + seconds
        for kind, method, url, body in itertools.islice(itertools.cycle(mix), n % len(mix), None):
            if time.monotonic() >= stop_at:
                break
            t0 = time.perf_counter()
            r = session.request(method, url, json=body, timeout=120)
            mine[kind].append(time.perf_counter() - t0)
            if not 200 <= r.status_code < 300:
                bad[kind].append(f"{r.status_code} {r.text[:120]}")
        with lock:
            for kind, values in mine.items():
                latencies[kind] += values
            for kind, values in bad.items():
                failures[kind] += values

    pool = [threading.Thread(target=client, args=(first + n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put((dict(latencies), dict(failures)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--processes", type=int, default=4, help="client processes the clients are spread over")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--http-processes", type=int, default=0, help="server processes (0: as logpipe run)")
    args = ap.parse_args()

    say("API load benchmark: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    pipe = Pipeline()
    pipe.start()
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, list[str]] = defaultdict(list)
    try:
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        file_id = seed_file(pipe, args.lines, out)
        api = pipe.serve_as_runner(args.http_processes)
        spawn = multiprocessing.get_context("spawn")
        start, results = spawn.Barrier(args.clients), spawn.Queue()
        share = [
            args.clients // args.processes + (1 if p < args.clients % args.processes else 0)
            for p in range(args.processes)
        ]
        procs = [
            spawn.Process(
                target=client_process,
                args=(requests_mix(api, file_id), pipe.headers, sum(share[:p]), n, args.seconds, start, results),
            )
            for p, n in enumerate(share)
            if n
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            got, bad = results.get(timeout=args.seconds + 600)  # a guard against a hang
            for kind, values in got.items():
                latencies[kind] += values
            for kind, values in bad.items():
                failures[kind] += values
        for proc in procs:
            proc.join()
    finally:
        pipe.stop()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else 0.0

    every = [v for values in latencies.values() for v in values]
    say(
        f"  {args.clients} clients in {args.processes} processes for {args.seconds:.0f} s: "
        f"{len(every):,} requests, {len(every) / args.seconds:,.0f} requests/s"
    )
    for kind, values in sorted(latencies.items()):
        say(
            f"  {kind:>14}: {len(values):6,} requests, p50 {pct(values, 50):7.1f} ms, p99 {pct(values, 99):7.1f} ms, "
            f"worst {max(values) * 1000:7.1f} ms, not 2xx: {len(failures.get(kind, []))}"
        )
    say(f"  {'all':>14}: p50 {pct(every, 50):.1f} ms, p99 {pct(every, 99):.1f} ms, worst {max(every) * 1000:.1f} ms")
    for kind, values in failures.items():
        say(f"  not 2xx ({kind}), first: {values[0]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
