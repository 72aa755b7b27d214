"""SQS (or moto's server) as a work queue with a dead-letter queue.

The handler dead-letters a message itself, with the error as message attributes, when the
retry policy says so; the queue's redrive policy stays as a backstop for a worker that
dies without saying why. A try counts through SQS's own receive count, which nothing can
set back: a retry that must not count (an outage) is a fresh message, whose count starts
again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import client
from ..config import Settings
from ..errors import RetryableError, ServiceUnavailableError
from .base import DeadLetter, Delivery, Outcome


class SqsQueue:
    def __init__(self, settings: Settings, name: str, dlq_name: str) -> None:
        self.settings = settings
        self.name = name
        self.dlq_name = dlq_name
        self.sqs = client("sqs", settings)
        self._urls: dict[str, str] = {}

    def url(self, name: str) -> str:
        if name not in self._urls:
            try:
                self._urls[name] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except (ClientError, BotoCoreError) as exc:
                raise ServiceUnavailableError("queue", f"SQS queue {name!r}: {exc}") from exc
        return self._urls[name]

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.sqs, op)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"SQS {op}: {exc}") from exc

    def send(self, bodies: list[str]) -> None:
        url = self.url(self.name)
        for i in range(0, len(bodies), 10):
            batch = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])]
            result = self._call("send_message_batch", QueueUrl=url, Entries=batch)
            if result.get("Failed"):
                raise RetryableError(f"SQS refused {len(result['Failed'])} messages: {result['Failed'][0]}")

    def dead_letter(self, body: str, error: str, attempts: int) -> None:
        self._call(
            "send_message",
            QueueUrl=self.url(self.dlq_name),
            MessageBody=body,
            MessageAttributes={
                "error": {"DataType": "String", "StringValue": error[:4000] or "unknown error"},
                "attempts": {"DataType": "Number", "StringValue": str(attempts)},
                "source_queue": {"DataType": "String", "StringValue": self.name},
                "failed_at": {"DataType": "String", "StringValue": datetime.now(UTC).isoformat()},
            },
        )

    def _drain_dead(self, limit: int | None, visibility: int) -> list[dict[str, Any]]:
        url = self.url(self.dlq_name)
        seen: dict[str, dict[str, Any]] = {}
        while limit is None or len(seen) < limit:
            got = self._call(
                "receive_message",
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in seen]
            if not fresh:
                break
            for m in fresh:
                seen[m["MessageId"]] = m
        return list(seen.values())[:limit] if limit is not None else list(seen.values())

    def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        messages = self._drain_dead(limit, visibility=30)
        url = self.url(self.dlq_name)
        out = []
        for m in messages:
            attrs = m.get("MessageAttributes", {})

            def attr(name: str, default: str = "", a: dict[str, Any] = attrs) -> str:
                return str(a.get(name, {}).get("StringValue", default))

            out.append(
                DeadLetter(
                    id=m["MessageId"],
                    queue=self.dlq_name,
                    body=m["Body"],
                    error=attr("error", "(no error recorded: moved by the redrive policy)"),
                    attempts=int(attr("attempts", m.get("Attributes", {}).get("ApproximateReceiveCount", "0"))),
                    failed_at=attr("failed_at"),
                )
            )
            # Make it visible again at once: listing must not hide anything.
            self._call("change_message_visibility", QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        return out

    def replay_dead(self, limit: int | None = None) -> int:
        url = self.url(self.dlq_name)
        moved = 0
        for m in self._drain_dead(limit, visibility=60):
            self.send([m["Body"]])
            self._call("delete_message", QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
        return moved

    def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        got = self._call(
            "receive_message",
            QueueUrl=self.url(self.name),
            MaxNumberOfMessages=min(max(max_messages, 1), 10),
            WaitTimeSeconds=int(wait_s),
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        return [
            Delivery(m["ReceiptHandle"], m["Body"], int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")))
            for m in got
        ]

    def settle(self, delivery: Delivery, outcome: Outcome, *, acknowledge: bool = True) -> bool:
        url = self.url(self.name)
        if outcome.action == "retry" and outcome.next_attempt > delivery.attempt:
            # Back after the delay, its receive count one higher: the try counted.
            self._call(
                "change_message_visibility", QueueUrl=url, ReceiptHandle=delivery.id, VisibilityTimeout=outcome.delay_s
            )
            return True
        if outcome.action == "retry":
            self._call("send_message", QueueUrl=url, MessageBody=delivery.body, DelaySeconds=min(outcome.delay_s, 900))
        elif outcome.action == "dead_letter":
            self.dead_letter(delivery.body, outcome.error or "", delivery.attempt)
        if acknowledge:
            self._call("delete_message", QueueUrl=url, ReceiptHandle=delivery.id)
        return False

    def acknowledge(self, deliveries: list[Delivery]) -> None:
        """Delete received messages that are done with, ten a request (as Lambda does for
        the messages of a batch that it is not told have failed)."""
        url = self.url(self.name)
        for i in range(0, len(deliveries), 10):
            entries = [{"Id": str(n), "ReceiptHandle": d.id} for n, d in enumerate(deliveries[i : i + 10])]
            result = self._call("delete_message_batch", QueueUrl=url, Entries=entries)
            if result.get("Failed"):
                raise RetryableError(f"SQS did not delete {len(result['Failed'])} messages: {result['Failed'][0]}")

    def depth(self) -> list[tuple[str, str, int]]:
        """Messages in the queue and in its dead-letter queue (waiting, delayed or being handled)."""
        names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed")  # fmt: skip
        out = []
        for name, role in ((self.name, "work"), (self.dlq_name, "dead_letter")):
            attrs = self._call("get_queue_attributes", QueueUrl=self.url(name), AttributeNames=list(names))
            out.append((name, role, sum(int(attrs["Attributes"].get(a, 0)) for a in names)))
        return out

    def ping(self) -> None:
        try:
            self.sqs.get_queue_attributes(QueueUrl=self.url(self.name), AttributeNames=["QueueArn"])
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailableError("queue", f"SQS queue {self.name!r}: {exc}") from exc

    def close(self) -> None:
        pass
