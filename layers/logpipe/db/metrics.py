"""The SQL of metrics: each process's reports, the totals over processes, and the figures
of the pipeline that rollup-cron computes from the tables themselves.

``metric_values`` holds, per process (``instance``), what it has counted: counters and
histogram buckets only grow, by the deltas each report adds; a gauge row is the
process's value at its last report. Totals are sums over processes, so no process ever
waits on another's rows and no value is ever overwritten by an older one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pg8000.native

_UPSERT = (
    "INSERT INTO metric_values (instance, name, labels, kind, value)"
    " SELECT :i, n, l, :k, v FROM unnest(CAST(:n AS text[]), CAST(:l AS text[]), CAST(:v AS float8[])) AS d(n, l, v)"
    " ON CONFLICT (instance, name, labels) DO UPDATE SET value = {value}, updated_at = now()"
)
_ADD = _UPSERT.format(value="metric_values.value + EXCLUDED.value")
_SET = _UPSERT.format(value="EXCLUDED.value")

Sample = tuple[str, str, float]  # name, labels as JSON (keys sorted), value


def labels_json(labels: dict[str, str]) -> str:
    """The one spelling of a label set that rows are keyed by."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _params(samples: Sequence[Sample]) -> dict[str, Any]:
    return {"n": [s[0] for s in samples], "l": [s[1] for s in samples], "v": [s[2] for s in samples]}


def add_counts(conn: pg8000.native.Connection, instance: str, deltas: Sequence[Sample]) -> None:
    """Add ``deltas`` to ``instance``'s counters, in the caller's transaction."""
    if deltas:
        conn.run(_ADD, i=instance, k="counter", **_params(deltas))


def report(
    conn: pg8000.native.Connection, instance: str, number: int, deltas: Sequence[Sample], gauges: Sequence[Sample]
) -> bool:
    """Apply report ``number`` of ``instance``: add its counter deltas, unless that report
    was applied already (a retry after a commit whose outcome was lost), and set its
    gauges. Returns whether the deltas were added. Runs its own transaction."""
    conn.run("BEGIN")
    try:
        conn.run("INSERT INTO metric_instances (instance) VALUES (:i) ON CONFLICT DO NOTHING", i=instance)
        done = int(conn.run("SELECT reports FROM metric_instances WHERE instance = :i FOR UPDATE", i=instance)[0][0])
        fresh = done < number
        if fresh:
            add_counts(conn, instance, deltas)
        if gauges:
            conn.run(_SET, i=instance, k="gauge", **_params(gauges))
        conn.run(
            "UPDATE metric_instances SET reports = greatest(reports, :r), seen_at = now() WHERE instance = :i",
            r=number,
            i=instance,
        )
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return fresh


def totals(conn: pg8000.native.Connection, gauge_stale_s: int) -> list[Sample]:
    """Every sample summed over processes; gauges only of the processes that reported in
    the last ``gauge_stale_s`` seconds (one that stopped reporting holds nothing open)."""
    rows = conn.run(
        "SELECT v.name, v.labels, sum(v.value) FROM metric_values v"
        " LEFT JOIN metric_instances i ON i.instance = v.instance"
        " WHERE v.kind = 'counter' OR i.seen_at > now() - make_interval(secs => :s)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        s=gauge_stale_s,
    )
    return [(r[0], r[1], float(r[2])) for r in rows]


def fold_quiet(conn: pg8000.native.Connection, quiet_s: int, forget_s: int) -> int:
    """Fold the counters of processes that have written nothing for ``quiet_s`` seconds
    into instance '' and drop their gauges, in one transaction (no total moves); forget
    the report numbers of processes quiet for ``forget_s``. Returns the processes folded.
    A process that wakes up later adds to rows of its own again, which is still right."""
    conn.run("BEGIN")
    try:
        quiet = [
            r[0]
            for r in conn.run(
                "SELECT instance FROM metric_values WHERE instance <> '' GROUP BY 1"
                " HAVING max(updated_at) < now() - make_interval(secs => :s)",
                s=quiet_s,
            )
        ]
        if quiet:
            conn.run(
                "WITH gone AS (DELETE FROM metric_values WHERE instance = ANY(CAST(:q AS text[]))"
                " RETURNING name, labels, kind, value)"
                " INSERT INTO metric_values (instance, name, labels, kind, value)"
                " SELECT '', name, labels, 'counter', sum(value) FROM gone WHERE kind = 'counter' GROUP BY name, labels"
                " ON CONFLICT (instance, name, labels) DO UPDATE"
                " SET value = metric_values.value + EXCLUDED.value, updated_at = now()",
                q=quiet,
            )
        conn.run("DELETE FROM metric_instances WHERE seen_at < now() - make_interval(secs => :s)", s=forget_s)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return len(quiet)


# -- the pipeline's own figures, from its tables ----------------------------------------------


@dataclass(frozen=True)
class PipelineFigures:
    events: list[tuple[str | None, str, int]]  # level, source, events counted by the rollups
    files: dict[str, int]  # by status
    lag_s: float  # how long the oldest queued or processing file has waited since it was queued
    oldest_upload_s: float  # age of the oldest file not yet done nor failed
    index_behind: int  # stream entries the indexer (and the rollups) have not reached


STATUSES = ("awaiting_upload", "queued", "processing", "done", "failed")


def pipeline_figures(conn: pg8000.native.Connection, indexer: str) -> PipelineFigures:
    events = conn.run("SELECT level, source, CAST(sum(events) AS bigint) FROM rollup_hours GROUP BY 1, 2 ORDER BY 1, 2")
    files = {s: 0 for s in STATUSES}
    # The file of GitHub's deliveries holds no upload: deliveries are counted by the webhook.
    files.update(
        {r[0]: int(r[1]) for r in conn.run("SELECT status, count(*) FROM files WHERE source <> 'github' GROUP BY 1")}
    )
    [[lag, oldest]] = conn.run(
        "SELECT coalesce(extract(epoch FROM now() - min(queued_at)"
        " FILTER (WHERE status IN ('queued', 'processing'))), 0),"
        " coalesce(extract(epoch FROM now() - min(created_at)), 0)"
        " FROM files WHERE status NOT IN ('done', 'failed')"
    )
    [[behind]] = conn.run(
        "SELECT coalesce((SELECT max(pos) FROM stream_log), 0)"
        " - coalesce((SELECT pos FROM stream_followers WHERE name = :n), 0)",
        n=indexer,
    )
    return PipelineFigures(
        [(r[0], r[1], int(r[2])) for r in events], files, float(lag), float(oldest), max(int(behind), 0)
    )
