"""rollup-cron: what runs every minute (template.yaml's schedule; a timer under ``logpipe run``).

1. the search index and the rollups catch up with the stream log (``search.indexer``);
2. sweeps: work whose message was lost is queued again, objects nobody was told of are
   picked up, uploads that never came are closed (``ingest.sweep``);
3. retention: events older than ``LOGPIPE_RETENTION_DAYS`` go, a month partition at a
   time, with what the index and the stream log held of them; the rollups stay;
4. metrics: the rows of processes gone quiet are folded together, and the totals and
   the pipeline's figures are pushed to the Pushgateway, whose stale groups go.

Every step is safe to run twice, or in two runs at once, and after any failure: each
takes its own lock or works on rows that say what is done. A step that fails does not
stop the others; the run then raises, naming them, so that the invocation counts as
failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import metrics
from ..db import cron as cron_db
from ..db import metrics as metrics_db
from ..errors import LogpipeError
from ..ingest import Context
from ..ingest.sweep import expire_uploads, pick_up_unrecorded, requeue_stalled
from ..metrics import push
from ..queue import all_queues
from ..search.indexer import FOLLOWER, index_pending

log = logging.getLogger("logpipe.cron")

INDEX_BUDGET_S = 40.0  # of a run every minute: the index catches up over several runs if it must
MARGIN_S = 15.0  # left for the other steps
DEFAULT_ROWS_PER_RUN = 100_000  # rows of the default partition deleted per run, at most
QUIET_S = 3600  # a process that wrote no metric for this long is folded into the others
FORGET_S = 7 * 86400  # ... and its report numbers forgotten after this


class CronStepError(LogpipeError):
    """One or more steps of a run failed (the others ran)."""


@dataclass
class Summary:
    indexed_blocks: int = 0
    index_caught_up: bool = False
    requeued: int = 0
    picked_up: int = 0
    expired_uploads: int = 0
    dropped_partitions: list[str] = field(default_factory=list)
    deleted_default_rows: int = 0
    forgotten_blocks: int = 0
    pruned_stream_entries: int = 0
    folded_instances: int = 0
    pushed_groups: int = 0
    deleted_groups: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(ctx: Context, budget_s: float) -> Summary:
    """One run of every step, within about ``budget_s`` seconds (see the module's docstring).
    Raises CronStepError after the last step if any step failed."""
    summary = Summary()
    deadline = time.monotonic() + budget_s
    steps: list[tuple[str, Callable[[], None]]] = [
        ("index", lambda: _index(ctx, summary, deadline)),
        ("sweeps", lambda: _sweeps(ctx, summary)),
        ("retention", lambda: _retention(ctx, summary)),
        ("metrics", lambda: _metrics(ctx, summary)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:
            log.exception("rollup-cron: the %s step failed; the others go on", name)
            summary.failed.append(name)
            ctx.rollback()
    if summary.failed:
        raise CronStepError(f"rollup-cron: step(s) failed: {', '.join(summary.failed)} (see the log)")
    return summary


def _index(ctx: Context, summary: Summary, deadline: float) -> None:
    budget = min(INDEX_BUDGET_S, max(deadline - time.monotonic() - MARGIN_S, 0.0))
    with ctx.borrowed() as conn:
        progress = index_pending(conn, budget)
    summary.indexed_blocks, summary.index_caught_up = progress.blocks, progress.caught_up


def _sweeps(ctx: Context, summary: Summary) -> None:
    after = ctx.settings.stuck_after_s
    summary.requeued = requeue_stalled(ctx, after)
    summary.picked_up = pick_up_unrecorded(ctx, after)
    summary.expired_uploads = expire_uploads(ctx)


def retention_cutoff(now: datetime, days: int) -> datetime:
    """The start of the month that holds ``now - days``: events before it go."""
    past = now - timedelta(days=days)
    return datetime(past.year, past.month, 1, tzinfo=UTC)


def _retention(ctx: Context, summary: Summary) -> None:
    days = ctx.settings.retention_days
    if days <= 0:
        return
    now = datetime.now(UTC)
    cutoff = retention_cutoff(now, days)
    with ctx.borrowed() as conn:
        for name in cron_db.partitions_before(conn, cutoff):
            if cron_db.drop_partition(conn, name):
                summary.dropped_partitions.append(name)
                log.info("dropped %s: its month is past the retention of %d days", name, days)
            else:
                log.info("%s is past the retention but events was busy: next run", name)
        summary.deleted_default_rows = cron_db.delete_default_before(conn, cutoff, DEFAULT_ROWS_PER_RUN)
        summary.forgotten_blocks = cron_db.forget_blocks_before(conn, cutoff)
        summary.pruned_stream_entries = cron_db.prune_stream_log(conn, now - timedelta(days=days))


def pipeline_collector(ctx: Context) -> push.Figures:
    """The pipeline's figures now: from its tables, and its queues' depths."""
    queues = []
    for q in all_queues(ctx.settings):
        try:
            queues += q.depth()
        finally:
            q.close()
    return push.Figures(metrics_db.pipeline_figures(ctx.conn, FOLLOWER), queues)


def _metrics(ctx: Context, summary: Summary) -> None:
    settings = ctx.settings
    with ctx.borrowed() as conn:
        summary.folded_instances = metrics_db.fold_quiet(conn, QUIET_S, FORGET_S)
        if settings.metrics:
            metrics.report(conn)  # this run's own counts, before the totals are read
    if not settings.pushgateway_url:
        return
    figures = pipeline_collector(ctx)
    with ctx.borrowed() as conn:
        pushed = push.push_totals(
            conn, settings.pushgateway_url, settings.stack, figures, stale_s=settings.pushgateway_stale_s
        )
    summary.pushed_groups, summary.deleted_groups = pushed.groups, pushed.deleted
