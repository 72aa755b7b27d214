"""A process's reports: what it counted since its last report, added to its rows in
PostgreSQL (``db/metrics.py``), exactly once."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pg8000.native

from ..db import metrics as metrics_db
from . import REGISTRY, Connections, instance

log = logging.getLogger("logpipe.metrics")

_SKIPPED = ("_created", "_gsum", "_gcount")


def samples() -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """This process's counter samples (histogram buckets, counts and sums among them) and
    gauge samples, by (name, labels as JSON)."""
    counters: dict[tuple[str, str], float] = {}
    gauges: dict[tuple[str, str], float] = {}
    for family in REGISTRY.collect():
        into = gauges if family.type == "gauge" else counters
        for s in family.samples:
            if not s.name.endswith(_SKIPPED):
                into[(s.name, metrics_db.labels_json(s.labels))] = float(s.value)
    return counters, gauges


@dataclass
class _Pending:
    number: int
    deltas: list[metrics_db.Sample]
    gauges: list[metrics_db.Sample]
    counters: dict[tuple[str, str], float]  # the values the deltas bring the rows up to


class Reporter:
    """Reports of one process, one at a time. A report whose commit failed is sent again,
    as it was, before anything newer: its number tells the database whether it was
    applied (a commit can succeed and its answer be lost)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reported: dict[tuple[str, str], float] = {}
        self._gauges: dict[tuple[str, str], float] = {}
        self._number = 0
        self._pending: _Pending | None = None

    def report(self, conn: pg8000.native.Connection) -> bool:
        """Add what this process counted since its last report to its rows; returns whether
        there was anything to add. Call it outside a transaction. Raises when the
        database does not answer (the report is kept for next time)."""
        with self._lock:
            pending = self._pending or self._next()
            if pending is None:
                return False
            self._pending = pending
            metrics_db.report(conn, instance(), pending.number, pending.deltas, pending.gauges)
            self._reported.update(pending.counters)
            self._gauges.update({(n, labels): v for n, labels, v in pending.gauges})
            self._pending = None
            return True

    def _next(self) -> _Pending | None:
        counters, gauges = samples()
        # A series seen for the first time is reported even at 0: it exists from then on.
        deltas = [(n, labels, v - self._reported.get((n, labels), 0.0)) for (n, labels), v in counters.items()
                  if v != self._reported.get((n, labels)) ]  # fmt: skip
        # A gauge is reported when it changed, and always while not zero: its row says the
        # process still holds it (rows of processes that stop reporting are not counted).
        changed = [(n, labels, v) for (n, labels), v in gauges.items() if v != self._gauges.get((n, labels), 0.0) or v]
        if not deltas and not changed:
            return None
        self._number += 1
        return _Pending(self._number, deltas, changed, counters)


_reporter = Reporter()


def report(conn: pg8000.native.Connection) -> bool:
    """This process's report (see ``Reporter.report``)."""
    return _reporter.report(conn)


def report_quietly(connections: Connections) -> None:
    """Report on a connection from ``connections``; a database that does not answer is
    logged, never raised: the report waits for the next one, and the work it counted
    has succeeded or failed on its own."""
    try:
        with connections() as conn:
            report(conn)
    except Exception:  # metrics never fail the work they count
        log.warning("could not report metrics; they go with the next report", exc_info=True)


def report_every(seconds: float, connections: Connections, stop: threading.Event | None = None) -> threading.Thread:
    """Report every ``seconds`` from a thread of its own, for a server that lives on
    between requests (gauges stay counted only while their process reports)."""
    stopping = stop or threading.Event()

    def run() -> None:
        while not stopping.wait(seconds):
            report_quietly(connections)

    thread = threading.Thread(target=run, daemon=True, name="logpipe-metrics")
    thread.start()
    return thread
