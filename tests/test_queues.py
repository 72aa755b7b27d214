"""Both queue backends, the dead-letter queue and its CLI, and Lambda's queue event shapes.

Real SQS (moto's server), real RabbitMQ and real Postgres: messages are sent, received,
retried and dead-lettered by the broker and read back from it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pika
import pytest

from logpipe.aws import client
from logpipe.config import Settings
from logpipe.ingest import Context, chunk_message, handle_deliveries, s3_event
from logpipe.ingest.lambda_events import handle_event
from logpipe.queue import DeadLetter, Delivery, WorkQueue, ingest_queue, work_queue
from logpipe.queue.base import Outcome
from logpipe.queue.rabbitmq import ATTEMPT, retry_step_s

from conftest import MIXED, Api, pump, query, settings_env
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.services

UNKNOWN_FILE = "00000000-0000-4000-8000-000000000000"
# Each is refused for what it is, on its first try: body -> the error it is dead-lettered with.
POISON = {
    "not json": "message is not JSON",
    "[1, 2]": "message is not a JSON object",
    '{"kind": "chunk"}': "chunk message needs a UUID 'file_id'",
    '{"kind": "chunk", "file_id": "nope", "seq": 0}': "chunk message needs a UUID 'file_id'",
    '{"kind": "chunk", "file_id": "' + UNKNOWN_FILE + '", "seq": 0}': f"no chunk 0 of file {UNKNOWN_FILE}",
    '{"kind": "mystery"}': "unknown message",
}


def numbered_lines(n: int, marker: int | None = None) -> bytes:
    """``n`` lines whose message says their number; line ``marker`` also says QUARANTINE."""
    return b"".join(
        f"2026-11-27T00:00:{i % 60:02d}Z INFO line number {i}{' QUARANTINE' if i == marker else ''}\n".encode()
        for i in range(1, n + 1)
    )


FILE_ROW = ("status", "lines", "events", "error", "chunks_total", "chunks_done", "failure")


def file_row(settings: Settings, file_id: str) -> dict[str, Any]:
    rows = query(settings, f"SELECT {', '.join(FILE_ROW)} FROM files WHERE id = CAST(:f AS uuid)", f=file_id)
    return dict(zip(FILE_ROW, rows[0], strict=True))


def event_lines(settings: Settings, file_id: str) -> list[Any]:
    """count, distinct lines, min, max, and whether each message carries its own line number."""
    return query(
        settings,
        "SELECT count(*), count(DISTINCT line), min(line), max(line), "
        "bool_and(message LIKE 'line number ' || line || '%') FROM events WHERE file_id = CAST(:f AS uuid)",
        f=file_id,
    )[0]


def plan(settings: Settings, file_id: str) -> int:
    """Handle the ingest queue's messages one by one until the file is planned; returns its chunk count.

    Only planning happens: the chunk messages it sends stay queued.
    """
    q = ingest_queue(settings)
    ctx = Context(settings)
    deadline = time.monotonic() + 30
    try:
        while (chunks := file_row(settings, file_id)["chunks_total"]) is None:
            assert time.monotonic() < deadline, "the bucket's notification did not come"
            for d, outcome in zip(
                ds := q.receive(1, wait_s=0.2), handle_deliveries(ctx, ds, time.monotonic() + 600), strict=True
            ):
                q.settle(d, outcome)
        return int(chunks)
    finally:
        ctx.close()


def pump_until(settings: Settings, done: Callable[[], bool], timeout_s: float = 60) -> None:
    """Pump until ``done()``; while retried messages wait out their delay, the queues are
    long-polled, so a message is taken as soon as it shows."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the queues did not get there in time"
        pump(settings, idle_rounds=1, wait_s=1)


def rabbit_depth(settings: Settings, queue: str) -> int:
    """How many ready messages the broker holds in ``queue`` (a passive declare, which changes nothing)."""
    conn = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def sqs_depth(settings: Settings, queue: str) -> int:
    sqs = client("sqs", settings)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def letters(queue: WorkQueue) -> list[tuple[str, str, int]]:
    return sorted((d.body, d.error, d.attempts) for d in queue.list_dead())


def assert_poison_dead_lettered(dead: list[DeadLetter]) -> None:
    by_body = {d.body: d for d in dead}
    assert sorted(by_body) == sorted(POISON)
    for body, reason in POISON.items():
        assert reason in by_body[body].error, (body, by_body[body].error)
        assert by_body[body].attempts == 1  # permanent: dead-lettered on the first try, not retried
        assert by_body[body].failed_at


@pytest.fixture
def rabbit_api(rabbit_settings: Settings) -> Iterator[Api]:
    """An API over RabbitMQ settings with small chunks, so that one file makes many chunk messages."""
    a = Api(replace(rabbit_settings, chunk_bytes=4096, batch_rows=100))
    yield a
    a.close()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli(settings, "dlq", "list")``: the ``logpipe`` command, with the environment naming ``settings``."""
    from logpipe_local.cli import main

    data_dir = tmp_path / "data"

    def run(settings: Settings, *args: str) -> tuple[int, str]:
        env = settings_env(settings)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(["--data-dir", str(data_dir), *args])
        out = capsys.readouterr().out
        # The configured services were used: nothing embedded was started in the data folder.
        assert not (data_dir / "postgres").exists()
        assert not (data_dir / "moto").exists()
        return code, out

    return run


# -- RabbitMQ end to end ---------------------------------------------------------------------


def test_rabbitmq_carries_the_chunks_of_a_file(rabbit_api: Api) -> None:
    settings = rabbit_api.settings
    file_id = rabbit_api.upload("over-rabbit.log", numbered_lines(2000))

    chunks = plan(settings, file_id)
    assert chunks > 5
    # Every chunk message waits in RabbitMQ, none in SQS.
    assert rabbit_depth(settings, settings.rabbitmq_queue) == chunks
    assert sqs_depth(settings, settings.ingest_queue) == 0

    assert pump(settings) == chunks
    f = rabbit_api.file(file_id)
    assert (f["status"], f["lines"], f["events"]) == ("done", 2000, 2000)
    assert event_lines(settings, file_id) == [2000, 2000, 1, 2000, True]
    assert rabbit_depth(settings, settings.rabbitmq_queue) == 0
    assert rabbit_depth(settings, f"{settings.rabbitmq_queue}.dlq") == 0


# -- poison messages -------------------------------------------------------------------------


def test_poison_messages_on_sqs_are_dead_lettered_and_work_goes_on(api: Api) -> None:
    settings = api.settings
    q = ingest_queue(settings)
    q.send(list(POISON))
    file_id = api.upload("fine.log", MIXED)

    pump(settings)

    f = api.file(file_id)
    assert (f["status"], f["events"]) == ("done", 4)
    assert_poison_dead_lettered(q.list_dead())
    # Listing takes nothing away.
    assert letters(q) == letters(q)
    assert len(q.list_dead()) == len(POISON)
    assert sqs_depth(settings, settings.ingest_queue) == 0


def test_poison_messages_on_rabbitmq_are_dead_lettered_and_work_goes_on(rabbit_api: Api) -> None:
    settings = rabbit_api.settings
    q = work_queue(settings)
    try:
        q.send(list(POISON))
        file_id = rabbit_api.upload("fine.log", numbered_lines(1000))

        pump(settings)

        f = rabbit_api.file(file_id)
        assert (f["status"], f["events"]) == ("done", 1000)
        assert file_row(settings, file_id)["chunks_total"] > 1  # its chunks came through RabbitMQ too
        dlq = f"{settings.rabbitmq_queue}.dlq"
        assert rabbit_depth(settings, dlq) == len(POISON)
        assert_poison_dead_lettered(q.list_dead())
        assert letters(q) == letters(q)
        assert rabbit_depth(settings, dlq) == len(POISON)  # still there after listing
        assert rabbit_depth(settings, settings.rabbitmq_queue) == 0
    finally:
        q.close()


# -- retries, the dead-letter limit, and replay ----------------------------------------------


def test_unexpected_error_is_retried_then_dead_lettered_then_replayed(make_api: Callable[..., Api], cli: Any) -> None:
    api = make_api(chunk_bytes=4096, batch_rows=100)
    settings = api.settings
    assert settings.max_attempts == 3
    # A failure the worker cannot classify: the database refuses one chunk's rows (as a
    # constraint deployed ahead of the code would). It is neither the message's fault
    # (permanent) nor an outage (transient), so the message is tried max_attempts times.
    query(settings, "ALTER TABLE events ADD CONSTRAINT no_quarantine CHECK (message NOT LIKE '%QUARANTINE%')")
    file_id = api.upload("quarantine.log", numbered_lines(2000, marker=1500))
    q = ingest_queue(settings)

    pump_until(settings, lambda: len(q.list_dead()) == 1)

    [dead] = q.list_dead()
    bad_seq = query(
        settings,
        "SELECT seq FROM chunks WHERE file_id = CAST(:f AS uuid) AND first_line <= 1500 ORDER BY seq DESC LIMIT 1",
        f=file_id,
    )[0][0]
    assert dead.body == chunk_message(file_id, bad_seq)
    assert dead.attempts == settings.max_attempts
    assert "no_quarantine" in dead.error
    f = file_row(settings, file_id)
    assert (f["status"], f["failure"]) == ("failed", "dead_lettered")
    assert f["error"].startswith("dead-lettered: ") and "no_quarantine" in f["error"]
    assert f["chunks_done"] == f["chunks_total"] - 1
    count, distinct = event_lines(settings, file_id)[:2]
    assert count == distinct < 2000

    code, out = cli(settings, "dlq", "list")
    assert code == 0
    assert "no_quarantine" in out and f"attempts={settings.max_attempts}" in out
    assert "1 dead-lettered message(s)" in out

    query(settings, "ALTER TABLE events DROP CONSTRAINT no_quarantine")  # the cause is fixed
    code, out = cli(settings, "dlq", "replay")
    assert (code, out.strip()) == (0, "replayed 1 message(s)")
    pump(settings)

    f = file_row(settings, file_id)
    assert (f["status"], f["lines"], f["events"], f["error"], f["failure"]) == ("done", 2000, 2000, None, None)
    assert event_lines(settings, file_id) == [2000, 2000, 1, 2000, True]
    assert cli(settings, "dlq", "list")[1].strip() == "0 dead-lettered message(s)"


def test_a_file_stays_failed_while_chunks_after_a_dead_lettered_one_finish(make_api: Callable[..., Api]) -> None:
    api = make_api(chunk_bytes=4096, batch_rows=100, max_attempts=1)
    settings = api.settings
    query(settings, "ALTER TABLE events ADD CONSTRAINT no_quarantine CHECK (message NOT LIKE '%QUARANTINE%')")
    file_id = api.upload("bad-start.log", numbered_lines(2000, marker=1))

    pump(settings)  # chunk 0 is dead-lettered on its only try; the chunks queued after it are done after that

    f = file_row(settings, file_id)
    assert f["chunks_done"] == f["chunks_total"] - 1
    assert (f["status"], f["failure"]) == ("failed", "dead_lettered")
    assert f["error"].startswith("dead-lettered: ") and "no_quarantine" in f["error"]
    assert [d.body for d in ingest_queue(settings).list_dead()] == [chunk_message(file_id, 0)]


def test_dlq_cli_lists_and_replays_after_the_cause_is_fixed(make_api: Callable[..., Api], cli: Any) -> None:
    api = make_api(chunk_bytes=4096, batch_rows=100)
    settings = api.settings
    data = numbered_lines(1000)
    file_id = api.upload("vanishing.log", data)
    chunks = plan(settings, file_id)  # its chunk messages are queued, none handled yet
    assert chunks > 1
    key = query(settings, "SELECT object_key FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0]
    s3 = client("s3", settings)
    s3.delete_object(Bucket=settings.bucket, Key=key)  # gone before any chunk was read

    pump(settings)

    f = file_row(settings, file_id)
    assert f["status"] == "failed" and f["error"].startswith("dead-lettered: ")
    assert "is not in bucket" in f["error"]
    code, out = cli(settings, "dlq", "list", "--json")
    assert code == 0
    dead = [json.loads(line) for line in out.splitlines()]
    assert sorted(d["body"] for d in dead) == sorted(chunk_message(file_id, s) for s in range(chunks))
    assert {d["attempts"] for d in dead} == {1}
    assert all("is not in bucket" in d["error"] and d["queue"] == settings.dead_letter_queue for d in dead)
    code, out = cli(settings, "dlq", "list")
    assert f"{chunks} dead-lettered message(s)" in out and "is not in bucket" in out

    s3.put_object(Bucket=settings.bucket, Key=key, Body=data)  # the cause is fixed
    code, out = cli(settings, "dlq", "replay")
    assert (code, out.strip()) == (0, f"replayed {chunks} message(s)")
    pump(settings)

    f = file_row(settings, file_id)
    assert (f["status"], f["lines"], f["events"], f["error"]) == ("done", 1000, 1000, None)
    assert event_lines(settings, file_id) == [1000, 1000, 1, 1000, True]
    assert ingest_queue(settings).list_dead() == []


# -- Lambda's event shapes -------------------------------------------------------------------


def sqs_record(message_id: str, body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:logpipe-ingest",
    }


def object_key(settings: Settings, file_id: str) -> str:
    return str(query(settings, "SELECT object_key FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0])


def test_lambda_sqs_event_reports_only_retryable_failures(make_api: Callable[..., Api]) -> None:
    # An outage's retry waits longer than the test lasts, so that it can be seen waiting
    # (the tests' usual 1 s would race the check below).
    api = make_api(outage_retry_s=900)
    settings = api.settings
    first = api.upload("first.log", MIXED)
    second = api.upload("second.log", MIXED)
    deadline = time.monotonic() + 600

    ctx = Context(settings)
    try:
        event = {
            "Records": [
                sqs_record("ok", s3_event(settings.bucket, object_key(settings, first))),
                sqs_record("not-json", "not json"),
                sqs_record("no-fields", '{"kind": "chunk"}', receive_count=2),
            ]
        }
        assert handle_event(ctx, event, deadline) == {"batchItemFailures": []}
    finally:
        ctx.close()
    assert api.file(first)["status"] == "done"
    dlq = ingest_queue(settings)
    assert sorted((d.body, d.attempts) for d in dlq.list_dead()) == [("not json", 1), ('{"kind": "chunk"}', 2)]

    # Postgres is away: the valid record is sent again as a fresh, delayed message (an outage
    # must not use up its tries), the malformed one is still dead-lettered.
    with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
        proxy.cut()
        down = Context(replace(settings, psql_port=proxy.port))
        try:
            event = {
                "Records": [
                    sqs_record("later", s3_event(settings.bucket, object_key(settings, second))),
                    sqs_record("array", "[]"),
                ]
            }
            assert handle_event(down, event, deadline) == {"batchItemFailures": []}
        finally:
            down.close()
    assert api.file(second)["status"] != "done"
    queue = ingest_queue(settings)
    attributes = queue.sqs.get_queue_attributes(
        QueueUrl=queue.url(queue.name), AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert sorted(d.body for d in dlq.list_dead()) == ["[]", "not json", '{"kind": "chunk"}']

    # Lambda delivers the retried record again, now that Postgres answers.
    ctx = Context(settings)
    try:
        event = {"Records": [sqs_record("later", s3_event(settings.bucket, object_key(settings, second)), 2)]}
        assert handle_event(ctx, event, deadline) == {"batchItemFailures": []}
    finally:
        ctx.close()
    assert (api.file(second)["status"], api.file(second)["events"]) == ("done", 4)


def test_a_short_rabbitmq_retry_is_not_held_back_by_a_long_one_before_it(rabbit_settings: Settings) -> None:
    """RabbitMQ expires a message only at the head of its queue: a retry that waits an hour
    (a service's retry-after) must not hold back one of a second sent after it. Each waits
    in its own step's queue, with its own delay, and the short one comes back on time."""
    q = work_queue(rabbit_settings)
    try:
        q.send(["long", "short"])
        deadline = time.monotonic() + 30
        got: list[Delivery] = []
        while len(got) < 2:
            assert time.monotonic() < deadline, "the two messages did not come"
            got += q.receive(2 - len(got), wait_s=1)
        by_body = {d.body: d for d in got}
        q.settle(by_body["long"], Outcome(by_body["long"].id, "retry", "throttled", 3600, 1))
        q.settle(by_body["short"], Outcome(by_body["short"].id, "retry", "failed", 1, 2))
        back: list[Delivery] = []
        deadline = time.monotonic() + 20
        while not back:
            assert time.monotonic() < deadline, "the one-second retry did not come back behind the hour's"
            back = q.receive(2, wait_s=1)
        assert [(d.body, d.attempt) for d in back] == [("short", 2)]
        depth = {name: n for name, role, n in q.depth() if role == "retry"}
        assert depth[f"{q.name}.retry.3600s"] == 1 and sum(depth.values()) == 1
    finally:
        q.close()


def rmq_message(body: str, headers: dict[str, Any], redelivered: bool = False) -> dict[str, Any]:
    return {
        "basicProperties": {"contentType": "application/json", "headers": headers, "deliveryMode": 2},
        "redelivered": redelivered,
        "data": base64.b64encode(body.encode()).decode("ascii"),
    }


def test_lambda_rabbitmq_event_republishes_retries_and_dead_letters(rabbit_api: Api) -> None:
    settings = rabbit_api.settings
    file_id = rabbit_api.upload("rmq.log", numbered_lines(1000))
    chunks = plan(settings, file_id)
    q = work_queue(settings)
    try:
        q.purge()  # Lambda's trigger took them: the event below carries them instead
        event = {
            "eventSource": "aws:rmq",
            "rmqMessagesByQueue": {
                f"{settings.rabbitmq_queue}::/": [
                    *(rmq_message(chunk_message(file_id, s), {ATTEMPT: 1}) for s in range(chunks)),
                    # Lambda shows a string header as its bytes; the broker redelivered it once more.
                    rmq_message("not json", {ATTEMPT: {"bytes": list(b"2")}}, redelivered=True),
                ]
            },
        }
        with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
            proxy.cut()
            down = Context(replace(settings, psql_port=proxy.port))
            try:
                assert handle_event(down, event, time.monotonic() + 600) == {}
            finally:
                down.close()
        # Postgres was away: every chunk waits in the retry queue, the malformed one is dead.
        step = f"{settings.rabbitmq_queue}.retry.{retry_step_s(settings.outage_retry_s)}s"
        assert rabbit_depth(settings, step) == chunks
        [dead] = q.list_dead()
        assert (dead.body, dead.attempts) == ("not json", 3)
        assert "message is not JSON" in dead.error

        # After their delay the broker moves them back to the work queue, and they succeed.
        pump_until(settings, lambda: file_row(settings, file_id)["status"] == "done", timeout_s=30)
        f = file_row(settings, file_id)
        assert (f["lines"], f["events"]) == (1000, 1000)
        assert event_lines(settings, file_id) == [1000, 1000, 1, 1000, True]
        assert [d.body for d in q.list_dead()] == ["not json"]
    finally:
        q.close()


@pytest.mark.parametrize("trigger", ["worker", "lambda"])
def test_rabbitmq_outage_retry_waits_the_outage_delay_and_keeps_its_try(rabbit_api: Api, trigger: str) -> None:
    # Far longer than the test: each retried message is still waiting in the retry queue
    # when the test reads it there, with the TTL it was given.
    settings = replace(rabbit_api.settings, outage_retry_s=600)
    file_id = rabbit_api.upload("outage.log", numbered_lines(1000))
    chunks = plan(settings, file_id)
    q = work_queue(settings)
    try:
        with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
            proxy.cut()
            down = Context(replace(settings, psql_port=proxy.port))
            try:
                if trigger == "lambda":  # Lambda's trigger took the messages, on their second try
                    attempt = 2
                    q.purge()
                    messages = [rmq_message(chunk_message(file_id, s), {ATTEMPT: attempt}) for s in range(chunks)]
                    event = {"eventSource": "aws:rmq", "rmqMessagesByQueue": {f"{q.name}::/": messages}}
                    assert handle_event(down, event, time.monotonic() + 600) == {}
                else:  # a worker took them from the queue, on their first try
                    attempt = 1
                    deliveries: list[Delivery] = []
                    deadline = time.monotonic() + 30
                    while len(deliveries) < chunks:
                        assert time.monotonic() < deadline, "the chunk messages did not come"
                        deliveries += q.receive(chunks - len(deliveries), wait_s=1)
                    outcomes = handle_deliveries(down, deliveries, time.monotonic() + 600)
                    assert {o.action for o in outcomes} == {"retry"}
                    for d, outcome in zip(deliveries, outcomes, strict=True):
                        q.settle(d, outcome)
            finally:
                down.close()

        conn = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
        try:
            ch = conn.channel()
            waiting = []
            while (got := ch.basic_get(f"{q.name}.retry.600s", auto_ack=True))[0] is not None:
                waiting.append(got[1])
        finally:
            conn.close()
        assert len(waiting) == chunks, "every chunk waits in the retry queue"
        # The delay is LOGPIPE_OUTAGE_RETRY_S, and the outage did not use up a try.
        assert {(p.expiration, p.headers[ATTEMPT]) for p in waiting} == {(str(600 * 1000), attempt)}
        assert rabbit_depth(settings, q.name) == 0
        assert rabbit_depth(settings, f"{q.name}.dlq") == 0
    finally:
        q.close()
