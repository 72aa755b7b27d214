"""Load (``make test-faults``): many uploads at once, every line of each stored once.

- 200 clients upload at the same moment, over HTTP, files of mixed sizes: one line, a few
  hundred, several chunks, gzip, and a multipart upload; worker processes ingest them.
- The small-files benchmark (bench/small_files_bench.py) on 200 files: its
  figures are printed, its counts checked.
"""

from __future__ import annotations

import gzip
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from logpipe.config import Settings
from logpipe.http import create_app, deps

import fault_table
from conftest import query, settings_env
from test_fault_suite import Workers, dead_letters, wait_for

pytestmark = [pytest.mark.services, pytest.mark.faults]

CLIENTS = 200
MiB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    name: str
    lines: int
    kind: str  # plain, gzip or multipart

    def content(self) -> bytes:
        pad = "x" * (1000 if self.kind == "multipart" else 10)  # a multipart upload needs > 5 MiB
        body = b"".join(
            f"2026-11-30T01:02:{i % 60:02d}Z WARN {self.name} record {i} {pad}\n".encode()
            for i in range(1, self.lines + 1)
        )
        return gzip.compress(body, 1) if self.kind == "gzip" else body


def mixed_uploads(rng: random.Random) -> list[Upload]:
    sizes = [("plain", 1, 1)] * 20 + [("plain", 2, 300)] * 140 + [("plain", 500, 2500)] * 28
    sizes += [("gzip", 500, 3000)] * 11 + [("multipart", 5500, 5500)]
    return [Upload(f"load-{n:03d}.log", rng.randint(lo, hi), kind) for n, (kind, lo, hi) in enumerate(sizes)]


@pytest.fixture
def served_api(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, str]]:
    """The HTTP API on a port of its own, threaded as ``logpipe run`` serves it."""
    settings = make_settings(chunk_bytes=16 * 1024, batch_rows=500, multipart_threshold=5 * MiB)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    deps.close(app)


def send(api: str, token: str, u: Upload) -> str:
    """What a browser does: presign, send the bytes to the bucket, complete a multipart upload."""
    headers = {"Authorization": f"Bearer {token}"}
    data = u.content()
    r = requests.post(f"{api}/api/uploads", json={"filename": u.name, "size": len(data)}, headers=headers, timeout=120)
    assert r.status_code == 201, r.text
    body = r.json()
    up = body["upload"]
    if up["method"] == "POST":
        sent = requests.post(up["url"], data=up["fields"], files={"file": (u.name, data)}, timeout=120)
        assert sent.status_code in (200, 204), sent.text
        return str(body["file_id"])
    etags = []
    for part in up["parts"]:
        n = part["part_number"]
        sent = requests.put(part["url"], data=data[(n - 1) * up["part_size"] : n * up["part_size"]], timeout=120)
        assert sent.status_code == 200, sent.text
        etags.append({"part_number": n, "etag": sent.headers["ETag"]})
    done = requests.post(
        f"{api}/api/uploads/{body['file_id']}/complete", json={"parts": etags}, headers=headers, timeout=120
    )
    assert done.status_code in (200, 202), done.text
    return str(body["file_id"])


def test_200_concurrent_uploads_of_mixed_sizes_are_stored_exactly(
    served_api: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, api = served_api
    uploads = mixed_uploads(random.Random(f"{fault_table.SEED}:load"))
    assert len(uploads) == CLIENTS and {u.kind for u in uploads} == {"plain", "gzip", "multipart"}

    ids: dict[str, Upload] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(CLIENTS)
    lock = threading.Lock()

    def client(u: Upload) -> None:
        try:
            start.wait(timeout=120)  # all at once
            file_id = send(api, settings.api_token, u)
            with lock:
                ids[file_id] = u
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "RABBITMQ_", "LOGPIPE_"))},
        **settings_env(settings),
        "LOGPIPE_OUTAGE_RETRY_S": "1",
    }
    workers = Workers(env, tmp_path)
    for _ in range(2):
        workers.start()
    try:
        threads = [threading.Thread(target=client, args=(u,)) for u in uploads]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert len(ids) == CLIENTS

        def all_done() -> bool:
            rows = query(settings, "SELECT count(*) FROM files WHERE status IN ('done', 'failed')")
            return int(rows[0][0]) >= CLIENTS

        wait_for(all_done, f"{CLIENTS} files ingested", workers.tails)
    finally:
        workers.stop()

    files = {str(r[0]): r[1:] for r in query(settings, "SELECT id, status, lines, events FROM files")}
    stored = {
        str(r[0]): r[1:]
        for r in query(
            settings, "SELECT file_id, count(*), count(DISTINCT line), max(line) FROM events GROUP BY file_id"
        )
    }
    wrong = [
        (u.name, u.kind, u.lines, files.get(file_id), stored.get(file_id))
        for file_id, u in ids.items()
        if files.get(file_id) != ["done", u.lines, u.lines] or stored.get(file_id) != [u.lines, u.lines, u.lines]
    ]
    assert wrong == [] and len(files) == CLIENTS
    lines = sum(u.lines for u in uploads)
    fault_table.ROWS.append(fault_table.Row(f"{CLIENTS} concurrent uploads (load)", "sqs", 1, lines, 0, 0))
    assert dead_letters(settings) == []


@pytest.mark.services
def test_small_files_bench_stores_every_file_exactly(capsys: Any) -> None:
    """The benchmark's own run, smaller: it raises when a count is off."""
    import small_files_bench as bench

    pipe = bench.Pipeline()
    pipe.start()
    try:
        result = bench.run(pipe, bench.small_files(200, seed=2), clients=16, worker_count=2)
    finally:
        pipe.stop()
    assert result.files == 200
    with capsys.disabled():
        print(f"\nsmall files: {result.rate:.1f} files/s end to end, {result.upload_rate:.1f} files/s uploaded")
