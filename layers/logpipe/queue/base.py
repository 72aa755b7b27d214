"""What every queue backend offers, and the shapes that travel between them and the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

# What becomes of a delivery: acknowledged (done with), retried later, or dead-lettered.
Action = Literal["ack", "retry", "dead_letter"]


@dataclass(frozen=True)
class Delivery:
    """One received message. ``attempt`` counts from 1 (this is the first try)."""

    id: str
    body: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What becomes of a delivery, as ``policy.RetryPolicy`` decides it and a queue's
    ``settle`` carries it out.

    ``retry``: the message comes back after ``delay_s`` seconds as try ``next_attempt``
    (the same number as this try when this try does not count toward the dead-letter
    limit). ``dead_letter``: it goes to the dead-letter queue with ``error``.
    """

    id: str
    action: Action
    error: str | None = None
    delay_s: int = 0
    next_attempt: int = 0


@dataclass(frozen=True)
class DeadLetter:
    id: str
    queue: str
    body: str
    error: str
    attempts: int
    failed_at: str


class WorkQueue(Protocol):
    name: str

    def send(self, bodies: list[str]) -> None:
        """Enqueue messages (JSON text). Raises RetryableError when the queue is unreachable."""

    def dead_letter(self, body: str, error: str, attempts: int) -> None:
        """Put a message on the dead-letter queue together with the error that sent it there."""

    def list_dead(self, limit: int = 100) -> list[DeadLetter]:
        """Look at dead-lettered messages without removing them."""

    def replay_dead(self, limit: int | None = None) -> int:
        """Move dead-lettered messages back to the work queue; returns how many moved."""

    def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        """Take up to ``max_messages``, waiting up to ``wait_s`` for the first one."""

    def settle(self, delivery: Delivery, outcome: Outcome, *, acknowledge: bool = True) -> bool:
        """Carry out ``outcome`` for one received message: publish its retry or its dead
        letter, then acknowledge it.

        ``acknowledge=False`` when the trigger acknowledges instead (Lambda deletes or acks
        a batch's messages itself). Returns True when the message is left in the queue to
        come back by itself, which such a trigger must be told (a batch item failure).
        """

    def depth(self) -> list[tuple[str, str, int]]:
        """(name, role, messages) of this queue (role ``work``) and the queues beside it
        (``retry``, ``dead_letter``)."""

    def ping(self) -> None:
        """Raise ServiceUnavailableError('queue', ...) unless the queue answers."""

    def close(self) -> None: ...
