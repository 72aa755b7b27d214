"""The small files of a batch, handled together: planned, parsed, and committed in one
transaction with one COPY, each still exactly once, and each failing on its own.

Real SQS (moto's server), real RabbitMQ and real Postgres. A poisoned file is one whose
lines make the parser raise (injected in this process) or whose stored parsing options
are bad; a worker killed with -9 is killed by the proxy in front of Postgres in the
middle of the batch's COPY.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pg8000.native
import pytest

from logpipe.config import Settings
from logpipe.ingest import Context, handle_deliveries, s3_event
from logpipe.ingest.lambda_events import handle_event
from logpipe.ingest.sweep import requeue_stalled
from logpipe.parsing.formats import Parser
from logpipe.queue import Delivery, ingest_queue, work_queue
from logpipe.queue.rabbitmq import ATTEMPT
from logpipe.storage import Bucket
from logpipe_local.consumer import sqs_event

from conftest import Api, dead_letters, pump, query, settings_env
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.services

FILES = 10  # a full batch: the most messages SQS hands out at once
POISON = "POISON"


def lines_of(n: int, lines: int) -> bytes:
    return b"".join(f"2026-11-30T00:00:{i % 60:02d}Z INFO file {n} line {i}\n".encode() for i in range(1, lines + 1))


def upload_batch(api: Api, poisoned: int | None = None) -> list[tuple[str, int]]:
    """Ten small files, the ``poisoned`` one with a line the injected fault makes the parser
    raise on; (file id, lines) of each."""
    out = []
    for n in range(FILES):
        lines = 3 + n * 4
        data = lines_of(n, lines)
        if n == poisoned:
            data += f"2026-11-30T00:01:00Z INFO file {n} line {lines + 1} {POISON}\n".encode()
            lines += 1
        out.append((api.upload(f"step-{n}.log", data), lines))
    return out


def key_of(settings: Settings, file_id: str) -> str:
    return str(query(settings, "SELECT object_key FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0])


def notifications(settings: Settings, files: list[tuple[str, int]]) -> list[str]:
    return [s3_event(settings.bucket, key_of(settings, file_id)) for file_id, _ in files]


def assert_exact(settings: Settings, file_id: str, lines: int) -> None:
    """The file is done with each of its lines stored exactly once."""
    assert query(settings, "SELECT status, lines, events FROM files WHERE id = CAST(:f AS uuid)", f=file_id) == [
        ["done", lines, lines]
    ]
    assert query(
        settings,
        "SELECT count(*), count(DISTINCT line), min(line), max(line) FROM events WHERE file_id = CAST(:f AS uuid)",
        f=file_id,
    ) == [[lines, lines, 1, lines]]


def events_of(settings: Settings, files: list[tuple[str, int]]) -> int:
    ids = [file_id for file_id, _ in files]
    return int(query(settings, "SELECT count(*) FROM events WHERE file_id = ANY(CAST(:f AS uuid[]))", f=ids)[0][0])


@pytest.fixture
def poisoned_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser raises on a line that holds POISON, in this process: a file that cannot
    be parsed, whatever is tried, until the fault is lifted."""
    parse = Parser.parse

    def poisoned(self: Parser, line: str) -> Any:
        if POISON in line:
            raise RuntimeError("poisoned line")
        return parse(self, line)

    monkeypatch.setattr(Parser, "parse", poisoned)  # the lane reads lines without it: tests turn it off


class Counted:
    """A connection that counts the statements and transactions sent through it."""

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self.conn = conn
        self.statements = 0
        self.commits = 0

    def run(self, sql: str, **kw: Any) -> Any:
        self.statements += 1
        self.commits += sql == "COMMIT"
        return self.conn.run(sql, **kw)

    def close(self) -> None:
        self.conn.close()


# -- one batch, one transaction ---------------------------------------------------------------


def test_a_batch_of_small_files_is_committed_in_one_transaction(api: Api) -> None:
    settings = api.settings
    files = upload_batch(api)
    deliveries = [Delivery(str(n), body, 1) for n, body in enumerate(notifications(settings, files))]
    ctx = Context(settings)
    try:
        ctx.miner  # noqa: B018 - its start (the templates known so far) is not the batch's cost
        counted = Counted(ctx.conn)
        ctx._conn = counted  # type: ignore[assignment]
        outcomes = handle_deliveries(ctx, deliveries, time.monotonic() + 600)
    finally:
        ctx.close()
    assert [o.action for o in outcomes] == ["ack"] * FILES
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    # One transaction writes them all (another may create the month's partition first),
    # where each file took five, and a few statements for the ten, where each took about 25.
    assert counted.commits <= 2
    assert counted.statements <= 20


def test_the_same_batch_delivered_twice_and_at_once_stores_each_line_once(api: Api) -> None:
    settings = api.settings
    files = upload_batch(api)
    bodies = notifications(settings, files)
    deliveries = [Delivery(str(n), body, 1) for n, body in enumerate(bodies)]

    def handle() -> list[str]:
        ctx = Context(settings)
        try:
            return [o.action for o in handle_deliveries(ctx, deliveries, time.monotonic() + 600)]
        finally:
            ctx.close()

    # Two workers at once (a message seen by both), then a third time after both.
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(handle())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [["ack"] * FILES] * 2
    assert handle() == ["ack"] * FILES
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    assert dead_letters(settings) == []


def test_a_batch_of_uploads_objects_put_without_a_presign_and_a_gone_one(api: Api) -> None:
    """The objects are read while the first ones are parsed (``plan.plan_small``): those put
    in the bucket without a presign are recorded after every read, and still committed with
    the batch; a key whose object is gone goes the usual way, alone."""
    settings = api.settings
    files = upload_batch(api)[:4]
    s3 = Bucket(settings).s3
    straight = {f"drop/step-{n}.log": 5 + n for n in range(4)}
    for key, lines in straight.items():
        s3.put_object(Bucket=settings.bucket, Key=key, Body=lines_of(100, lines))
    keys = [key_of(settings, file_id) for file_id, _ in files] + list(straight) + ["drop/gone.log"]
    keys.insert(2, keys.pop())  # the gone one among the others
    deliveries = [Delivery(str(n), s3_event(settings.bucket, key), 1) for n, key in enumerate(keys)]
    ctx = Context(settings)
    try:
        ctx.miner  # noqa: B018 - its start is not the batch's cost
        counted = Counted(ctx.conn)
        ctx._conn = counted  # type: ignore[assignment]
        outcomes = handle_deliveries(ctx, deliveries, time.monotonic() + 600)
    finally:
        ctx.close()
    assert [o.action for o in outcomes] == ["ack" if k != "drop/gone.log" else "dead_letter" for k in keys]
    assert counted.commits <= 2  # the eight together (each alone took four or five)
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    for key, lines in straight.items():
        (file_id,) = query(settings, "SELECT CAST(id AS text) FROM files WHERE object_key = :k", k=key)[0]
        assert_exact(settings, file_id, lines)


def test_a_read_that_fails_after_files_were_parsed_sends_the_batch_the_usual_way(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last object's read raises what no read should (in this process), after the files
    before it were parsed: nothing of the batch is committed together, every message goes
    the usual way, and only the failing one is retried; then it is done, once."""
    settings = api.settings
    files = upload_batch(api)
    keys = [key_of(settings, file_id) for file_id, _ in files]
    read_start = Bucket.read_start

    def failing(self: Bucket, key: str, n: int) -> Any:
        if key == keys[-1]:
            raise RuntimeError("injected: the read broke")
        return read_start(self, key, n)

    monkeypatch.setattr(Bucket, "read_start", failing)
    deliveries = [Delivery(str(n), s3_event(settings.bucket, key), 1) for n, key in enumerate(keys)]
    ctx = Context(settings)
    try:
        outcomes = handle_deliveries(ctx, deliveries, time.monotonic() + 600)
        assert [o.action for o in outcomes] == ["ack"] * (FILES - 1) + ["retry"]
        monkeypatch.setattr(Bucket, "read_start", read_start)
        again = handle_deliveries(ctx, [Delivery("again", deliveries[-1].body, 2)], time.monotonic() + 600)
    finally:
        ctx.close()
    assert [o.action for o in again] == ["ack"]
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    assert int(query(settings, "SELECT count(*) FROM events")[0][0]) == sum(lines for _, lines in files)


# -- one bad file among good ones -------------------------------------------------------------


def received(settings: Settings, files: list[tuple[str, int]]) -> list[Delivery]:
    """The bucket's notifications of ``files`` (and any S3 test event before them), taken
    from the ingest queue as Lambda's trigger takes them."""
    queue = ingest_queue(settings)
    got: list[Delivery] = []
    deadline = time.monotonic() + 30
    while not all(any(file_id in d.body for d in got) for file_id, _ in files):  # keys are uploads/<file id>
        assert time.monotonic() < deadline, f"only {len(got)} messages came"
        got += queue.receive(10, wait_s=1)
    return got


def test_a_poisoned_file_in_an_sqs_batch_is_retried_alone_then_dead_lettered(
    make_api: Callable[..., Api], poisoned_parser: None
) -> None:
    api = make_api(max_attempts=2, compiled_lane=False)
    settings = api.settings
    files = upload_batch(api, poisoned=4)
    bad_id, _ = files[4]
    deliveries = received(settings, files)
    [bad] = [d for d in deliveries if bad_id in d.body]
    ctx = Context(settings)
    try:
        # First try: only the poisoned file's message is reported back to Lambda.
        event = sqs_event(ingest_queue(settings), deliveries)
        assert handle_event(ctx, event, time.monotonic() + 600) == {"batchItemFailures": [{"itemIdentifier": bad.id}]}
        for n, (file_id, lines) in enumerate(files):
            if n != 4:
                assert_exact(settings, file_id, lines)
        assert events_of(settings, [files[4]]) == 0
    finally:
        ctx.close()
    # Its tries go on as the usual path's (its chunk's message, retried then dead-lettered),
    # and touch no other file.
    deadline = time.monotonic() + 120
    while not dead_letters(settings):
        assert time.monotonic() < deadline, "the poisoned file was never dead-lettered"
        pump(settings, idle_rounds=1)
    assert all("poisoned line" in d.error for d in dead_letters(settings))
    status, failure = query(settings, "SELECT status, failure FROM files WHERE id = CAST(:f AS uuid)", f=bad_id)[0]
    assert (status, failure) == ("failed", "dead_lettered")
    for n, (file_id, lines) in enumerate(files):
        if n != 4:
            assert_exact(settings, file_id, lines)


def test_a_file_with_bad_parsing_options_is_dead_lettered_and_the_batch_goes_on(api: Api) -> None:
    settings = api.settings
    files = upload_batch(api)
    bad_id, _ = files[7]
    query(settings, "UPDATE files SET source_format = 'no-such-format' WHERE id = CAST(:f AS uuid)", f=bad_id)
    deliveries = [Delivery(str(n), body, 1) for n, body in enumerate(notifications(settings, files))]
    ctx = Context(settings)
    try:
        outcomes = handle_deliveries(ctx, deliveries, time.monotonic() + 600)
    finally:
        ctx.close()
    assert [o.action for o in outcomes] == ["ack"] * 7 + ["dead_letter"] + ["ack"] * 2
    assert "bad parsing options" in (outcomes[7].error or "")
    assert query(settings, "SELECT status FROM files WHERE id = CAST(:f AS uuid)", f=bad_id) == [["failed"]]
    for n, (file_id, lines) in enumerate(files):
        if n != 7:
            assert_exact(settings, file_id, lines)


def rmq_message(body: str, attempt: int) -> dict[str, Any]:
    return {
        "basicProperties": {"contentType": "application/json", "headers": {ATTEMPT: attempt}, "deliveryMode": 2},
        "redelivered": False,
        "data": base64.b64encode(body.encode()).decode("ascii"),
    }


def test_a_poisoned_file_in_a_rabbitmq_batch_is_retried_alone(rabbit_settings: Settings, poisoned_parser: None) -> None:
    api = Api(replace(rabbit_settings, compiled_lane=False))  # the parser reads every line
    settings = api.settings
    try:
        files = upload_batch(api, poisoned=2)
        bodies = notifications(settings, files)
        event = {
            "eventSource": "aws:rmq",
            "rmqMessagesByQueue": {f"{settings.rabbitmq_queue}::/": [rmq_message(b, 1) for b in bodies]},
        }
        ctx = Context(settings)
        try:
            assert handle_event(ctx, event, time.monotonic() + 600) == {}
        finally:
            ctx.close()
    finally:
        api.close()
    for n, (file_id, lines) in enumerate(files):
        if n != 2:
            assert_exact(settings, file_id, lines)
    assert events_of(settings, [files[2]]) == 0
    # Its retry waits in the retry queue (or, its delay over, is back in the work queue);
    # it alone, and nothing is dead.
    q = work_queue(settings)
    try:
        assert q.list_dead() == []
        assert sum(n for _, role, n in q.depth() if role in ("retry", "work")) == 1
    finally:
        q.close()


# -- a worker killed with -9 in the middle of a batch -----------------------------------------


def worker_killed_mid_batch(settings: Settings, marker: bytes, tmp_path: Path) -> None:
    """Start a worker process (as `logpipe run` does) that reaches Postgres through a proxy,
    which kills it with -9 the moment ``marker`` goes by in a COPY."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "RABBITMQ_", "LOGPIPE_"))},
        **settings_env(settings),
    }
    code = "from logpipe_local.consumer import run_worker; run_worker('parse-worker', {})"
    procs: list[subprocess.Popen[bytes]] = []
    started = threading.Event()

    def kill() -> None:
        assert started.wait(60)
        procs[0].send_signal(signal.SIGKILL)

    with TcpProxy(settings.psql_addr, settings.psql_port) as postgres:
        postgres.when_sent(marker, kill)
        env.update(settings_env(replace(settings, psql_port=postgres.port)))
        with open(tmp_path / "worker.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log))
        started.set()
        try:
            procs[0].wait(timeout=120)  # a guard against a hang, not a timing assertion
        finally:
            if procs[0].poll() is None:
                procs[0].kill()
                procs[0].wait()
    assert procs[0].returncode == -signal.SIGKILL, (tmp_path / "worker.log").read_text()


def test_worker_killed_mid_batch_on_sqs_loses_and_duplicates_nothing(api: Api, tmp_path: Path) -> None:
    settings = api.settings
    files = upload_batch(api)  # their notifications wait in the queue: the worker takes them at once
    worker_killed_mid_batch(settings, b"\tfile 6 line 9\t", tmp_path)
    # The batch is one transaction: nothing of any of its files was written.
    assert events_of(settings, files) == 0
    # What `logpipe run` does at start (the killed worker's messages would come back by
    # themselves after their visibility timeout, a minute locally), then a new worker.
    ctx = Context(settings)
    try:
        assert requeue_stalled(ctx) == FILES
    finally:
        ctx.close()
    pump(settings)
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    assert dead_letters(settings) == []


@pytest.fixture
def rabbit_api(rabbit_settings: Settings) -> Iterator[Api]:
    a = Api(rabbit_settings)
    yield a
    a.close()


def test_worker_killed_mid_batch_on_rabbitmq_loses_and_duplicates_nothing(rabbit_api: Api, tmp_path: Path) -> None:
    settings = rabbit_api.settings
    files = upload_batch(rabbit_api)
    # The notifications travel RabbitMQ (as a replay of dead-lettered ones does), not SQS.
    sqs = ingest_queue(settings)
    sqs.sqs.purge_queue(QueueUrl=sqs.url(sqs.name))
    q = work_queue(settings)
    try:
        q.send(notifications(settings, files))
    finally:
        q.close()
    worker_killed_mid_batch(settings, b"\tfile 3 line 11\t", tmp_path)
    assert events_of(settings, files) == 0
    # The broker gives the killed worker's messages back at once; a new worker takes them.
    pump(settings)
    for file_id, lines in files:
        assert_exact(settings, file_id, lines)
    assert dead_letters(settings) == []
