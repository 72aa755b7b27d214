"""Work queues: SQS (local default and AWS) and RabbitMQ (through pika), with dead-letter queues.

Both carry the same JSON messages. Delivery is at-least-once; handlers are idempotent.
What becomes of a message after its handler ran is decided once, by ``policy``, for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from .base import DeadLetter, Delivery, Outcome, WorkQueue
from .policy import Result, RetryPolicy

if TYPE_CHECKING:
    from .sqs import SqsQueue


def ingest_queue(settings: Settings) -> SqsQueue:
    """The queue the bucket notifies (always SQS: S3 cannot notify RabbitMQ)."""
    from .sqs import SqsQueue

    return SqsQueue(settings, settings.ingest_queue, settings.dead_letter_queue)


def work_queue(settings: Settings) -> WorkQueue:
    """Where chunk tasks and replays go: RabbitMQ when ``RABBITMQ_URL`` is set, else the ingest queue."""
    if settings.rabbitmq_url:
        from .rabbitmq import RabbitQueue

        return RabbitQueue(settings)
    return ingest_queue(settings)


def all_queues(settings: Settings) -> list[WorkQueue]:
    queues: list[WorkQueue] = [ingest_queue(settings)]
    if settings.rabbitmq_url:
        queues.append(work_queue(settings))
    return queues


__all__ = [
    "DeadLetter",
    "Delivery",
    "Outcome",
    "Result",
    "RetryPolicy",
    "WorkQueue",
    "all_queues",
    "ingest_queue",
    "work_queue",
]
