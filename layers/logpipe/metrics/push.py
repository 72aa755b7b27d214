"""The totals as Prometheus reads them: served at ``GET /metrics`` by the local runner,
pushed to the Pushgateway by rollup-cron under stable grouping keys, and the sweep of
groups nobody pushes any more.

Two groups per deployment (``stack``): ``functions``, the totals of what every process
reported, and ``pipeline``, figures rollup-cron computes from the tables (events by
level and source, files by status, queue depths, lags). A push replaces its group, and
pushes are made one at a time (``push_totals`` holds a lock while it reads and pushes),
so the Pushgateway only ever holds a later total in place of an earlier one.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pg8000.native
from prometheus_client import CollectorRegistry, delete_from_gateway, push_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from ..db import metrics as metrics_db
from . import REGISTRY

log = logging.getLogger("logpipe.metrics")

JOB = "logpipe"
GAUGE_STALE_S = 120  # a gauge counts while its process reported within this (servers report every 15 s)
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "")
_PUSH_LOCK = 0x6C6F6770 + 1  # advisory lock: one push of a deployment's totals at a time


class Totals(Collector):
    """The metrics of ``REGISTRY`` with the values summed over every process's rows."""

    def __init__(self, samples: Iterable[metrics_db.Sample]) -> None:
        self.samples = list(samples)

    def collect(self) -> Iterator[Metric]:
        by_family: dict[str, list[metrics_db.Sample]] = defaultdict(list)
        families = {f.name: f for f in REGISTRY.collect()}
        for sample in self.samples:
            family = _family_of(sample[0], families)
            if family is not None:
                by_family[family].append(sample)
        for name, meta in families.items():
            out = Metric(name, meta.documentation, meta.type)
            for sample_name, labels, value in by_family.get(name, []):
                out.add_sample(sample_name, json.loads(labels), value)
            yield out


def _family_of(sample: str, families: dict[str, Metric]) -> str | None:
    """The family a sample name belongs to (``x_total`` and ``x_bucket`` to ``x``)."""
    for suffix in _SUFFIXES:
        name = sample[: -len(suffix)] if suffix else sample
        if sample.endswith(suffix) and name in families:
            return name
    return None


class Figures(Collector):
    """Figures of the pipeline computed from its tables and its queues."""

    def __init__(self, figures: metrics_db.PipelineFigures, queues: list[tuple[str, str, int]]) -> None:
        self.figures, self.queues = figures, queues  # queues: (name, role, messages)

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        events = Metric("logpipe_events", "Events stored, by level and source (from the rollups).", "counter")
        for level, source, n in f.events:
            events.add_sample("logpipe_events_total", {"level": level or "none", "source": source}, n)
        yield events
        files = GaugeMetricFamily("logpipe_files", "Files by status.", labels=["status"])
        for status, n in f.files.items():
            files.add_metric([status], n)
        yield files
        depth = GaugeMetricFamily(
            "logpipe_queue_messages",
            "Messages in each queue; role is work, retry or dead_letter.",
            labels=["queue", "role"],
        )
        for name, role, n in sorted(self.queues):
            depth.add_metric([name, role], n)
        yield depth
        yield GaugeMetricFamily(
            "logpipe_ingest_lag_seconds", "How long the oldest queued or processing file has waited.", value=f.lag_s
        )
        yield GaugeMetricFamily(
            "logpipe_oldest_unprocessed_upload_seconds",
            "Age of the oldest file neither done nor failed (awaiting its upload included).",
            value=f.oldest_upload_s,
        )
        yield GaugeMetricFamily(
            "logpipe_index_behind_entries",
            "Stream log entries the search index and the rollups have not reached yet.",
            value=f.index_behind,
        )


class Grouped(Collector):
    """``collector``'s metrics with the labels of a grouping key on every sample: what the
    Pushgateway adds to a pushed group, for the same figures served another way."""

    def __init__(self, collector: Collector, labels: dict[str, str]) -> None:
        self.collector, self.labels = collector, labels

    def collect(self) -> Iterator[Metric]:
        for family in self.collector.collect():
            out = Metric(family.name, family.documentation, family.type)
            for s in family.samples:
                out.add_sample(s.name, {**s.labels, **self.labels}, s.value)
            yield out


def registry(*collectors: Collector) -> CollectorRegistry:
    out = CollectorRegistry(auto_describe=False)
    for c in collectors:
        out.register(c)
    return out


def exposition(*collectors: Collector) -> bytes:
    """The text Prometheus scrapes, of ``collectors``."""
    return generate_latest(registry(*collectors))


def grouping_key(stack: str, group: str) -> dict[str, str]:
    return {"stack": stack, "group": group}


@dataclass
class Pushed:
    groups: int = 0
    deleted: int = 0
    busy: bool = False  # another run was pushing


def push_totals(
    conn: pg8000.native.Connection,
    url: str,
    stack: str,
    pipeline: Collector,
    *,
    stale_s: int,
    timeout_s: float = 10.0,
) -> Pushed:
    """Push the functions' totals and the pipeline's figures to the Pushgateway at ``url``
    (each group replaced whole), then delete the groups of job ``logpipe`` not pushed for
    ``stale_s`` seconds (a deployment that is gone). Reads and pushes under a lock held in
    a transaction, so that two runs never push an earlier total over a later one. Call
    it outside a transaction."""
    conn.run("BEGIN")
    try:
        if not conn.run("SELECT pg_try_advisory_xact_lock(:k, hashtext(:s))", k=_PUSH_LOCK, s=stack)[0][0]:
            conn.run("ROLLBACK")
            return Pushed(busy=True)
        functions = Totals(metrics_db.totals(conn, GAUGE_STALE_S))
        push_to_gateway(url, JOB, registry(functions), grouping_key(stack, "functions"), timeout=timeout_s)
        push_to_gateway(url, JOB, registry(pipeline), grouping_key(stack, "pipeline"), timeout=timeout_s)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return Pushed(groups=2, deleted=delete_stale_groups(url, stale_s, timeout_s))


def groups(url: str, timeout_s: float = 10.0) -> list[tuple[dict[str, str], float]]:
    """Every group the Pushgateway holds: its grouping labels and when it was last pushed."""
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=timeout_s) as answer:
        data = json.load(answer).get("data") or []
    out = []
    for group in data:
        pushed = group.get("push_time_seconds", {}).get("metrics") or [{"value": "0"}]
        out.append((dict(group.get("labels") or {}), float(pushed[0]["value"])))
    return out


def delete_stale_groups(url: str, stale_s: float, timeout_s: float = 10.0, now: float | None = None) -> int:
    """Delete the groups of job ``logpipe`` last pushed more than ``stale_s`` before ``now``."""
    now = time.time() if now is None else now
    deleted = 0
    for labels, pushed_at in groups(url, timeout_s):
        if labels.get("job") != JOB or now - pushed_at <= stale_s:
            continue
        key = {k: v for k, v in labels.items() if k != "job"}
        delete_from_gateway(url, JOB, key, timeout=timeout_s)
        log.info("deleted the Pushgateway group %s, last pushed %.0f s ago", key, now - pushed_at)
        deleted += 1
    return deleted
