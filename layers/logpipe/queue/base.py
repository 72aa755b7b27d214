"""What every queue backend offers, and the shapes that travel between them and the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """One received message. ``attempt`` counts from 1 (this is the first try)."""

    id: str
    body: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery: ``ok``, ``retry`` (try again later) or ``dead`` (to the DLQ)."""

    id: str
    action: str
    error: str | None = None
    counts_as_attempt: bool = True


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

    def settle(self, delivery: Delivery, outcome: Outcome) -> None:
        """Acknowledge, schedule a retry, or dead-letter one received message."""

    def ping(self) -> None:
        """Raise ServiceUnavailableError('queue', ...) unless the queue answers."""

    def close(self) -> None: ...
