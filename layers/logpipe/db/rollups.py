"""Reading the rollups: events per minute or hour, by level, source, file or pattern.

The follower that indexes the stream log writes them (``db/search.add_rollups``), once
per committed batch, in the transaction that moves its watermark: a late chunk is
counted in the minute of its events, a replayed batch is never a second entry, and a
second run finds nothing left to count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

# What a rollup can be grouped by: the table of each bucket size, and the column.
BUCKET_TABLES = {"1m": ("rollup_minutes", "minute"), "1h": ("rollup_hours", "hour")}
PATTERN_TABLES = {"1m": ("rollup_pattern_minutes", "minute"), "1h": ("rollup_pattern_hours", "hour")}
DIMENSIONS = {"level": "level", "source": "source", "file": "file_id"}
# An id that generalised counts for the template it became, as /api/patterns counts it.
_CANONICAL = "coalesce(a.target, r.pattern_id)"
_ALIASES = " LEFT JOIN pattern_aliases a ON a.id = r.pattern_id"


def counts(
    conn: pg8000.native.Connection, *, bucket: str, by: str, start: datetime, end: datetime
) -> Sequence[list[Any]]:
    """(bucket start, key, events) for buckets in [start, end) (on whole buckets), ``by``
    one of ``level``, ``source``, ``file`` (the file's id) or ``pattern`` (the id it
    counts as now). A key is None for events without a level or a pattern."""
    if by == "pattern":
        table, column = PATTERN_TABLES[bucket]
        key, join = _CANONICAL, _ALIASES
    else:
        table, column = BUCKET_TABLES[bucket]
        key, join = f"r.{DIMENSIONS[by]}", ""
    rows: Sequence[list[Any]] = conn.run(
        f"SELECT r.{column}, CAST({key} AS text) AS k, CAST(sum(r.events) AS bigint) FROM {table} r{join}"
        f" WHERE r.{column} >= :s AND r.{column} < :e GROUP BY 1, 2 ORDER BY 1, 2",
        s=start,
        e=end,
    )
    return rows


def templates(conn: pg8000.native.Connection, pattern_ids: Sequence[str]) -> dict[str, str]:
    """The template of each pattern id that has one."""
    rows = conn.run("SELECT id, template FROM patterns WHERE id = ANY(CAST(:p AS text[]))", p=list(pattern_ids))
    return {r[0]: r[1] for r in rows}
