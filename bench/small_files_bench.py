"""Small-files benchmark (`make bench`): files/s for many small logs, as the step logs of
GitHub Actions runs arrive. Prints figures, asserts nothing about time; checks the counts.

Through the real pipeline (moto's server as S3/SQS, a fresh database on the real
PostgreSQL, the API's presigned POST over HTTP as ``logpipe run`` serves it, parse-worker processes started as
``logpipe run`` starts them), ``--files`` files of 1 to 60 lines each are uploaded by
``--clients`` concurrent clients while the workers ingest them. Printed:

- upload files/s (presign and POST, the clients' side);
- end-to-end files/s: from the first presign to the last file ``done`` (target >= 100);
- ingest-side files/s: another ``--files`` files, recorded as the API records them and put
  in the bucket straight with boto3 before any worker runs (the bucket's notifications off
  meanwhile), then their notifications sent to the queue as fast as the workers take them,
  from the workers' start (their start-up included) to the last file ``done``: the
  workers' rate, apart from what the API and the uploads take. Every notification is in
  the queue before the workers start: the runner's moto costs the same per message
  however deep its queue (``stack.cheaper_moto``);
- that every file is ``done`` with exactly its lines, and the events table holds them once.

    .venv/bin/python bench/small_files_bench.py [--files 10000] [--clients 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ingest_bench import Pipeline, backends_cpu, cpu_seconds, machine, say, workers  # noqa: E402

from logpipe import db  # noqa: E402
from logpipe.aws import client  # noqa: E402
from logpipe.db import files as files_db  # noqa: E402
from logpipe.ingest import s3_event  # noqa: E402
from logpipe.queue import ingest_queue  # noqa: E402

TARGET_FILES_S = 100.0
DONE_TIMEOUT_S = 1800.0  # a guard against a stall, not a timing assertion


@dataclass(frozen=True)
class SmallFile:
    name: str
    lines: int

    def content(self) -> bytes:
        return b"".join(
            f"2026-11-30T00:00:{i % 60:02d}.{i:04d}Z ##[group]step {self.name} output line {i}\n".encode()
            for i in range(1, self.lines + 1)
        )


def small_files(count: int, seed: int) -> list[SmallFile]:
    rng = random.Random(seed)
    return [SmallFile(f"step-{n:05d}.log", rng.randint(1, 60)) for n in range(count)]


class Client:
    """One uploading client: keep-alive connections to the API and to the bucket, made with
    the standard library's ``http.client`` so that the clients, which share the two cores
    with what they measure, take as little of them as they can (``requests`` and urllib3
    cost about twice as much a file). It sends what a browser sends: the presign request,
    then the presigned POST as ``multipart/form-data``."""

    def __init__(self, pipe: Pipeline, api_url: str) -> None:
        self.pipe, self.api = pipe, urlsplit(api_url)
        self._conns: dict[str, http.client.HTTPConnection] = {}

    def _request(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST ``body`` to ``url`` on a kept-alive connection (made again once if the server
        closed it between requests)."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for again in (False, True):
            conn = self._conns.get(parts.netloc)
            if conn is None:
                conn = self._conns[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=120)
            try:
                conn.request("POST", path, body, headers)
                answer = conn.getresponse()
                return answer.status, answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                del self._conns[parts.netloc]
                if again:
                    raise
        raise AssertionError("unreachable")

    def upload(self, f: SmallFile) -> str:
        data = f.content()
        ask = json.dumps({"filename": f.name, "size": len(data), "content_type": "text/plain"}).encode()
        headers = {**self.pipe.headers, "Content-Type": "application/json"}
        status, answer = self._request(f"{self.api.scheme}://{self.api.netloc}/api/uploads", ask, headers)
        if status != 201:
            raise RuntimeError(f"presign refused: {status} {answer[:300]!r}")
        body = json.loads(answer)
        up = body["upload"]
        boundary = uuid.uuid4().hex
        form = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in up["fields"].items()
        )
        form += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{f.name}"\r\n'
                "Content-Type: text/plain\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, answer = self._request(up["url"], form, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status not in (200, 204):
            raise RuntimeError(f"presigned POST refused: {status} {answer[:300]!r}")
        return str(body["file_id"])

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()


@dataclass
class Result:
    files: int
    lines: int
    upload_s: float
    total_s: float
    ids: dict[str, SmallFile]
    cpu: str  # CPU per file, by part (``cpu_per_file``)

    @property
    def upload_rate(self) -> float:
        return self.files / self.upload_s

    @property
    def rate(self) -> float:
        return self.files / self.total_s


def done_count(conn: Any) -> tuple[int, int]:
    """Files done, and files failed."""
    rows = conn.run(
        "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed') FROM files"
    )
    return int(rows[0][0]), int(rows[0][1])


def file_ids(pipe: Pipeline, keys: list[str]) -> dict[str, str]:
    """The file id of each object key."""
    conn = db.connect(pipe.settings)
    try:
        rows = conn.run("SELECT object_key, id FROM files WHERE object_key = ANY(CAST(:k AS text[]))", k=keys)
    finally:
        conn.close()
    return {key: str(file_id) for key, file_id in rows}


def check_exact(pipe: Pipeline, ids: dict[str, SmallFile]) -> None:
    """Every file done with exactly its lines, each stored once; raises otherwise."""
    conn = db.connect(pipe.settings)
    try:
        files = {str(r[0]): (r[1], r[2], r[3]) for r in conn.run("SELECT id, status, lines, events FROM files")}
        stored = {
            str(r[0]): (r[1], r[2])
            for r in conn.run("SELECT file_id, count(*), count(DISTINCT line) FROM events GROUP BY file_id")
        }
    finally:
        conn.close()
    wrong = []
    for file_id, f in ids.items():
        if files.get(file_id) != ("done", f.lines, f.lines) or stored.get(file_id) != (f.lines, f.lines):
            wrong.append(f"{f.name}: expected {f.lines} lines, file {files.get(file_id)}, events {stored.get(file_id)}")
    if wrong or len(files) != len(ids):
        raise RuntimeError(f"{len(wrong)} file(s) not exact, {len(files)} files for {len(ids)} uploads: {wrong[:5]}")


def wait_all_done(pipe: Pipeline, w: Any, count: int, t0: float) -> float:
    """Wait until ``count`` files are done or failed; returns when, by the monotonic clock.
    One connection, asked a few times a second: a connection a look (a Postgres backend
    started each time) took a few per cent of the cores the pipeline is measured on."""
    deadline = t0 + DONE_TIMEOUT_S
    last = -1
    conn = db.connect(pipe.settings)
    try:
        while True:
            done, failed = done_count(conn)
            if done + failed >= count:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {count} files done after {DONE_TIMEOUT_S} s")
            if done // 1000 != last // 1000:
                say(f"    {done:,} done")
            last = done
            w.check_alive()
            time.sleep(0.25)
    finally:
        conn.close()


def _children_by_name() -> dict[int, str]:
    """This process's descendants (pid: the name ``ps`` shows)."""
    parent_of, names = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    head, rest = fh.read().rsplit(")", 1)
            except OSError:
                continue
            parent_of[int(entry)] = int(rest.split()[1])
            names[int(entry)] = head.split("(", 1)[1]
    mine, me = {}, os.getpid()
    for pid in parent_of:
        up = pid
        while up > 1 and up != me:
            up = parent_of.get(up, 1)
        if up == me and pid != me:
            mine[pid] = names[pid]
    return mine


def cpu_now(pipe: Pipeline, w: Any) -> dict[str, float]:
    """CPU seconds used so far by each part of the pipeline: this process (the uploading
    clients), the API's server processes, moto, the workers, and the Postgres backends
    connected now to the benchmark's database."""
    out = {"clients": time.process_time(), "API": 0.0, "moto": 0.0}
    for pid, name in _children_by_name().items():
        part = {"logpipe-http": "API", "logpipe-moto": "moto"}.get(name)
        if part is not None:
            try:
                out[part] += cpu_seconds(pid)
            except OSError:
                pass
    out["workers"] = w.cpu()
    out["Postgres"] = backends_cpu(pipe.settings)
    return out


def cpu_per_file(before: dict[str, float], after: dict[str, float], files: int) -> str:
    """Milliseconds of CPU per file, by part."""
    spent = {k: (after[k] - before[k]) * 1000 / files for k in after}
    parts = ", ".join(f"{k} {v:.1f}" for k, v in spent.items())
    return f"{parts}; {sum(spent.values()):.1f} ms in all"


def put_straight(pipe: Pipeline, files: list[SmallFile], clients: int) -> dict[str, SmallFile]:
    """Record each file as the API does and put its object in the bucket with boto3, the
    bucket's notifications off; returns the files by object key."""
    s3 = client("s3", pipe.settings)
    conn = db.connect(pipe.settings)
    try:
        rows = [
            files_db.create_upload(conn, name=f.name, size=len(f.content()), content_type="text/plain", kind="post")
            for f in files
        ]
    finally:
        conn.close()
    bucket = pipe.settings.bucket
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    notification.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:

        def put(pair: tuple[dict[str, Any], SmallFile]) -> None:
            s3.put_object(Bucket=bucket, Key=pair[0]["object_key"], Body=pair[1].content())

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(put, zip(rows, files, strict=True)))
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notification)
    return {str(row["object_key"]): f for row, f in zip(rows, files, strict=True)}


def notify(pipe: Pipeline, keys: list[str]) -> None:
    """Send the objects' notifications to the queue, ten to a request, as S3 would one by one."""
    queue = ingest_queue(pipe.settings)
    for at in range(0, len(keys), 10):
        queue.send([s3_event(pipe.settings.bucket, key) for key in keys[at : at + 10]])


def ingest_side(pipe: Pipeline, keys: list[str], worker_count: int, before: int) -> tuple[float, str]:
    """Seconds from the workers' start to the last of the objects under ``keys`` done, every
    notification queued before, and the CPU per file; ``before``: files done already."""
    notify(pipe, keys)
    t0 = time.monotonic()
    with workers(pipe.env, worker_count) as w:
        cpu0 = cpu_now(pipe, w)
        finished = wait_all_done(pipe, w, before + len(keys), t0)
        cpu = cpu_per_file(cpu0, cpu_now(pipe, w), len(keys))
    return finished - t0, cpu


def run(pipe: Pipeline, files: list[SmallFile], clients: int, worker_count: int, api_url: str | None = None) -> Result:
    """Upload ``files`` to ``api_url`` (the pipeline's own API if none) while the workers ingest them."""
    ids: dict[str, SmallFile] = {}
    local = threading.local()
    opened: list[Client] = []

    def one(f: SmallFile) -> tuple[str, SmallFile]:
        if not hasattr(local, "client"):
            local.client = Client(pipe, api_url or pipe.api_url)
            opened.append(local.client)
        return local.client.upload(f), f

    with workers(pipe.env, worker_count) as w:
        w.wait_settled()
        cpu0 = cpu_now(pipe, w)
        t0 = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            for file_id, f in pool.map(one, files):
                ids[file_id] = f
        uploaded = time.monotonic()
        for c in opened:
            c.close()
        say(f"  uploaded {len(files):,} files in {uploaded - t0:.1f} s; waiting for the workers")
        finished = wait_all_done(pipe, w, len(files), t0)
        cpu = cpu_per_file(cpu0, cpu_now(pipe, w), len(files))
    check_exact(pipe, ids)
    return Result(len(files), sum(f.lines for f in files), uploaded - t0, finished - t0, ids, cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=16, help="concurrent uploading clients")
    ap.add_argument("--workers", type=int, default=2, help="parse-worker processes (`logpipe run --workers`)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--http-processes", type=int, default=0, help="the API's server processes (0: as logpipe run)")
    args = ap.parse_args()

    say("small-files benchmark: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    files = small_files(args.files, args.seed)
    straight = [SmallFile(f"straight-{f.name}", f.lines) for f in small_files(args.files, args.seed + 1)]
    pipe = Pipeline()
    pipe.start()
    try:
        api_url = pipe.serve_as_runner(args.http_processes)
        r = run(pipe, files, args.clients, args.workers, api_url)
        say(f"  ingest side: putting {len(straight):,} more objects in the bucket, no worker running")
        by_key = put_straight(pipe, straight, args.clients)
        load = os.getloadavg()
        ingest_s, ingest_cpu = ingest_side(pipe, list(by_key), args.workers, len(files))
        ids = {file_id: by_key[key] for key, file_id in file_ids(pipe, list(by_key)).items()}
        check_exact(pipe, {**r.ids, **ids})
    finally:
        pipe.stop()
    say(f"  files: {r.files:,} of 1-60 lines ({r.lines:,} lines), {args.clients} clients, {args.workers} workers")
    say(f"  upload: {r.upload_rate:,.1f} files/s (presign + POST)")
    verdict = "meets" if r.rate >= TARGET_FILES_S else "BELOW"
    target = f"{verdict} the target of >= {TARGET_FILES_S:.0f} files/s"
    say(f"  end to end: {r.rate:,.1f} files/s, {r.lines / r.total_s:,.0f} lines/s ({target})")
    say(f"  CPU per file, end to end (ms): {r.cpu}")
    lines = sum(f.lines for f in straight)
    say(
        f"  ingest side: {len(straight) / ingest_s:,.1f} files/s, {lines / ingest_s:,.0f} lines/s "
        f"(objects in the bucket and their notifications queued before the workers started; "
        f"load {load[0]:.1f} then)"
    )
    say(f"  CPU per file, ingest side (ms): {ingest_cpu}")
    say("  counts: every file done with exactly its lines, each stored once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
