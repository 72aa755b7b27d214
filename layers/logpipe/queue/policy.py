"""What becomes of a message once its handler has run: the one retry policy of every queue.

The handler's run on a delivery ends in a ``Result``; ``RetryPolicy.decide`` turns it
into an ``Outcome``, which each backend's ``settle`` carries out:

| result      | this try < max_attempts                      | this try >= max_attempts |
| ----------- | -------------------------------------------- | ------------------------ |
| ok          | ack                                          | ack                      |
| unavailable | retry after outage_retry_s, on the same try  | (the same)               |
| throttled   | retry after delay_s, on the same try         | (the same)               |
| rejected    | dead-letter                                  | dead-letter              |
| failed      | retry after backoff_s(try), as the next try  | dead-letter              |

SQS cannot set a message's receive count back: its ``settle`` sends a retry on the same
try as a fresh message, whose count starts again from 1.

``unavailable``: a dependency (Postgres, the queue, the bucket) did not answer; the
message is not at fault, so however long the outage lasts it never uses up its tries.
``throttled``: a service said when to come back (GitHub's ``retry-after``, or its rate
limit's reset): the message waits that long, and that does not use up a try either.
``rejected``: the message can never succeed as it is. ``failed``: anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import Settings
from .base import Delivery, Outcome

# Waits between tries of a message that failed (try 1, 2, 3, and any after that).
BACKOFF_S = (2, 10, 30, 60)


def backoff_s(attempt: int) -> int:
    """How long a message waits after its try number ``attempt`` failed."""
    return BACKOFF_S[min(max(attempt, 1), len(BACKOFF_S)) - 1]


@dataclass(frozen=True)
class Result:
    """How a handler's run on one delivery ended; ``error`` says why it did not succeed."""

    kind: Literal["ok", "unavailable", "throttled", "rejected", "failed"]
    error: str | None = None
    delay_s: int = 0  # throttled: how long the service asked us to wait


OK = Result("ok")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    outage_retry_s: int

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.max_attempts, settings.outage_retry_s)

    def decide(self, delivery: Delivery, result: Result) -> Outcome:
        """The outcome of ``delivery`` whose run ended in ``result`` (see the table above)."""
        error = result.error or "unknown error"
        if result.kind == "ok":
            return Outcome(delivery.id, "ack")
        if result.kind == "unavailable":
            return Outcome(delivery.id, "retry", error, self.outage_retry_s, delivery.attempt)
        if result.kind == "throttled":
            return Outcome(delivery.id, "retry", error, max(1, result.delay_s), delivery.attempt)
        if result.kind == "failed" and delivery.attempt < self.max_attempts:
            return Outcome(delivery.id, "retry", error, backoff_s(delivery.attempt), delivery.attempt + 1)
        return Outcome(delivery.id, "dead_letter", error)
