"""Live stream benchmark (`make bench`): prints figures, asserts nothing about time.

1. Latency from commit to client: the real pipeline (moto's server, a fresh database on
   the real PostgreSQL, two parse-worker processes as `logpipe run` starts them) ingests a
   generated mixed file at full speed while 50 clients, in a process of their own, follow a
   probe file through one relay process (werkzeug's threaded server, as `logpipe run`
   serves). The probe commits one event every 50 ms as the parse-worker commits a batch (the
   rows and their stream entry in one transaction) and notes when its COMMIT returned;
   latency is each client's arrival time minus that. Target: p99 < 250 ms.
2. Streams one relay process holds: N clients connect and stay connected while heartbeats
   flow (every second here); the figure is how many received every heartbeat they were
   owed, and the relay's memory and threads. Target: >= 1,000.

    .venv/bin/python bench/stream_bench.py [--lines N] [--clients N] [--streams N[,N...]]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import selectors
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ingest_bench  # noqa: E402
from ingest_bench import MiB, Pipeline, generation_start, machine, plain_file, proc_status, say, workers  # noqa: E402

from logpipe import db  # noqa: E402
from logpipe.config import Settings  # noqa: E402
from logpipe.db import stream as stream_db  # noqa: E402
from logpipe.db.events import CopyBuffer, ensure_partitions  # noqa: E402
from logpipe.http import create_app  # noqa: E402


def serve_relay(env: dict[str, str], ready: Any, port: Any) -> None:
    """The relay process: the stream app under werkzeug's threaded server, as `logpipe run`."""
    os.environ.update(env)
    from werkzeug.serving import WSGIRequestHandler, make_server

    WSGIRequestHandler.log_request = lambda *a, **k: None  # type: ignore[method-assign]
    _raise_open_files()
    server = make_server("127.0.0.1", 0, create_app(Settings.from_env(), "stream"), threaded=True)
    server.request_queue_size = 4096
    port.value = server.server_port
    ready.set()
    server.serve_forever()


def _raise_open_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Relay:
    def __init__(self, env: dict[str, str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._port = ctx.Event(), ctx.Value("i", 0)
        self.proc = ctx.Process(target=serve_relay, args=(env, self._ready, self._port), daemon=True)
        self.proc.start()
        if not self._ready.wait(60):
            raise RuntimeError("the relay did not start")
        self.port = self._port.value

    def rss_threads(self) -> tuple[int, int]:
        st = proc_status(self.proc.pid)
        threads = len(os.listdir(f"/proc/{self.proc.pid}/task"))
        return st["VmRSS"], threads

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(timeout=10)


# -- 1. latency ----------------------------------------------------------------------------------


class Follower(threading.Thread):
    """One client: follows the probe file's events and notes when each arrived."""

    def __init__(self, port: int, token: str, file_id: str, until_line: int) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.file_id, self.until_line = port, token, file_id, until_line
        self.arrived: dict[int, float] = {}
        self.done = threading.Event()
        self.connected = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            conn.request(
                "GET", f"/api/stream?file_id={self.file_id}", headers={"Authorization": f"Bearer {self.token}"}
            )
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"stream answered {response.status}")
            self.connected.set()
            event = ""
            while True:
                line = response.readline()
                if not line:
                    return
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event == "log":
                    now = time.time()
                    n = json.loads(line[6:])["line"]
                    self.arrived[n] = now
                    if n >= self.until_line:
                        conn.close()
                        return
        except Exception as exc:  # noqa: BLE001 - reported with the figures
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()
            self.done.set()


def follow_in_process(
    port: int, token: str, file_id: str, clients: int, until_line: int, connected: Any, results: Any
) -> None:
    """The clients' process: ``clients`` followers, each on a thread, their arrivals sent back.

    Apart from the bench's own process (moto's server and the API run there), so that the
    clients' reading does not wait on that process's interpreter lock."""
    followers = [Follower(port, token, file_id, until_line) for _ in range(clients)]
    for f in followers:
        f.start()
    for f in followers:
        f.connected.wait(60)
    connected.set()
    for f in followers:
        f.done.wait(600)
    results.put(([f.arrived for f in followers], [f.error for f in followers if f.error]))


class Probe(threading.Thread):
    """Commits one event to a probe file every ``every_s``, as the parse-worker commits a batch
    (the rows and their stream entry in one transaction), and notes when each COMMIT returned."""

    def __init__(self, settings: Settings, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.settings, self.every_s = settings, every_s
        self.conn = db.connect(settings)
        self.file_id = str(uuid.uuid4())
        self.conn.run(
            "INSERT INTO files (id, name, object_key, upload_kind, status) "
            "VALUES (CAST(:f AS uuid), 'probe', :k, 'external', 'processing')",
            f=self.file_id,
            k=f"probe/{self.file_id}",
        )
        ensure_partitions(self.conn, {(datetime.now(UTC).year, datetime.now(UTC).month)})
        self.committed: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        line = 0
        while not self.stop.wait(self.every_s):
            line += 1
            buf = CopyBuffer(self.file_id, datetime.now(UTC))
            buf.add(line, datetime.now(UTC), "info", "text", f"probe {line}", None, None, False, 1, None)
            self.conn.run("BEGIN")
            buf.copy_into(self.conn)
            stream_db.append(self.conn, stream_db.EVENTS, file_id=self.file_id, first_line=line, end_line=line + 1)
            self.conn.run("COMMIT")
            self.committed[line] = time.time()
        self.conn.close()


def latency(lines: int, clients: int) -> None:
    say(
        f"latency: {clients} clients follow a probe file through one relay process while 2 parse-workers "
        f"ingest a {lines:,}-line upload"
    )
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path, count = plain_file(out, lines, 42, generation_start())
    pipe = Pipeline()
    pipe.start()
    relay = Relay(pipe.env)
    spawn = multiprocessing.get_context("spawn")
    until = 1_000_000
    try:
        with workers(pipe.env, 2) as w:
            w.wait_settled()
            probe = Probe(pipe.settings)
            connected, results = spawn.Event(), spawn.Queue()
            clients_proc = spawn.Process(
                target=follow_in_process,
                args=(relay.port, pipe.settings.api_token, probe.file_id, clients, until, connected, results),
                daemon=True,
            )
            clients_proc.start()
            if not connected.wait(120):
                raise RuntimeError("the clients did not connect")
            probe.start()
            t0 = time.monotonic()
            file_id, _how, _ = pipe.upload(path, "text/plain")
            seconds, final = ingest_bench.wait_done(pipe, w, file_id, count, t0)
            probe.stop.set()
            probe.join()
            last = max(probe.committed)
            # the clients stop at the probe's last line
            closing = db.connect(pipe.settings)
            try:
                buf = CopyBuffer(probe.file_id, datetime.now(UTC))
                buf.add(until, datetime.now(UTC), "info", "text", "probe end", None, None, False, 1, None)
                closing.run("BEGIN")
                buf.copy_into(closing)
                stream_db.append(closing, stream_db.EVENTS, file_id=probe.file_id, first_line=until, end_line=until + 1)
                closing.run("COMMIT")
            finally:
                closing.close()
            arrivals, errors = results.get(timeout=300)
            clients_proc.join(timeout=30)
        rss, threads = relay.rss_threads()
    finally:
        relay.stop()
        pipe.stop()
    samples = sorted(arrived[n] - probe.committed[n] for arrived in arrivals for n in arrived if n in probe.committed)
    if not samples:
        raise RuntimeError(f"no latency sample: {errors[:3]}")
    missing = sum(1 for arrived in arrivals for n in probe.committed if n not in arrived)
    say(
        f"  ingest meanwhile: {count:,} lines in {seconds:.1f}s = {count / seconds:,.0f} lines/s, "
        f"file {final['status']}"
    )
    say(
        f"  commit -> client, {len(samples):,} samples ({last} probe commits x {clients} clients, {missing} missed): "
        f"p50 {1000 * _pct(samples, 50):.0f} ms, p99 {1000 * _pct(samples, 99):.0f} ms, "
        f"max {1000 * samples[-1]:.0f} ms   (target p99 < 250 ms)"
    )
    say(f"  relay process: {rss / MiB:,.0f} MiB RSS, {threads} threads; client errors: {len(errors)}")


def _pct(xs: list[float], p: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


# -- 2. streams held ---------------------------------------------------------------------------


def capacity(counts: list[int], hold_s: float = 12.0) -> None:
    pipe = Pipeline()
    pipe.start()
    env = {**pipe.env, "LOGPIPE_STREAM_HEARTBEAT_S": "1", "LOGPIPE_STREAM_MAX_CLIENTS": str(max(counts) + 100)}
    try:
        for n in counts:
            relay = Relay(env)
            try:
                held, refused, rss, threads = _hold(relay, pipe.settings.api_token, n, hold_s)
            finally:
                relay.stop()
            say(
                f"streams: {n:,} clients -> {held:,} received every heartbeat for {hold_s:.0f}s "
                f"({refused} not served); relay {rss / MiB:,.0f} MiB RSS, {threads} threads   (target >= 1,000)"
            )
    finally:
        pipe.stop()


def _hold(relay: Relay, token: str, n: int, hold_s: float) -> tuple[int, int, int, int]:
    """Open ``n`` streams from one thread (a selector), count heartbeats per stream."""
    _raise_open_files()
    sel = selectors.DefaultSelector()
    request = (
        f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    beats: dict[int, int] = {}
    ok: dict[int, bool] = {}
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
        s.sendall(request)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
        beats[i], ok[i] = 0, False
    start = time.monotonic()
    first_beat: dict[int, float] = {}
    while time.monotonic() - start < hold_s + 5:
        for key, _ in sel.select(timeout=0.5):
            try:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            i = key.data
            if not data:
                sel.unregister(key.fileobj)
                continue
            if b" 200 " in data[:20]:
                ok[i] = True
            count = data.count(b": heartbeat")
            if count:
                first_beat.setdefault(i, time.monotonic())
                beats[i] += count
    rss, threads = relay.rss_threads()
    for s in socks:
        s.close()
    owed = hold_s - 2  # a second of slack at each end
    held = sum(1 for i in range(n) if ok[i] and beats[i] >= owed)
    return held, sum(1 for i in range(n) if not ok[i]), rss, threads


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--streams", default="1000,2000")
    args = p.parse_args(argv)
    say(f"stream_bench on {', '.join(f'{k} {v}' for k, v in machine().items())}")
    latency(args.lines, args.clients)
    capacity([int(x) for x in args.streams.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
