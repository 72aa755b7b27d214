"""Ingest benchmark (`make bench`): prints figures, asserts nothing about time.

One run measures, on this machine:

1. end-to-end lines/s of a generated mixed-format file (1,000,000 lines, ~150 MB), from
   "upload complete" to the file's status ``done``, through the real pipeline: moto's
   server as S3/SQS, a fresh database on the real PostgreSQL, the API's presigned upload,
   and parse-worker processes started as ``logpipe run`` starts them;
2. the storage floor: a plain COPY of the same parsed rows into the same (truncated)
   events table, in one connection, rows/s;
3. their ratio (target >= 0.5);
4. the parse-workers' peak RSS (VmHWM, read from /proc before they exit);
5. the peak RSS and lines/s of one parse-worker on a large gzip file (target < 300 MiB).

    .venv/bin/python bench/ingest_bench.py [--quick] [--lines N] [--gzip-mb MB] [--access-log]

``--access-log`` runs steps 1-4 on an Apache combined log instead, where the compiled lane
does the parsing.

Generated files are kept under bench/out/ (the same seed gives the same bytes, so a second
run reuses them); the database, bucket and queues are created for the run and removed after.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing
import os
import platform
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pg8000.native
import requests
from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _extra in (ROOT / "layers", ROOT / "local"):  # in case the package is not installed in this Python
    if str(_extra) not in sys.path:
        sys.path.append(str(_extra))

import generate  # noqa: E402

from logpipe import db  # noqa: E402
from logpipe.config import Settings  # noqa: E402
from logpipe.db.events import COPY_SQL, ensure_partitions  # noqa: E402
from logpipe.db.migrate import migrate  # noqa: E402
from logpipe.http import create_app, deps  # noqa: E402
from logpipe.ingest import event_batches  # noqa: E402 - the worker's own per-chunk loop
from logpipe.parsing import LineReader  # noqa: E402
from logpipe.parsing.formats import Parser  # noqa: E402
from logpipe.parsing.multiline import Joiner  # noqa: E402
from logpipe.patterns import PatternMiner  # noqa: E402
from logpipe_local.consumer import run_worker  # noqa: E402
from logpipe_local.stack import MotoProcess, provision_aws  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
WORKER = "parse-worker"
POLL_S = 0.2
PROGRESS_S = 2.0
STALL_S = 180.0  # no line parsed for this long: something is wrong, stop and say so
# 1 GiB of gzip is ~5.7 GiB of text, ~40M lines: over 15 minutes for one worker on this kind
# of machine. The default is a quarter of that; --gzip-mb 1024 runs the full size.
DEFAULT_GZIP_MB = 256
TARGET_GZIP_MB = 1024


def say(text: str) -> None:
    print(text, flush=True)


# -- the machine -------------------------------------------------------------------------------


def reference_loop_s() -> float:
    """Seconds of CPU a fixed loop of additions takes in this interpreter: the same code
    has run a third faster or slower on this machine from one hour to the next (a shared
    host), so each benchmark prints it beside its figures to make runs comparable."""
    start = time.process_time()
    total = 0
    for n in range(5_000_000):
        total += n
    return time.process_time() - start


def machine() -> dict[str, str]:
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "load": load,
        "python": platform.python_version(),
        "reference loop": f"{reference_loop_s():.2f} s",
    }


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a live process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    return out


# -- the pipeline --------------------------------------------------------------------------------


@dataclass
class Pipeline:
    """moto's server, a fresh database, bucket and queues, and the HTTP API on 127.0.0.1."""

    multipart_threshold: int | None = None  # None: the setting's default
    settings: Settings = field(init=False)
    env: dict[str, str] = field(init=False)
    api_url: str = field(init=False)
    _moto: Any = None
    _server: Any = None
    _runner: Any = None
    _admin: Settings | None = None

    def start(self) -> None:
        # One access-log line per API poll would drown the progress lines.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        # moto in a process of its own, as `logpipe run` starts it: here it would take turns
        # of this process's interpreter lock with the API and the benchmarks' clients.
        self._moto = MotoProcess(0)
        host, port = "127.0.0.1", self._moto.port
        tag = uuid.uuid4().hex[:8]
        self.env = {
            "PSQL_ADDR": os.environ.get("PSQL_ADDR", "127.0.0.1"),
            "PSQL_PORT": os.environ.get("PSQL_PORT", "5432"),
            "PSQL_USER": os.environ.get("PSQL_USER", "postgres"),
            "PSQL_PASS": os.environ.get("PSQL_PASS", ""),
            "PSQL_DB": f"logpipe_bench_{tag}",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOGPIPE_BUCKET": f"logpipe-bench-{tag}",
            "LOGPIPE_INGEST_QUEUE": f"logpipe-bench-{tag}",
            "LOGPIPE_DLQ": f"logpipe-bench-{tag}-dlq",
            "LOGPIPE_API_TOKEN": uuid.uuid4().hex,
            "LOGPIPE_LOG_LEVEL": os.environ.get("LOGPIPE_LOG_LEVEL", "WARNING"),
            "LOGPIPE_METRICS": os.environ.get("LOGPIPE_METRICS", "on"),  # off: what metrics cost the ratio
            "RABBITMQ_URL": "",  # chunk work travels through SQS, as in the default `logpipe run`
        }
        if self.multipart_threshold is not None:
            self.env["LOGPIPE_MULTIPART_THRESHOLD"] = str(self.multipart_threshold)
        # boto3 in this process (the API) reads the credentials from the environment.
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("AWS_")})
        self.settings = Settings.from_env(self.env)
        self._admin = self.settings
        db.ensure_database(self.settings)
        conn = db.connect(self.settings)
        try:
            migrate(conn)
        finally:
            conn.close()
        provision_aws(self.settings)
        app = create_app(self.settings)
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self._server.server_port}"

    def serve_as_runner(self, processes: int = 0) -> str:
        """Serve every HTTP function as `logpipe run` does (its server processes sharing one
        socket, 0: as many as it starts), beside ``api_url``; the base URL. Stopped by ``stop``."""
        from logpipe_local.runner import HttpOptions, HttpServers
        from logpipe_local.server import MAX_CONNECTIONS

        env = {"GITHUB_WEBHOOK_SECRET": "bench-" + "s" * 32, **self.env}  # the webhook starts only with one
        self._runner = HttpServers("127.0.0.1", 0, env, HttpOptions("127.0.0.1", 30, MAX_CONNECTIONS, ""), processes)
        self._runner.start()
        return f"http://127.0.0.1:{self._runner.port}"

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            deps.close(self._server.app)  # the API's pooled connections, before the database goes
        if self._admin is not None:
            conn = db.connect(self._admin, database="postgres")
            try:
                conn.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(self._admin.psql_db)} WITH (FORCE)")
            finally:
                conn.close()
        if self._moto is not None:
            self._moto.stop()

    # -- HTTP, as the browser uses it ---------------------------------------------------------
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_token}"}

    def upload(self, path: Path, content_type: str) -> tuple[str, str, Callable[[], None] | None]:
        """Presign and send the file straight to the bucket.

        Returns the file id, how it went up, and for a multipart upload the last step still
        to take (the object exists, and is notified, only once it is taken). Streams from
        disk: a single POST holds at most the multipart threshold in memory, a multipart
        upload one part at a time.
        """
        size = path.stat().st_size
        r = requests.post(
            f"{self.api_url}/api/uploads",
            json={"filename": path.name, "size": size, "content_type": content_type},
            headers=self.headers,
            timeout=60,
        )
        r.raise_for_status()
        body = r.json()
        file_id, up = body["file_id"], body["upload"]
        if up["method"] == "POST":
            with open(path, "rb") as fh:
                sent = requests.post(up["url"], data=up["fields"], files={"file": (path.name, fh)}, timeout=600)
            if sent.status_code not in (200, 204):
                raise RuntimeError(f"presigned POST refused: {sent.status_code} {sent.text[:300]}")
            return file_id, "presigned POST", None
        etags = []
        part_size = up["part_size"]
        t0 = time.monotonic()
        with open(path, "rb") as fh:
            for part in up["parts"]:
                n = part["part_number"]
                fh.seek((n - 1) * part_size)
                piece = fh.read(part_size)
                sent = requests.put(part["url"], data=piece, timeout=600)
                if sent.status_code != 200:
                    raise RuntimeError(f"part {n} refused: {sent.status_code} {sent.text[:300]}")
                etags.append({"part_number": n, "etag": sent.headers["ETag"]})
                done = min(n * part_size, size)
                rate = done / MiB / max(time.monotonic() - t0, 1e-6)
                say(f"    uploaded part {n}/{len(up['parts'])}  ({done / MiB:,.0f} MiB, {rate:,.0f} MiB/s)")

        def complete() -> None:
            r = requests.post(
                f"{self.api_url}/api/uploads/{file_id}/complete",
                json={"parts": etags},
                headers=self.headers,
                timeout=600,
            )
            if r.status_code not in (200, 202):
                raise RuntimeError(f"complete refused: {r.status_code} {r.text[:300]}")

        return file_id, f"multipart ({len(up['parts'])} parts of {part_size // MiB} MiB)", complete

    def file(self, file_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.api_url}/api/files/{file_id}", headers=self.headers, timeout=30)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


# -- workers ---------------------------------------------------------------------------------------


@dataclass
class Workers:
    """Parse-worker processes, started as `logpipe run` starts them (spawn, run_worker)."""

    procs: list[Any]
    stop_event: Any

    @classmethod
    def start(cls, env: dict[str, str], count: int) -> Workers:
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        procs = []
        for n in range(count):
            p = spawn.Process(target=run_worker, args=(WORKER, env, stop), name=f"{WORKER}-{n}", daemon=True)
            p.start()
            procs.append(p)
        return cls(procs, stop)

    def wait_settled(self, timeout_s: float = 20.0) -> None:
        """Wait until each worker has imported everything and sits idle (its RSS stops moving)."""
        deadline = time.monotonic() + timeout_s
        last = [0] * len(self.procs)
        steady = 0
        while time.monotonic() < deadline and steady < 4:
            time.sleep(0.25)
            now = [proc_status(p.pid)["VmRSS"] for p in self.procs]
            steady = steady + 1 if all(abs(a - b) < 256 * 1024 for a, b in zip(now, last, strict=True)) else 0
            last = now
            self.check_alive()

    def check_alive(self) -> None:
        dead = [p.name for p in self.procs if not p.is_alive()]
        if dead:
            raise RuntimeError(f"worker process(es) died: {', '.join(dead)} (see their log lines above)")

    def peak_rss(self) -> list[int]:
        """VmHWM of each worker: the most resident memory it ever had. Read while they live."""
        self.check_alive()
        return [proc_status(p.pid)["VmHWM"] for p in self.procs]

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        self.stop_event.set()
        for p in self.procs:
            p.join(timeout=30)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)


@contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[Workers]:
    w = Workers.start(env, count)
    try:
        yield w
    finally:
        w.stop()


# -- measuring ---------------------------------------------------------------------------------------


@dataclass
class Run:
    lines: int
    seconds: float
    peak_rss: list[int]
    idle_rss: list[int]
    upload: str
    file: dict[str, Any]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def checkpoint(settings: Settings) -> None:
    """Flush dirty pages so one phase does not pay for the writes of the one before."""
    conn = db.connect(settings)
    try:
        conn.run("CHECKPOINT")
    except pg8000.native.DatabaseError as exc:  # not a superuser: measure without it
        say(f"    (no CHECKPOINT: {exc})")
    finally:
        conn.close()


def wait_done(pipe: Pipeline, w: Workers, file_id: str, expected_lines: int, t0: float) -> tuple[float, dict[str, Any]]:
    """Poll the API until the file is done; print progress. Returns seconds since ``t0`` and the file."""
    last_print = last_lines = 0.0
    last_move = time.monotonic()
    seen = 0
    while True:
        f = pipe.file(file_id)
        now = time.monotonic()
        if f["status"] == "done":
            return now - t0, f
        if f["status"] == "failed":
            raise RuntimeError(f"the file failed: {f['error']}")
        if f["lines"] != seen:
            seen, last_move = f["lines"], now
        elif now - last_move > STALL_S:
            raise RuntimeError(f"no progress for {STALL_S:.0f}s at {seen:,} lines (status {f['status']})")
        w.check_alive()
        if now - last_print >= PROGRESS_S:
            rate = (f["lines"] - last_lines) / (now - last_print) if last_print else 0.0
            pct = 100.0 * f["lines"] / expected_lines if expected_lines else 0.0
            say(
                f"    {now - t0:6.1f}s  {f['status']:<10} {f['lines']:>12,} / {expected_lines:,} lines "
                f"({pct:5.1f}%)  {rate:>9,.0f} lines/s"
            )
            last_print, last_lines = now, f["lines"]
        time.sleep(POLL_S)


def end_to_end(pipe: Pipeline, path: Path, lines: int, count: int, content_type: str) -> Run:
    """Upload ``path`` and time it from upload complete to done, with ``count`` fresh workers."""
    with workers(pipe.env, count) as w:
        say(f"  starting {count} {WORKER} process(es)")
        w.wait_settled()
        idle = w.peak_rss()
        checkpoint(pipe.settings)
        say(f"  uploading {path.name} ({path.stat().st_size / MiB:,.1f} MiB) through the API")
        file_id, how, complete = pipe.upload(path, content_type)
        if complete is not None:
            complete()
        t0 = time.monotonic()
        cpu0 = {"workers": w.cpu(), "bench (moto, API)": time.process_time()}
        say(f"  upload complete ({how}); processing")
        seconds, f = wait_done(pipe, w, file_id, lines, t0)
        peak = w.peak_rss()
        cpu = {"workers": w.cpu() - cpu0["workers"], "postgres backends": backends_cpu(pipe.settings)}
        cpu["bench (moto, API)"] = time.process_time() - cpu0["bench (moto, API)"]
    say(f"  processed in {seconds:.1f}s; worker peak RSS (VmHWM): {', '.join(f'{b / MiB:,.0f} MiB' for b in peak)}")
    if f["lines"] != lines:
        raise RuntimeError(f"expected {lines:,} lines, the file says {f['lines']:,}")
    # Counting tens of millions of rows takes longer than a connection's usual 30 s timeout.
    conn = db.connect(pipe.settings)
    conn._usock.settimeout(None)  # pg8000 has no public way to change it
    try:
        stored = conn.run("SELECT count(*) FROM events WHERE file_id = CAST(:f AS uuid)", f=file_id)[0][0]
    finally:
        conn.close()
    if stored != f["events"]:
        raise RuntimeError(f"the file says {f['events']:,} events, the events table holds {stored:,}")
    say(f"  done: {lines:,} lines in {seconds:.1f}s = {lines / seconds:,.0f} lines/s; {stored:,} rows checked")
    say("  CPU seconds while processing: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    return Run(lines, seconds, peak, idle, how, f, cpu)


def backends_cpu(settings: Settings) -> float:
    """CPU used so far by the Postgres backends serving this database (the workers' connections).

    Only meaningful when Postgres runs on this machine; 0 when its processes cannot be read.
    """
    conn = db.connect(settings)
    try:
        pids = [r[0] for r in conn.run("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
        mine = conn.run("SELECT pg_backend_pid()")[0][0]
    finally:
        conn.close()
    total = 0.0
    for pid in pids:
        if pid != mine:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
    return total


def parse_to_payloads(path: Path, settings: Settings) -> tuple[list[bytes], set[tuple[int, int]], int]:
    """Parse the file in this process with the worker's own per-chunk loop, into COPY payloads of a batch each."""
    joiner = Joiner(Parser().parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    payloads: list[bytes] = []
    months: set[tuple[int, int]] = set()
    rows = 0
    t0 = last = time.monotonic()
    with open(path, "rb") as fh:
        events = joiner.events(
            LineReader(fh.read, max_line_bytes=settings.max_line_bytes), first_line=1, start_offset=0
        )
        file_id, now = str(uuid.uuid4()), datetime.now(UTC)
        for batch in event_batches(events, PatternMiner(), file_id, now, settings.batch_rows, 0, 1):
            if batch.buf.rows:
                payloads.append(batch.buf.payload())
                months |= batch.buf.months
                rows += batch.buf.rows
            if time.monotonic() - last >= PROGRESS_S:
                last = time.monotonic()
                say(f"    parsed {rows:,} events ({rows / (last - t0):,.0f} events/s in this one process)")
    return payloads, months, rows


def copy_floor(pipe: Pipeline, path: Path) -> tuple[int, float, int]:
    """Rows/s of plain COPYs of the file's parsed rows into the truncated events table."""
    say(f"  parsing {path.name} in-process into COPY payloads (not timed)")
    payloads, months, rows = parse_to_payloads(path, pipe.settings)
    size = sum(len(p) for p in payloads)
    say(f"  {rows:,} rows in {len(payloads)} COPY payloads of {pipe.settings.batch_rows} rows, {size / MiB:,.1f} MiB")
    conn = db.connect(pipe.settings)
    try:
        conn.run("TRUNCATE events")
        ensure_partitions(conn, months)
        conn.close()
        checkpoint(pipe.settings)
        conn = db.connect(pipe.settings)
        gc.collect()
        say("  timing the COPYs (one connection, one transaction per batch)")
        backend = conn.run("SELECT pg_backend_pid()")[0][0]
        client0 = time.process_time()
        t0 = time.monotonic()
        for p in payloads:
            conn.run(COPY_SQL, stream=BytesIO(p))
        seconds = time.monotonic() - t0
        client = time.process_time() - client0
        try:
            say(f"  CPU seconds of the COPYs: postgres backend {cpu_seconds(backend):.1f}, client {client:.1f}")
        except OSError:
            pass
        stored = conn.run("SELECT count(*) FROM events")[0][0]
        conn.run("TRUNCATE events")  # the gzip phase starts from an empty table too
    finally:
        conn.close()
    if stored != rows:
        raise RuntimeError(f"COPY stored {stored:,} rows, expected {rows:,}")
    say(f"  COPY: {rows:,} rows in {seconds:.1f}s = {rows / seconds:,.0f} rows/s")
    return rows, seconds, size


# -- generated files -------------------------------------------------------------------------------


def generation_start() -> datetime:
    """First line's time: the start of the current month, so events land in live partitions."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def plain_file(out: Path, lines: int, seed: int, start: datetime) -> tuple[Path, int]:
    path = out / f"mixed-v{generate.VERSION}-{lines}-seed{seed}-{start:%Y%m}.log"
    if path.exists():
        say(f"  reusing {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return path, lines
    say(f"  generating {lines:,} lines (seed {seed}) into {path.name}")
    t0 = last = time.monotonic()

    def progress(done: int, size: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_S or done == lines:
            last = time.monotonic()
            say(f"    {done:>12,} lines  {size / MiB:8,.1f} MiB  ({done / (last - t0):,.0f} lines/s)")

    generate.write_plain(path, lines, seed, start, progress)
    return path, lines


def access_file(out: Path, lines: int) -> tuple[Path, int]:
    """The Apache combined log of parse_bench, where the compiled lane does the parsing."""
    from parse_bench import write_apache

    path = out / f"apache-combined-{lines}.log"
    if path.exists():
        say(f"  reusing {path.name}")
    else:
        say(f"  generating {lines:,} Apache combined lines into {path.name}")
        write_apache(path, lines)
    return path, lines


def cached(path: Path, make: Callable[[Path], tuple[int, int]]) -> tuple[Path, int, int]:
    """A generated input, made by ``make`` (which returns its lines and decompressed bytes)
    unless an earlier run left it with its figures beside it; returns (path, lines, bytes)."""
    meta = path.with_name(path.name + ".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text(encoding="utf-8"))
        say(f"  reusing {path.name}")
        return path, int(info["lines"]), int(info["raw"])
    lines, raw = make(path)
    meta.write_text(json.dumps({"lines": lines, "raw": raw}), encoding="utf-8")
    return path, lines, raw


def gzip_file(out: Path, mb: float, seed: int, start: datetime) -> tuple[Path, int, int]:
    """A gzip file of about ``mb`` MiB compressed; returns (path, lines, decompressed bytes)."""

    def make(path: Path) -> tuple[int, int]:
        say(f"  generating about {mb:,g} MiB of gzip (seed {seed}) into {path.name}")
        t0 = last = time.monotonic()

        def progress(lines: int, raw: int, written: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_S:
                last = time.monotonic()
                say(
                    f"    {lines:>12,} lines  {raw / MiB:9,.0f} MiB text  {written / MiB:8,.1f} MiB gzip  "
                    f"({raw / MiB / (last - t0):,.0f} MiB/s of text)"
                )

        size, raw, lines = generate.write_gzip(path, int(mb * MiB), seed, start, progress=progress)
        say(f"    wrote {size / MiB:,.1f} MiB gzip, {raw / MiB:,.0f} MiB text, {lines:,} lines")
        return lines, raw

    return cached(out / f"mixed-v{generate.VERSION}-{mb:g}MiB-seed{seed}-{start:%Y%m}.log.gz", make)


# -- report ---------------------------------------------------------------------------------------


def mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"


def report(
    when: datetime,
    host: dict[str, str],
    pg: str,
    plain: tuple[Path, int] | None,
    e2e: Run | None,
    floor: tuple[int, float, int] | None,
    gz: tuple[Path, int, int] | None,
    gz_run: Run | None,
    workers_n: int,
    kind: str = "mixed formats",
) -> None:
    rows: list[tuple[str, str]] = []
    if plain and e2e:
        path, lines = plain
        rows.append(("plain file", f"{lines:,} lines, {path.stat().st_size / MiB:,.1f} MiB, {kind}"))
        rows.append((f"end-to-end, {workers_n} workers", f"{e2e.seconds:,.1f} s   {e2e.rate:,.0f} lines/s"))
    if floor:
        n, s, size = floor
        rows.append(
            ("COPY floor, 1 connection", f"{s:,.1f} s   {n / s:,.0f} rows/s  ({size / MiB:,.0f} MiB COPY text)")
        )
    if e2e and floor:
        ratio = e2e.rate / (floor[0] / floor[1])
        rows.append(
            ("ratio end-to-end / COPY", f"{ratio:.2f}   (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
        )
    if e2e:
        peaks = ", ".join(mib(x) for x in e2e.peak_rss)
        idle = ", ".join(mib(x) for x in e2e.idle_rss)
        rows.append(("worker peak RSS (plain)", f"{peaks}   (idle before upload: {idle})"))
        rows.append(("CPU s while processing", ", ".join(f"{k} {v:.1f}" for k, v in e2e.cpu.items())))
    if gz and gz_run:
        path, lines, raw = gz
        rows.append(
            ("gzip file", f"{path.stat().st_size / MiB:,.1f} MiB gzip = {raw / GiB:,.2f} GiB text, {lines:,} lines")
        )
        rows.append(("gzip, 1 worker", f"{gz_run.seconds:,.1f} s   {gz_run.rate:,.0f} lines/s"))
        peak = gz_run.peak_rss[0]
        verdict = "met" if peak < 300 * MiB else "NOT met"
        rows.append(
            ("worker peak RSS (gzip)", f"{mib(peak)}   (idle: {mib(gz_run.idle_rss[0])}; target < 300 MiB: {verdict})")
        )
        rows.append(("CPU s while processing", ", ".join(f"{k} {v:.1f}" for k, v in gz_run.cpu.items())))
    width = max(len(k) for k, _ in rows) if rows else 0
    say("")
    say("=" * 100)
    say(f"logpipe ingest benchmark   {when:%Y-%m-%d %H:%M} UTC")
    say(f"machine: nproc {host['nproc']}, {host['ram']} RAM, {host['cpu']}; load at start {host['load']}")
    say(f"software: Python {host['python']}, {pg}; S3/SQS: moto server (in the bench process)")
    say("-" * 100)
    for k, v in rows:
        say(f"{k:<{width}}  {v}")
    say("=" * 100)


def postgres_summary(settings: Settings) -> str:
    conn = db.connect(settings)
    try:
        version = conn.run("SHOW server_version")[0][0]
        sync = conn.run("SHOW synchronous_commit")[0][0]
        buffers = conn.run("SHOW shared_buffers")[0][0]
    finally:
        conn.close()
    return f"PostgreSQL {version} (synchronous_commit={sync}, shared_buffers={buffers})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small run (50,000 lines, 16 MiB of gzip) to try it out")
    ap.add_argument("--lines", type=int, help="lines of the plain file (default 1,000,000)")
    ap.add_argument("--workers", type=int, default=2, help="parse-worker processes for the plain file (default 2)")
    ap.add_argument(
        "--gzip-mb",
        type=float,
        help=f"compressed size of the gzip file in MiB (default {DEFAULT_GZIP_MB}, --quick 16); 0 skips it",
    )
    ap.add_argument(
        "--access-log",
        action="store_true",
        help="an Apache combined log as the plain file (the compiled lane's case) instead of the mixed one",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where generated files are kept")
    args = ap.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the workers stop and the database and bucket go
    # (by default it ends this process alone, and its workers retry a vanished endpoint forever).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    lines = args.lines or (50_000 if args.quick else 1_000_000)
    gzip_mb = args.gzip_mb if args.gzip_mb is not None else (16 if args.quick else DEFAULT_GZIP_MB)
    args.out.mkdir(parents=True, exist_ok=True)

    when = datetime.now(UTC)
    host = machine()
    start = generation_start()
    say(f"logpipe ingest benchmark: {lines:,} lines, {args.workers} workers, gzip {gzip_mb:g} MiB")
    say(f"machine: nproc {host['nproc']}, {host['ram']} RAM; load {host['load']}")
    say(f"reference loop: {host['reference loop']} (the machine's speed at the time)")

    say("[1/5] plain file")
    plain = access_file(args.out, lines) if args.access_log else plain_file(args.out, lines, args.seed, start)

    # A quick run's files are small: a lower threshold still sends its gzip file as multipart.
    pipe = Pipeline(multipart_threshold=8 * MiB if args.quick else None)
    e2e = floor = gz = gz_run = None
    pg = ""
    try:
        say("[2/5] pipeline: moto server, fresh database, API")
        pipe.start()
        pg = postgres_summary(pipe.settings)
        say(f"  {pg}; database {pipe.settings.psql_db}; API at {pipe.api_url}")

        say(f"[3/5] end-to-end: upload, then {args.workers} {WORKER} processes until the file is done")
        e2e = end_to_end(pipe, plain[0], lines, args.workers, "text/plain")

        say("[4/5] storage floor: plain COPY of the same rows")
        floor = copy_floor(pipe, plain[0])
        if floor[0] != e2e.file["events"]:
            say(f"  note: the pipeline stored {e2e.file['events']:,} events, the floor copied {floor[0]:,} rows")

        if gzip_mb > 0:
            say(f"[5/5] gzip: about {gzip_mb:g} MiB compressed, one {WORKER}")
            gz = gzip_file(args.out, gzip_mb, args.seed, start)
            gz_run = end_to_end(pipe, gz[0], gz[1], 1, "application/gzip")
        else:
            say("[5/5] gzip: skipped (--gzip-mb 0)")
    finally:
        pipe.stop()
    kind = "Apache combined" if args.access_log else "mixed formats"
    report(when, host, pg, plain, e2e, floor, gz, gz_run, args.workers, kind)
    if gzip_mb and gzip_mb < TARGET_GZIP_MB:
        say(
            f"note: the gzip file was {gzip_mb:g} MiB, not the 1 GiB of the target, to keep the run to minutes "
            f"(--gzip-mb {TARGET_GZIP_MB} for the full size)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
