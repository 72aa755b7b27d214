"""The retry policy, on its own: every result on every try. No services needed."""

from __future__ import annotations

import pytest

from logpipe.config import Settings
from logpipe.queue import Delivery, Outcome, Result, RetryPolicy
from logpipe.queue.policy import BACKOFF_S, backoff_s

POLICY = RetryPolicy.of(Settings.from_env({}, max_attempts=3, outage_retry_s=45))


def decide(result: Result, attempt: int) -> Outcome:
    return POLICY.decide(Delivery("m", "{}", attempt), result)


@pytest.mark.parametrize("attempt", [1, 2, 3, 7])
def test_every_result_on_every_try(attempt: int) -> None:
    assert decide(Result("ok"), attempt) == Outcome("m", "ack")
    # An outage: after LOGPIPE_OUTAGE_RETRY_S, on the same try, even past the limit.
    assert decide(Result("unavailable", "postgres is not reachable"), attempt) == Outcome(
        "m", "retry", "postgres is not reachable", 45, attempt
    )
    assert decide(Result("rejected", "message is not JSON"), attempt) == Outcome(
        "m", "dead_letter", "message is not JSON"
    )
    failed = decide(Result("failed", "KeyError: 'x'"), attempt)
    if attempt < 3:
        assert failed == Outcome("m", "retry", "KeyError: 'x'", backoff_s(attempt), attempt + 1)
    else:
        assert failed == Outcome("m", "dead_letter", "KeyError: 'x'")


def test_backoff_grows_then_stays_at_its_longest() -> None:
    waits = [backoff_s(attempt) for attempt in range(0, len(BACKOFF_S) + 3)]
    assert waits == [BACKOFF_S[0], *BACKOFF_S, BACKOFF_S[-1], BACKOFF_S[-1]]
    assert list(BACKOFF_S) == sorted(BACKOFF_S)


def test_a_failure_without_a_reason_is_dead_lettered_saying_so() -> None:
    assert decide(Result("rejected"), 1).error == "unknown error"


def test_a_rabbitmq_retry_waits_in_the_first_step_at_least_its_delay() -> None:
    from logpipe.queue.rabbitmq import retry_step_s

    assert [retry_step_s(d) for d in (0, 1, 2, 3, 10, 11, 600, 601, 86400, 10**6)] == [
        1, 1, 2, 5, 10, 30, 600, 1800, 86400, 86400,
    ]  # fmt: skip
