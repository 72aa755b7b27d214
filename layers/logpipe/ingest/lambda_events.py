"""Lambda's queue trigger events in, Lambda's answers out: the same for SQS and Amazon MQ.

Each message's outcome is decided by the retry policy and carried out by its queue's
``settle``, which leaves the acknowledgement to Lambda:

- SQS (``Records`` with ``eventSource: aws:sqs``): Lambda deletes every message that is
  not reported in ``batchItemFailures`` (the function has ``ReportBatchItemFailures``), so
  only a retry that counts, whose visibility ``settle`` set to its delay, is reported.
- RabbitMQ (``rmqMessagesByQueue``): Lambda acks a batch as a whole; a retry or a dead
  letter is published by ``settle``.
- A bare S3 notification (``eventSource: aws:s3``, as ``sam local generate-event s3 put``
  prints) is handled as one message; the invocation fails unless it succeeded.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import PermanentError
from ..queue import Delivery
from ..queue.rabbitmq import ATTEMPT
from .context import Context
from .outcome import handle_deliveries


def _header_int(headers: dict[str, Any], name: str, default: int) -> int:
    value = headers.get(name, default)
    if isinstance(value, dict):  # Lambda sends a string header as {"bytes": [118, 97, ...]}
        value = value.get("bytes", default)
    if isinstance(value, list):
        value = bytes(value).decode("ascii", "replace")
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# The most messages one receive (SQS's limit) or one invocation without a batching window gives.
FULL_BATCH = 10


def full_batch(event: dict[str, Any]) -> bool:
    """Whether the event holds a full batch of messages: the queue had more to give."""
    records = event.get("Records")
    if "rmqMessagesByQueue" in event:
        count = sum(len(m) for m in event["rmqMessagesByQueue"].values())
    else:
        count = len(records) if isinstance(records, list) else 0
    return count >= FULL_BATCH


def handle_event(ctx: Context, event: dict[str, Any], deadline: float) -> dict[str, Any]:
    if "rmqMessagesByQueue" in event:
        return _handle_rabbit(ctx, event, deadline)
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise PermanentError("the event has neither 'Records' nor 'rmqMessagesByQueue'")
    if records[0].get("eventSource") == "aws:s3":
        outcome = handle_deliveries(ctx, [Delivery("s3", json.dumps(event), 1)], deadline)[0]
        if outcome.action != "ack":
            raise RuntimeError(outcome.error)
        return {"batchItemFailures": []}

    deliveries = [
        Delivery(r["receiptHandle"], r["body"], int(r.get("attributes", {}).get("ApproximateReceiveCount", "1")))
        for r in records
    ]
    queue = ctx.ingest
    outcomes = handle_deliveries(ctx, deliveries, deadline)
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]}
            for r, d, outcome in zip(records, deliveries, outcomes, strict=True)
            if queue.settle(d, outcome, acknowledge=False)
        ]
    }


def _handle_rabbit(ctx: Context, event: dict[str, Any], deadline: float) -> dict[str, Any]:
    deliveries = []
    for queue_messages in event["rmqMessagesByQueue"].values():
        for n, m in enumerate(queue_messages):
            headers = (m.get("basicProperties") or {}).get("headers") or {}
            attempt = _header_int(headers, ATTEMPT, 1) + (1 if m.get("redelivered") else 0)
            body = base64.b64decode(m.get("data", "")).decode("utf-8", "replace")
            deliveries.append(Delivery(str(n), body, attempt))
    queue = ctx.queue  # RabbitMQ's, kept between invocations: not a connection each
    for d, outcome in zip(deliveries, handle_deliveries(ctx, deliveries, deadline), strict=True):
        queue.settle(d, outcome, acknowledge=False)
    return {}
