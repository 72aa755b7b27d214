"""RabbitMQ (through pika) as a work queue with a dead-letter queue.

Durable classic queues: ``<name>`` (work; its dead-letter exchange points at the DLQ so
a rejected message is never dropped), ``<name>.retry.<N>s`` (retries wait here, then
dead-letter back into the work queue: delayed retries without a plugin) and
``<name>.dlq``. A retry goes to the queue of the first step of ``RETRY_STEPS_S`` that is
at least its delay, with its delay as its own TTL as well: RabbitMQ expires a message only
at the head of its queue, so in one queue for every delay, a long wait at the head (a
service's retry-after of an hour) held back every shorter retry behind it. Within a step
a retry waits at most the step. ``<name>.retry``, the one queue of earlier versions, is
still declared, so that what waits there comes back.

Attempts travel in the ``x-logpipe-attempt`` header. Publishes use publisher confirms, and
a message is published before the one it replaces is acked, so a crash in between
duplicates a message (harmless: handlers are idempotent) and never loses one. A
connection belongs to one thread.
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
# The retry queues' delays (see above), from the backoffs' seconds to a day.
RETRY_STEPS_S = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)


def retry_step_s(delay_s: int) -> int:
    """The step whose queue a retry of ``delay_s`` waits in (the last for a longer one,
    which comes back after a day)."""
    return next((step for step in RETRY_STEPS_S if step >= delay_s), RETRY_STEPS_S[-1])


class RabbitQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.rabbitmq_queue
        self.retry_name = f"{self.name}.retry"  # earlier versions' one retry queue, drained
        self.retry_names = {step: f"{self.name}.retry.{step}s" for step in RETRY_STEPS_S}
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
            back = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.name}
            ch.queue_declare(self.retry_name, durable=True, arguments=back)
            for step, name in self.retry_names.items():
                ch.queue_declare(name, durable=True, arguments={**back, "x-message-ttl": step * 1000})
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
                # It waits out its delay in its step's retry queue, which then dead-letters
                # it back into the work queue.
                headers = {ATTEMPT: outcome.next_attempt}
                queue = self.retry_names[retry_step_s(outcome.delay_s)]
                self._publish(ch, queue, delivery.body, headers, outcome.delay_s * 1000)
            elif outcome.action == "dead_letter":
                self._publish_dead(ch, delivery.body, outcome.error or "", delivery.attempt)
            if acknowledge:
                ch.basic_ack(int(delivery.id))

        self._do(run)
        return False

    @property
    def queue_names(self) -> list[str]:
        """Every queue this work queue declares."""
        return [self.name, self.retry_name, *self.retry_names.values(), self.dlq_name]

    def ping(self) -> None:
        self._channel()

    def depth(self) -> list[tuple[str, str, int]]:
        """Messages ready in the work queue, each of its retry queues and its dead-letter queue."""
        retries = [self.retry_name, *self.retry_names.values()]
        roles = ((self.name, "work"), *((q, "retry") for q in retries), (self.dlq_name, "dead_letter"))

        def run(ch: Any) -> list[tuple[str, str, int]]:
            return [(q, role, int(ch.queue_declare(q, passive=True).method.message_count)) for q, role in roles]

        return self._do(run)  # type: ignore[no-any-return]

    def purge(self) -> None:
        def run(ch: Any) -> None:
            for q in self.queue_names:
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
