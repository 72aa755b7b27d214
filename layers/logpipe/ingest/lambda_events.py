"""Lambda's queue trigger events in, Lambda's answers out: the same for SQS and Amazon MQ.

- SQS (``Records`` with ``eventSource: aws:sqs``): failures to retry are reported as
  ``batchItemFailures`` (the function has ``ReportBatchItemFailures``); messages that
  must be dead-lettered are sent to the DLQ with their error and reported as handled.
- RabbitMQ (``rmqMessagesByQueue``): Lambda acks a batch as a whole, so a failed message
  is re-published to the retry queue (or the DLQ) by the handler itself.
- A bare S3 notification (``eventSource: aws:s3``, as ``sam local generate-event s3 put``
  prints) is handled as one message.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import PermanentError
from ..queue import Delivery, ingest_queue
from ..queue.rabbitmq import ATTEMPT, RabbitQueue
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


def handle_event(ctx: Context, event: dict[str, Any], deadline: float) -> dict[str, Any]:
    if "rmqMessagesByQueue" in event:
        return _handle_rabbit(ctx, event, deadline)
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise PermanentError("the event has neither 'Records' nor 'rmqMessagesByQueue'")
    if records[0].get("eventSource") == "aws:s3":
        outcome = handle_deliveries(ctx, [Delivery("s3", json.dumps(event), 1)], deadline)[0]
        if outcome.action != "ok":
            raise RuntimeError(outcome.error)
        return {"batchItemFailures": []}

    deliveries = [
        Delivery(r["messageId"], r["body"], int(r.get("attributes", {}).get("ApproximateReceiveCount", "1")))
        for r in records
    ]
    failures = []
    queue = ingest_queue(ctx.settings)
    for d, outcome in zip(deliveries, handle_deliveries(ctx, deliveries, deadline), strict=True):
        if outcome.action == "retry" and not outcome.counts_as_attempt:
            queue.requeue_fresh(d.body, ctx.settings.outage_retry_s)  # an outage must not use up the tries
        elif outcome.action == "retry":
            failures.append({"itemIdentifier": d.id})
        elif outcome.action == "dead":
            queue.dead_letter(d.body, outcome.error or "", d.attempt)
    return {"batchItemFailures": failures}


def _handle_rabbit(ctx: Context, event: dict[str, Any], deadline: float) -> dict[str, Any]:
    deliveries = []
    for queue_messages in event["rmqMessagesByQueue"].values():
        for n, m in enumerate(queue_messages):
            headers = (m.get("basicProperties") or {}).get("headers") or {}
            attempt = _header_int(headers, ATTEMPT, 1) + (1 if m.get("redelivered") else 0)
            body = base64.b64decode(m.get("data", "")).decode("utf-8", "replace")
            deliveries.append(Delivery(str(n), body, attempt))
    queue = RabbitQueue(ctx.settings)
    try:
        for d, outcome in zip(deliveries, handle_deliveries(ctx, deliveries, deadline), strict=True):
            if outcome.action == "retry":
                queue.republish_for_retry(d.body, d.attempt + 1 if outcome.counts_as_attempt else d.attempt)
            elif outcome.action == "dead":
                queue.dead_letter(d.body, outcome.error or "", d.attempt)
    finally:
        queue.close()
    return {}
