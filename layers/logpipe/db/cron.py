"""What rollup-cron keeps between runs, and the SQL of retention: dropping what is older
than ``LOGPIPE_RETENTION_DAYS`` while keeping the rollups.

Events are partitioned by month of ``ts``, so events go a month at a time: the cutoff is
the start of the month that holds ``now - LOGPIPE_RETENTION_DAYS``. A partition whose
whole month is before it is dropped (``drop_partition`` says how it spares writers);
rows past the cutoff in the default partition are deleted, a bounded number a run. What
the search index and the stream log held of them goes too. The rollups stay: they are
what charts of old ranges read.
"""

from __future__ import annotations

import re
from datetime import datetime

import pg8000.native

_PARTITION = re.compile(r"^events_(\d{4})_(\d{2})$")


def get(conn: pg8000.native.Connection, name: str) -> str | None:
    rows = conn.run("SELECT value FROM sweep_state WHERE name = :n", n=name)
    return str(rows[0][0]) if rows else None


def put(conn: pg8000.native.Connection, name: str, value: str) -> None:
    conn.run(
        "INSERT INTO sweep_state (name, value) VALUES (:n, :v)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        n=name,
        v=value,
    )


def partitions_before(conn: pg8000.native.Connection, cutoff: datetime) -> list[str]:
    """The monthly partitions of ``events`` whose whole month is before ``cutoff``."""
    rows = conn.run(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
    )
    out = []
    for (name,) in rows:
        m = _PARTITION.match(name)
        if m is None:
            continue
        year, month = int(m.group(1)), int(m.group(2))
        if (year + month // 12, month % 12 + 1) <= (cutoff.year, cutoff.month):  # the month after it began
            out.append(name)
    return sorted(out)


LOCK_WAIT = "2s"


def drop_partition(conn: pg8000.native.Connection, name: str) -> bool:
    """Drop the partition; returns whether it did. Dropping a partition locks ``events``
    as a whole for a moment (a concurrent detach, which would not, is refused while a
    default partition exists), and a lock request that waits holds up every writer
    behind it: so it waits ``LOCK_WAIT`` at most, and a busy table is left for the next
    run."""
    if _PARTITION.match(name) is None:
        raise ValueError(f"not an events partition: {name!r}")
    conn.run("BEGIN")
    try:
        conn.run(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        conn.run(f"DROP TABLE {name}")
        conn.run("COMMIT")
    except pg8000.native.DatabaseError as exc:
        conn.run("ROLLBACK")
        if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C") == "55P03":  # lock_not_available
            return False
        raise
    return True


def delete_default_before(conn: pg8000.native.Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows of the default partition older than ``cutoff``."""
    rows = conn.run(
        "WITH old AS (SELECT ctid FROM events_default WHERE ts < :c LIMIT :n)"
        " DELETE FROM events_default d USING old WHERE d.ctid = old.ctid RETURNING 1",
        c=cutoff,
        n=limit,
    )
    return len(rows)


def forget_blocks_before(conn: pg8000.native.Connection, cutoff: datetime) -> int:
    """Drop the search index's blocks whose events all lie before ``cutoff`` (gone)."""
    return len(conn.run("DELETE FROM search_blocks WHERE ts_max < :c RETURNING 1", c=cutoff))


def prune_stream_log(conn: pg8000.native.Connection, cutoff: datetime) -> int:
    """Delete stream log entries written before ``cutoff`` that every follower has passed.
    The newest entry always stays: positions continue from it, and a log emptied would
    start them again from 1 under readers that are further on."""
    rows = conn.run(
        "DELETE FROM stream_log WHERE written_at < :c AND pos IS NOT NULL"
        " AND pos < (SELECT max(pos) FROM stream_log)"
        " AND pos <= (SELECT coalesce(min(pos), 0) FROM stream_followers) RETURNING 1",
        c=cutoff,
    )
    return len(rows)
