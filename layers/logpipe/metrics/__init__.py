"""Metrics: every metric a function reports, defined here once, and how they add up.

The Pushgateway is a cache, not an aggregator: pushes to one grouping key replace each
other, and groups never expire. So processes never push. Each process counts with
prometheus-client as usual, and reports what it counted since its last report to rows
of its own in PostgreSQL (``report``: at the end of an invocation, at most every few
seconds while full batches follow each other, and every few seconds in a long-lived
server); a total is the sum of every process's rows. rollup-cron
pushes those totals, and the figures it computes from the pipeline's tables, under
stable grouping keys (``push``); the local runner serves the same at ``GET /metrics``.

- Nothing is doubled: a report is numbered, and one applied already is recognised when
  it is retried (``db/metrics.report``); pushes replace a group with a later total.
- Nothing is lost when processes come and go: a process's rows outlive it, and
  rollup-cron folds the rows of quiet processes into one (in one transaction, so no sum
  moves). What a process counted after its last report dies with it, which is why
  reports follow invocations (``Function.invocation``); the counts of committed rows (lines, events, bytes)
  are not even left to that: they are written in the transaction that commits the rows
  (``committed``), so they equal what the tables hold, whatever is killed when.

Names follow Prometheus's conventions (``_total`` counters, ``_seconds`` histograms).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import pg8000.native
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from ..db import metrics as metrics_db

disable_created_metrics()  # type: ignore[no-untyped-call]  # _created samples would be summed over processes: meaningless

REGISTRY = CollectorRegistry(auto_describe=True)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

# -- every function -----------------------------------------------------------------------------
INVOCATIONS = Counter("logpipe_invocations", "Invocations of each function.", ["function"], registry=REGISTRY)
INVOCATION_ERRORS = Counter(
    "logpipe_invocation_errors",
    "Invocations that raised, or whose HTTP answer was a 5xx.",
    ["function"],
    registry=REGISTRY,
)
INVOCATION_SECONDS = Histogram(
    "logpipe_invocation_duration_seconds",
    "Time each invocation took.",
    ["function"],
    buckets=_SECONDS,
    registry=REGISTRY,
)

# -- the parse-worker ---------------------------------------------------------------------------
# Written in the transaction that commits the rows they count (``committed``): their values
# live in PostgreSQL only, never in a process.
PARSED_LINES = Counter("logpipe_parsed_lines", "Lines parse-workers committed.", registry=REGISTRY)
PARSED_EVENTS = Counter("logpipe_parsed_events", "Events parse-workers committed.", registry=REGISTRY)
PARSED_BYTES = Counter("logpipe_parsed_bytes", "Bytes of objects parse-workers committed.", registry=REGISTRY)
CHUNK_SECONDS = Histogram(
    "logpipe_chunk_duration_seconds",
    "Time a parse-worker spent on one chunk message (to its end, or to its time budget).",
    buckets=_SECONDS,
    registry=REGISTRY,
)
RETRIES = Counter(
    "logpipe_message_retries",
    "Messages sent back to be tried again: 'unavailable' (a dependency did not answer) or 'failed'.",
    ["reason"],
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "logpipe_messages_dead_lettered",
    "Messages sent to the dead-letter queue: 'rejected' (bad as they are) or 'failed' (out of tries).",
    ["reason"],
    registry=REGISTRY,
)

# -- the GitHub webhook -------------------------------------------------------------------------
WebhookOutcome = Literal["accepted", "duplicate", "ignored", "bad_signature", "bad_request", "error"]
WEBHOOK_DELIVERIES = Counter(
    "logpipe_webhook_deliveries",
    "GitHub webhook deliveries, by X-GitHub-Event and what became of them.",
    ["event", "outcome"],
    registry=REGISTRY,
)

# -- the live stream ----------------------------------------------------------------------------
STREAM_CLIENTS = Gauge("logpipe_stream_clients", "Live streams open.", registry=REGISTRY)


def webhook_delivery(event: str, outcome: WebhookOutcome) -> None:
    """Count one webhook delivery (``event``: the X-GitHub-Event header, as sent)."""
    WEBHOOK_DELIVERIES.labels(event[:64] or "unknown", outcome).inc()


def committed(conn: pg8000.native.Connection, *, lines: int, events: int, nbytes: int) -> None:
    """Count a batch of rows in the transaction that commits them (see the module's docstring)."""
    deltas = [(f"{c._name}_total", "{}", float(n)) for c, n in ((PARSED_LINES, lines), (PARSED_EVENTS, events),
                                                              (PARSED_BYTES, nbytes)) if n]  # fmt: skip
    metrics_db.add_counts(conn, instance(), deltas)


# -- this process's reports ---------------------------------------------------------------------

_instance: tuple[int, str] | None = None


def instance() -> str:
    """This process's name in the metric rows (new in a forked child)."""
    global _instance
    pid = os.getpid()
    if _instance is None or _instance[0] != pid:
        _instance = (pid, f"{os.uname().nodename}-{pid}-{uuid.uuid4().hex[:8]}")
    return _instance[1]


Connections = Callable[[], AbstractContextManager[pg8000.native.Connection]]
SERVER_REPORT_S = 15.0  # how often a server that lives on between requests reports


@contextmanager
def invocation(function: str, report: Callable[[], None] | None = None) -> Iterator[None]:
    """Count an invocation of ``function``, its duration and its error if it raises; then
    ``report`` (a function's invocation ends in a report: see the module's docstring)."""
    start = time.perf_counter()
    INVOCATIONS.labels(function).inc()
    INVOCATION_ERRORS.labels(function)  # a series from the start: a rate of 0, not no data
    try:
        yield
    except BaseException:
        INVOCATION_ERRORS.labels(function).inc()
        raise
    finally:
        INVOCATION_SECONDS.labels(function).observe(time.perf_counter() - start)
        if report is not None:
            report()


def http_handler(
    function: str, handler: Callable[[Any, Any], Any], connections: Connections, enabled: bool = True
) -> Callable[..., Any]:
    """A Lambda handler answering HTTP events (API Gateway's), counted as ``function``;
    a 5xx answer is an error too. ``enabled`` (``Settings.metrics``) off: nothing is reported."""

    def counted(event: Any, context: Any) -> Any:
        with invocation(function, (lambda: report_quietly(connections)) if enabled else None):
            response = handler(event, context)
            if isinstance(response, dict) and int(response.get("statusCode", 200)) >= 500:
                INVOCATION_ERRORS.labels(function).inc()
            return response

    return counted


from .report import report, report_every, report_quietly  # noqa: E402  (uses the metrics above)

__all__ = [
    "CHUNK_SECONDS",
    "DEAD_LETTERED",
    "INVOCATIONS",
    "INVOCATION_ERRORS",
    "INVOCATION_SECONDS",
    "PARSED_BYTES",
    "PARSED_EVENTS",
    "PARSED_LINES",
    "REGISTRY",
    "RETRIES",
    "STREAM_CLIENTS",
    "WEBHOOK_DELIVERIES",
    "committed",
    "http_handler",
    "instance",
    "invocation",
    "report",
    "report_every",
    "report_quietly",
    "webhook_delivery",
]
