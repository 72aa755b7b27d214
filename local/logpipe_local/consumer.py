"""A worker process: pulls messages and calls the function's handler with Lambda's event shape.

It does what Lambda's trigger does, and nothing more: SQS messages become
``{"Records": [...aws:sqs...]}``, and those the handler does not report in
``batchItemFailures`` are deleted; RabbitMQ messages become ``{"rmqMessagesByQueue": ...}``
as Amazon MQ would send them, and are acked as a batch. The handler itself settles each
message's retry or dead letter. When the handler raises, each of its messages is a failed
try, settled as the retry policy says. While the handler runs, the messages' visibility
is extended, so a long chunk is not handed to a second worker; a worker killed with -9
stops extending it and its messages come back within a minute.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading
import time
import uuid
from contextlib import closing
from typing import Any

from logpipe import db, logs, metrics
from logpipe.config import Settings
from logpipe.errors import LogpipeError
from logpipe.queue import Delivery, Outcome, Result, RetryPolicy, WorkQueue, ingest_queue, work_queue
from logpipe.queue.rabbitmq import ATTEMPT
from logpipe.queue.sqs import SqsQueue

from . import template
from .process import stop_with_parent
from .stack import local_visibility_s

log = logging.getLogger("logpipe.worker")


class LocalContext:
    """The parts of Lambda's context object that the handlers use."""

    def __init__(self, function_name: str, timeout_s: int) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def sqs_event(queue: SqsQueue, deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": d.id,
                "receiptHandle": d.id,
                "body": d.body,
                "attributes": {"ApproximateReceiveCount": str(d.attempt)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{queue.settings.aws_region}:000000000000:{queue.name}",
            }
            for d in deliveries
        ]
    }


def scheduled_event(function: str, region: str) -> dict[str, Any]:
    """EventBridge's event for a scheduled rule, as ``sam local generate-event cloudwatch
    scheduled-event`` prints it."""
    return {
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/{function}-schedule"],
        "detail": {},
    }


def rabbit_event(queue_name: str, deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        "eventSource": "aws:rmq",
        "rmqMessagesByQueue": {
            f"{queue_name}::/": [
                {
                    "basicProperties": {"headers": {ATTEMPT: d.attempt}},
                    "redelivered": False,
                    "data": base64.b64encode(d.body.encode("utf-8")).decode("ascii"),
                }
                for d in deliveries
            ]
        },
    }


class _Heartbeat(threading.Thread):
    """Keeps SQS messages invisible to other workers while they are being handled."""

    def __init__(self, queue: SqsQueue, deliveries: list[Delivery], visibility_s: int) -> None:
        super().__init__(daemon=True)
        self.queue, self.deliveries, self.visibility_s = queue, deliveries, visibility_s
        self.done = threading.Event()

    def stop(self) -> None:
        """Stop extending, for good: the visibility the handler set for a retry must stand."""
        self.done.set()
        self.join()

    def run(self) -> None:
        while not self.done.wait(self.visibility_s / 3):
            for d in self.deliveries:
                try:
                    self.queue.sqs.change_message_visibility(
                        QueueUrl=self.queue.url(self.queue.name),
                        ReceiptHandle=d.id,
                        VisibilityTimeout=self.visibility_s,
                    )
                except Exception:
                    log.warning("could not extend a message's visibility", exc_info=True)


def _settle_failed(queue: WorkQueue, deliveries: list[Delivery], exc: Exception, policy: RetryPolicy) -> None:
    """The handler raised: each of its messages had a failed try."""
    failed = Result("failed", f"{type(exc).__name__}: {exc}")
    for d in deliveries:
        queue.settle(d, policy.decide(d, failed))


def _serve_sqs(
    spec: template.FunctionSpec, handler: Any, queue: SqsQueue, wait_s: float, visibility_s: int, policy: RetryPolicy
) -> bool:
    deliveries = queue.receive(spec.batch_size, wait_s=wait_s)
    if not deliveries:
        return False
    beat = _Heartbeat(queue, deliveries, visibility_s)
    beat.start()
    try:
        response = handler(sqs_event(queue, deliveries), LocalContext(spec.name, spec.timeout_s))
    except Exception as exc:
        log.exception("handler raised: each of its messages had a failed try")
        beat.stop()
        _settle_failed(queue, deliveries, exc, policy)
        return True
    beat.stop()
    # Reported failures come back by themselves once the delay the handler set is over.
    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
    queue.acknowledge([d for d in deliveries if d.id not in failed])
    return True


def _serve_rabbit(
    spec: template.FunctionSpec, handler: Any, queue: WorkQueue, wait_s: float, policy: RetryPolicy
) -> bool:
    deliveries = queue.receive(spec.batch_size, wait_s=wait_s)
    if not deliveries:
        return False
    try:
        handler(rabbit_event(queue.name, deliveries), LocalContext(spec.name, spec.timeout_s))
    except Exception as exc:
        log.exception("handler raised: each of its messages had a failed try")
        _settle_failed(queue, deliveries, exc, policy)
        return True
    for d in deliveries:  # the handler published what is retried or dead-lettered
        queue.settle(d, Outcome(d.id, "ack"))
    return True


def run_worker(function_name: str, env: dict[str, str], stop: Any = None) -> None:
    """Entry point of a worker process: serve the function's queues until told to stop."""
    os.environ.update(env)
    settings = Settings.from_env()
    logs.configure(function_name, settings.log_level)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stop_with_parent()
    spec = template.find(function_name)
    handler = spec.handler_function()
    visibility_s = local_visibility_s(template.upload_path()[1].visibility_timeout_s)  # as provisioned
    policy = RetryPolicy.of(settings)
    sqs = ingest_queue(settings)
    rabbit = work_queue(settings) if settings.rabbitmq_url else None
    idle_backoff = 0.0
    busy = False
    while not stopping.is_set() and not (stop is not None and stop.is_set()):
        try:
            # Long-poll only when idle, and split the wait between the two queues, so that
            # a stream of RabbitMQ work is never held up by an empty SQS queue.
            wait = 0.0 if busy else (0.5 if rabbit is not None else 1.0)
            busy = _serve_sqs(spec, handler, sqs, wait, visibility_s, policy)
            if rabbit is not None:
                busy = _serve_rabbit(spec, handler, rabbit, wait, policy) or busy
            idle_backoff = 0.0
        except LogpipeError as exc:
            # The queue itself is unreachable: wait and try again, do not spin.
            idle_backoff = min(idle_backoff * 2 or 0.5, 10.0)
            log.warning("queue unavailable, retrying in %.1fs: %s", idle_backoff, exc)
            stopping.wait(idle_backoff)
    if rabbit is not None:
        rabbit.close()
    if settings.metrics:
        # What the last invocations counted, which a busy run's reports may have left for
        # later (``Function.invocation``): a worker that is told to stop says it first.
        metrics.report_quietly(lambda: closing(db.connect(settings)))
