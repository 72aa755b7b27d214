"""Shared fixtures: real PostgreSQL (127.0.0.1:5432), real RabbitMQ (127.0.0.1:5672) and
moto's server, each test module with its own database, bucket, queues and vhost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pg8000.native
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata"
LOGHUB = SHARED / "loghub"
sys.path.insert(0, str(ROOT / "local"))
sys.path.insert(0, str(ROOT / "bench"))  # patterns_accuracy: grouping accuracy on Loghub

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from logpipe import db  # noqa: E402
from logpipe.config import Settings  # noqa: E402
from logpipe.db.migrate import migrate  # noqa: E402
from logpipe.http import create_app, deps  # noqa: E402
from logpipe.ingest import Context, handle_deliveries  # noqa: E402
from logpipe.queue import WorkQueue, all_queues, ingest_queue, work_queue  # noqa: E402

# The fault suite's table (make test-faults), printed at the end of the run.
from fault_table import pytest_terminal_summary  # noqa: E402, F401

# The `services` mark, derived from the fixtures and enforced (see service_marks.py).
from service_marks import _service_guard, pytest_collection_modifyitems  # noqa: E402, F401

PG_HOST = os.environ.get("TEST_PSQL_ADDR", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PSQL_PORT", "5432"))
PG_USER = os.environ.get("TEST_PSQL_USER", "postgres")
RABBIT = os.environ.get("TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
TOKEN = "test-token-" + "x" * 20

# Every way the worker reads a file: through the compiled lane or the Python path, from
# plain or gzip bytes. Tests take it as the arguments ``lane`` and ``compress``.
EVERY_READ = pytest.mark.parametrize(
    ("lane", "compress"),
    [(lane, compress) for lane in (True, False) for compress in (False, True)],
    ids=[f"{lane}-{form}" for lane in ("compiled-lane", "python-path") for form in ("plain", "gzip")],
)


# Without ../shared beside the clone (as anyone who clones the repository has it) the
# tests that read the samples skip, saying so. CI lays ../shared beside its clone: there
# a missing sample fails the test, so that a moved folder cannot turn them into skips.
needs_loghub = pytest.mark.shared_data(LOGHUB)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("shared_data"):
        path = mark.args[0]
        if path.is_dir():
            continue
        if os.environ.get("CI"):
            pytest.fail(f"CI runs with ../shared beside the clone, but {path} is missing", pytrace=False)
        pytest.skip(f"needs the research-licensed samples at {path} (../shared beside the clone), absent here")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _admin() -> pg8000.native.Connection:
    try:
        return pg8000.native.Connection(user=PG_USER, host=PG_HOST, port=PG_PORT, database="postgres")
    except Exception as exc:  # noqa: BLE001 - turned into a message that says what to do
        pytest.fail(f"PostgreSQL must answer at {PG_HOST}:{PG_PORT} for these tests (`make services`): {exc}")


def make_database() -> str:
    name = f"logpipe_test_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    conn.run(f"CREATE DATABASE {name}")
    conn.close()
    return name


def drop_database(name: str) -> None:
    conn = _admin()
    conn.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


@pytest.fixture(scope="session")
def rabbit_vhost() -> Iterator[str]:
    """A vhost of the tests' own, removed afterwards (the default one when rabbitmqctl is absent)."""
    ctl = shutil.which("rabbitmqctl")
    vhost = f"logpipe_test_{uuid.uuid4().hex[:8]}"
    if ctl is None:
        yield ""
        return
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    yield vhost
    subprocess.run([ctl, "delete_vhost", vhost], check=False, capture_output=True)


def build_settings(moto_endpoint: str, database: str, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:8]
    base: dict[str, Any] = dict(
        psql_addr=PG_HOST,
        psql_port=PG_PORT,
        psql_user=PG_USER,
        psql_db=database,
        aws_endpoint_url=moto_endpoint,
        bucket=f"logpipe-test-{tag}",
        ingest_queue=f"logpipe-test-{tag}",
        dead_letter_queue=f"logpipe-test-{tag}-dlq",
        api_token=TOKEN,
        outage_retry_s=1,
    )
    base.update(overrides)
    return Settings.from_env({}, **base)


MIXED = (
    b"2026-11-27 03:13:14,123 ERROR something broke\n"
    b'{"time":"2026-11-27T03:13:15Z","level":"info","msg":"hello","user":{"id":7}}\n'
    b'ts=2026-11-27T03:13:16Z level=warn msg="logfmt line" took=3ms\n'
    b"no timestamp here\n"
)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a process (the CLI, a worker) use ``settings``."""
    env = {
        "PSQL_ADDR": settings.psql_addr,
        "PSQL_PORT": str(settings.psql_port),
        "PSQL_USER": settings.psql_user,
        "PSQL_PASS": settings.psql_pass,
        "PSQL_DB": settings.psql_db,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "LOGPIPE_BUCKET": settings.bucket,
        "LOGPIPE_INGEST_QUEUE": settings.ingest_queue,
        "LOGPIPE_DLQ": settings.dead_letter_queue,
        "LOGPIPE_API_TOKEN": settings.api_token,
        "LOGPIPE_CHUNK_BYTES": str(settings.chunk_bytes),
        "LOGPIPE_BATCH_ROWS": str(settings.batch_rows),
    }
    if settings.rabbitmq_url:
        env["RABBITMQ_URL"] = settings.rabbitmq_url
        env["LOGPIPE_RABBITMQ_QUEUE"] = settings.rabbitmq_queue
    return env


def provision(settings: Settings) -> None:
    from logpipe_local.stack import provision_aws

    conn = db.connect(settings)
    migrate(conn)
    conn.close()
    provision_aws(settings)


@pytest.fixture
def make_settings(moto_endpoint: str) -> Iterator[Callable[..., Settings]]:
    """Settings factory: each call gets a fresh database, bucket and queues (dropped at teardown)."""
    databases: list[str] = []

    def factory(**overrides: Any) -> Settings:
        name = make_database()
        databases.append(name)
        s = build_settings(moto_endpoint, name, **overrides)
        provision(s)
        return s

    yield factory
    for name in databases:
        drop_database(name)


@pytest.fixture
def rabbit_settings(make_settings: Callable[..., Settings], rabbit_vhost: str) -> Iterator[Settings]:
    from urllib.parse import quote

    url = f"{RABBIT}/{quote(rabbit_vhost, safe='')}" if rabbit_vhost else RABBIT
    s = make_settings(rabbitmq_url=url, rabbitmq_queue=f"logpipe.test.{uuid.uuid4().hex[:8]}")
    yield s
    q = work_queue(s)
    try:
        ch = q._channel()  # type: ignore[attr-defined]
        for name in q.queue_names:
            ch.queue_delete(name)
    finally:
        q.close()


class Api:
    """The HTTP API through Flask's test client, with the token already set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = create_app(settings).test_client()
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def close(self) -> None:
        deps.close(self.client.application)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=kw.pop("headers", self.headers), **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers=kw.pop("headers", self.headers), **kw)

    def upload(self, name: str, data: bytes, declared: int | None = None) -> str:
        """Presign, then send the bytes straight to the bucket as a browser would."""
        r = self.post("/api/uploads", json={"filename": name, "size": len(data) if declared is None else declared})
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        up = body["upload"]
        if up["method"] == "POST":
            sent = requests.post(up["url"], data=up["fields"], files={"file": ("blob", data)}, timeout=60)
            assert sent.status_code in (200, 204), sent.text
        else:
            etags = []
            for part in up["parts"]:
                n = part["part_number"]
                piece = data[(n - 1) * up["part_size"] : n * up["part_size"]]
                sent = requests.put(part["url"], data=piece, timeout=60)
                assert sent.status_code == 200, sent.text
                etags.append({"part_number": n, "etag": sent.headers["ETag"]})
            done = self.post(f"/api/uploads/{body['file_id']}/complete", json={"parts": etags})
            assert done.status_code in (200, 202), done.get_json()
        return str(body["file_id"])

    def file(self, file_id: str) -> dict[str, Any]:
        r = self.get(f"/api/files/{file_id}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()  # type: ignore[no-any-return]

    def events(self, file_id: str, columns: str) -> list[list[Any]]:
        """``columns`` of the file's stored events, in line order."""
        return query(
            self.settings, f"SELECT {columns} FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line", f=file_id
        )


@pytest.fixture
def make_api(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Api]]:
    """Api factory: ``make_api(chunk_bytes=...)`` gets its own settings, database and bucket."""
    made: list[Api] = []

    def factory(**overrides: Any) -> Api:
        made.append(Api(make_settings(**overrides)))
        return made[-1]

    yield factory
    for a in made:
        a.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def pump(
    settings: Settings, *, idle_rounds: int = 2, timeout_s: float = 120, wait_s: float = 0.3, ctx: Context | None = None
) -> int:
    """Work the queues in this process until they stay empty; returns how many messages it handled.

    Fails when they are still busy after ``timeout_s``: a test never goes on as if they were done.
    """
    own = ctx is None
    ctx = ctx or Context(settings)
    queues: list[WorkQueue] = [ingest_queue(settings)]
    if settings.rabbitmq_url:
        queues.append(work_queue(settings))
    handled, idle, deadline = 0, 0, time.monotonic() + timeout_s
    try:
        while idle < idle_rounds:
            assert time.monotonic() < deadline, f"the queues were still busy after {timeout_s} s ({handled} handled)"
            got = 0
            for q in queues:
                deliveries = q.receive(10, wait_s=wait_s)
                got += len(deliveries)
                for d, outcome in zip(
                    deliveries, handle_deliveries(ctx, deliveries, time.monotonic() + 600), strict=True
                ):
                    q.settle(d, outcome)
            handled += got
            idle = 0 if got else idle + 1
    finally:
        if own:
            ctx.close()
        for q in queues:
            q.close()
    return handled


def index_concurrently(settings: Settings, runners: int = 4, step_entries: int = 2) -> list[Any]:
    """Several indexers at once, each stepping until caught up; what each step reported."""
    import threading

    from logpipe.search.indexer import index_pending

    results: list[Any] = []

    def run() -> None:
        conn = db.connect(settings)
        try:
            while True:
                progress = index_pending(conn, budget_s=0.0, step_entries=step_entries)
                results.append(progress)
                if progress.caught_up:
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def query(settings: Settings, sql: str, **params: Any) -> list[list[Any]]:
    conn = db.connect(settings)
    try:
        return conn.run(sql, **params)  # type: ignore[no-any-return]
    finally:
        conn.close()


def dead_letters(settings: Settings) -> list[Any]:
    """What the dead-letter queues of ``settings`` hold, on every queue the pipeline has."""
    queues = all_queues(settings)
    try:
        return [d for q in queues for d in q.list_dead()]
    finally:
        for q in queues:
            q.close()
