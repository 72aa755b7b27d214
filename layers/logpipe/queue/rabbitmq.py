"""RabbitMQ (through pika) as a work queue with a dead-letter queue.

Three durable classic queues: ``<name>`` (work; its dead-letter exchange points at the DLQ
so a rejected message is never dropped), ``<name>.retry`` (messages wait here for their
per-message TTL, then dead-letter back into the work queue: delayed retries without a
plugin) and ``<name>.dlq``. Attempts travel in the ``x-logpipe-attempt`` header. Publishes
use publisher confirms, and a message is published before the one it replaces is acked,
so a crash in between duplicates a message (harmless: handlers are idempotent) and never
loses one. A connection belongs to one thread.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

from ..config import Settings
from ..errors import RetryableError, ServiceUnavailableError
from .base import DeadLetter, Delivery, Outcome

ATTEMPT = "x-logpipe-attempt"
AMQP_ERRORS = (pika.exceptions.AMQPError, OSError)


class RabbitQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.rabbitmq_queue
        self.retry_name = f"{self.name}.retry"
        self.dlq_name = f"{self.name}.dlq"
        self._conn: pika.BlockingConnection | None = None
        self._ch: Any = None

    # -- connection ----------------------------------------------------------------------
    def _channel(self) -> Any:
        if self._ch is not None and self._ch.is_open:
            return self._ch
        self.close()
        try:
            params = pika.URLParameters(self.settings.rabbitmq_url)
            params.connection_attempts = 1
            params.socket_timeout = 5
            params.heartbeat = 60
            self._conn = pika.BlockingConnection(params)
            ch = self._conn.channel()
            ch.confirm_delivery()
            ch.queue_declare(self.dlq_name, durable=True)
            ch.queue_declare(
                self.name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dlq_name},
            )
            ch.queue_declare(
                self.retry_name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.name},
            )
        except AMQP_ERRORS as exc:
            self.close()
            raise ServiceUnavailableError(
                "queue", f"RabbitMQ at {_safe_url(self.settings.rabbitmq_url)}: {exc!r}"
            ) from exc
        self._ch = ch
        return ch

    def _do(self, fn: Any) -> Any:
        try:
            return fn(self._channel())
        except ServiceUnavailableError as exc:
            raise RetryableError(str(exc)) from exc
        except AMQP_ERRORS as exc:
            self.close()
            raise RetryableError(f"RabbitMQ: {exc!r}") from exc

    def _publish(
        self, ch: Any, queue: str, body: str, headers: dict[str, Any], expiration_ms: int | None = None
    ) -> None:
        props = pika.BasicProperties(
            delivery_mode=2,
            content_type="application/json",
            headers=headers,
            expiration=str(expiration_ms) if expiration_ms is not None else None,
        )
        ch.basic_publish("", queue, body.encode("utf-8"), props, mandatory=True)

    # -- WorkQueue -----------------------------------------------------------------------
    def send(self, bodies: list[str]) -> None:
        def run(ch: Any) -> None:
            for body in bodies:
                self._publish(ch, self.name, body, {ATTEMPT: 1})

        self._do(run)

    def dead_letter(self, body: str, error: str, attempts: int) -> None:
        self._do(lambda ch: self._publish_dead(ch, body, error, attempts))

    def _publish_dead(self, ch: Any, body: str, error: str, attempts: int) -> None:
        headers = {
            "error": error[:4000] or "unknown error",
            "attempts": attempts,
            "source_queue": self.name,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        self._publish(ch, self.dlq_name, body, headers)

    def _take_dead(self, ch: Any, limit: int | None) -> list[tuple[Any, Any, bytes]]:
        taken: list[tuple[Any, Any, bytes]] = []
        while limit is None or len(taken) < limit:
            method, props, body = ch.basic_get(self.dlq_name, auto_ack=False)
            if method is None:
                break
            taken.append((method, props, body))
        return taken

    def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        def run(ch: Any) -> list[DeadLetter]:
            taken = self._take_dead(ch, limit)
            out = []
            for method, props, body in taken:
                h = props.headers or {}
                out.append(
                    DeadLetter(
                        id=str(method.delivery_tag),
                        queue=self.dlq_name,
                        body=body.decode("utf-8", "replace"),
                        error=str(h.get("error", "(rejected without an error: dead-lettered by the broker)")),
                        attempts=int(h.get("attempts", h.get(ATTEMPT, 0))),
                        failed_at=str(h.get("failed_at", "")),
                    )
                )
            if taken:
                ch.basic_nack(taken[-1][0].delivery_tag, multiple=True, requeue=True)
            return out

        return self._do(run)  # type: ignore[no-any-return]

    def replay_dead(self, limit: int | None = None) -> int:
        def run(ch: Any) -> int:
            taken = self._take_dead(ch, limit)
            for method, _props, body in taken:
                self._publish(ch, self.name, body.decode("utf-8", "replace"), {ATTEMPT: 1})
                ch.basic_ack(method.delivery_tag)
            return len(taken)

        return self._do(run)  # type: ignore[no-any-return]

    def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        deadline = time.monotonic() + wait_s

        def run(ch: Any) -> list[Delivery]:
            got: list[Delivery] = []
            while len(got) < max_messages:
                method, props, body = ch.basic_get(self.name, auto_ack=False)
                if method is None:
                    if got or time.monotonic() >= deadline:
                        break
                    self._conn.sleep(0.05)  # type: ignore[union-attr]
                    continue
                attempt = int((props.headers or {}).get(ATTEMPT, 1))
                if method.redelivered:  # the broker gave it back after a consumer died
                    attempt += 1
                got.append(Delivery(str(method.delivery_tag), body.decode("utf-8", "replace"), attempt))
            return got

        return self._do(run)  # type: ignore[no-any-return]

    def settle(self, delivery: Delivery, outcome: Outcome, *, acknowledge: bool = True) -> bool:
        def run(ch: Any) -> None:
            if outcome.action == "retry":
                # It waits out its delay in the retry queue (a per-message TTL), which then
                # dead-letters it back into the work queue.
                headers = {ATTEMPT: outcome.next_attempt}
                self._publish(ch, self.retry_name, delivery.body, headers, outcome.delay_s * 1000)
            elif outcome.action == "dead_letter":
                self._publish_dead(ch, delivery.body, outcome.error or "", delivery.attempt)
            if acknowledge:
                ch.basic_ack(int(delivery.id))

        self._do(run)
        return False

    def ping(self) -> None:
        self._channel()

    def depth(self) -> list[tuple[str, str, int]]:
        """Messages ready in the work queue, its retry queue and its dead-letter queue."""
        roles = ((self.name, "work"), (self.retry_name, "retry"), (self.dlq_name, "dead_letter"))

        def run(ch: Any) -> list[tuple[str, str, int]]:
            return [(q, role, int(ch.queue_declare(q, passive=True).method.message_count)) for q, role in roles]

        return self._do(run)  # type: ignore[no-any-return]

    def purge(self) -> None:
        def run(ch: Any) -> None:
            for q in (self.name, self.retry_name, self.dlq_name):
                ch.queue_purge(q)

        self._do(run)

    def close(self) -> None:
        conn, self._conn, self._ch = self._conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except AMQP_ERRORS:
                pass


def _safe_url(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
