"""The stream log: committed changes in the order a live reader may trust.

Sequence values are handed out when a row is inserted but become visible when its
transaction commits, in another order: with two writers, id 8 can commit after a reader
has read up to id 9, and "everything after 9" never shows it. So an entry gets no
position when it is written. It is inserted, without one, in the transaction of the
rows it announces; after that commits, ``sequence`` gives positions to every committed
entry that lacks one, in a transaction of its own under one advisory lock:

- only committed entries are visible to the sequencer, so a position is never given to
  something that may still roll back;
- sequencer runs follow one another: PostgreSQL makes a transaction's commit visible
  before it releases its locks, so the next run starts after the last run's positions
  are visible, and gives higher ones;
- a reader that sees position P therefore sees every position below P: reading
  ``pos > N`` in order misses nothing and repeats nothing.

Writers do not sequence: a sequencer run is a transaction of its own, and its commit
waits for the disk, which after every batch cost a third of the ingest rate. The readers
of the log sequence instead, whenever entries wait: each relay's tail at its short poll,
the search indexer and rollups at the start of each run. One run takes the entries of
every writer since the last, and a run that finds nothing writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pg8000.native

CHANNEL = "logpipe_stream"  # NOTIFY channel: its payload is the new head position
_SEQUENCER_LOCK = 0x6C6F6773  # "logs"

# Kinds of entry. A kind is a name and the columns it uses; adding one is adding a name
# here and its reader in logpipe.stream.
EVENTS = "events"  # lines [first_line, end_line) of file_id, and the file's counters after them
FILE = "file"  # a file's status changed; data is the file as the API shows it


@dataclass(frozen=True, slots=True)
class Entry:
    pos: int
    kind: str
    file_id: str | None
    first_line: int | None
    end_line: int | None
    data: dict[str, Any] | None
    written_at: datetime


def append(
    conn: pg8000.native.Connection,
    kind: str,
    *,
    file_id: str | None = None,
    first_line: int | None = None,
    end_line: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write an entry, inside the caller's transaction (it appears if that commits)."""
    conn.run(
        "INSERT INTO stream_log (kind, file_id, first_line, end_line, data) "
        "VALUES (:k, CAST(:f AS uuid), :a, :b, CAST(:d AS jsonb))",
        k=kind,
        f=file_id,
        a=first_line,
        b=end_line,
        d=None if data is None else json.dumps(data, default=str, separators=(",", ":")),
    )


def append_many(conn: pg8000.native.Connection, kind: str, entries: list[dict[str, Any]]) -> None:
    """Write entries of one kind in one statement, inside the caller's transaction; each
    has ``append``'s keywords (``file_id``, ``first_line``, ``end_line``, ``data``)."""
    if not entries:
        return
    conn.run(
        "INSERT INTO stream_log (kind, file_id, first_line, end_line, data) "
        "SELECT :k, e.file_id, e.first_line, e.end_line, e.data "
        "FROM json_to_recordset(CAST(:e AS json)) AS e(file_id uuid, first_line bigint, end_line bigint, data jsonb)",
        k=kind,
        e=json.dumps(entries, default=str, separators=(",", ":")),
    )


def sequence(conn: pg8000.native.Connection) -> int:
    """Give positions to the committed entries that have none; returns how many.

    Call it outside any transaction (it runs its own). Safe to call at any time, from
    any number of processes. Wakes the readers that LISTEN on ``CHANNEL``.
    """
    conn.run("BEGIN")
    try:
        conn.run("SELECT pg_advisory_xact_lock(:k)", k=_SEQUENCER_LOCK)
        rows = conn.run(
            "WITH head AS (SELECT coalesce(max(pos), 0) AS pos FROM stream_log),"
            " todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM stream_log WHERE pos IS NULL) "
            "UPDATE stream_log s SET pos = head.pos + todo.n FROM todo, head WHERE s.id = todo.id "
            "RETURNING s.pos"
        )
        if rows:
            conn.run("SELECT pg_notify(:c, :p)", c=CHANNEL, p=str(max(r[0] for r in rows)))
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return len(rows)


@contextmanager
def transaction(conn: pg8000.native.Connection) -> Iterator[pg8000.native.Connection]:
    """A transaction on ``conn``: the entries it writes appear with the rows they announce."""
    conn.run("BEGIN")
    try:
        yield conn
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise


def head(conn: pg8000.native.Connection) -> int:
    """The highest position given so far (0 when none)."""
    return int(conn.run("SELECT coalesce(max(pos), 0) FROM stream_log")[0][0])


def unsequenced(conn: pg8000.native.Connection) -> bool:
    """Whether committed entries wait for a position."""
    return bool(conn.run("SELECT EXISTS (SELECT 1 FROM stream_log WHERE pos IS NULL)")[0][0])


def entries_after(conn: pg8000.native.Connection, pos: int, limit: int = 100) -> list[Entry]:
    """Entries with a position above ``pos``, in order, at most ``limit``."""
    rows = conn.run(
        "SELECT pos, kind, CAST(file_id AS text), first_line, end_line, data, written_at FROM stream_log "
        "WHERE pos > :p ORDER BY pos LIMIT :n",
        p=pos,
        n=limit,
    )
    return [Entry(*r) for r in rows]


def oldest(conn: pg8000.native.Connection) -> int:
    """The lowest position still kept (retention drops older entries); 0 when none."""
    return int(conn.run("SELECT coalesce(min(pos), 0) FROM stream_log WHERE pos IS NOT NULL")[0][0])


# What a reader needs of each event: the attributes filters look at, and the event as the
# API shows it, already JSON (built by Postgres, so a batch of 5,000 is not re-encoded
# in Python for every reader).
EVENT_COLUMNS = (
    "e.line, e.level, e.source, e.message, e.pattern_id, CAST(e.fields AS text), "
    "json_build_object('id', CAST(e.file_id AS text) || ':' || e.line, 'file_id', e.file_id, 'line', e.line,"
    " 'line_count', e.line_count, 'ts', e.ts, 'ts_inferred', e.ts_inferred, 'level', e.level,"
    " 'source', e.source, 'format', e.format, 'message', e.message, 'pattern_id', e.pattern_id,"
    " 'fields', e.fields)::text"
)


def events_in_lines(
    conn: pg8000.native.Connection,
    file_id: str,
    first_line: int,
    end_line: int,
    after_line: int | None = None,
    levels: list[str] | None = None,
) -> Sequence[list[Any]]:
    """The events of ``file_id`` whose first line is in [first_line, end_line) (and above
    ``after_line``; of one of ``levels`` if given), in line order, as ``EVENT_COLUMNS`` rows."""
    start = first_line if after_line is None else max(first_line, after_line + 1)
    rows: Sequence[list[Any]] = conn.run(
        f"SELECT {EVENT_COLUMNS} FROM events e WHERE e.file_id = CAST(:f AS uuid) "
        "AND e.line >= :a AND e.line < :b"
        + (" AND e.level = ANY(:levels)" if levels is not None else "")
        + " ORDER BY e.line",
        f=file_id,
        a=start,
        b=end_line,
        **({"levels": levels} if levels is not None else {}),
    )
    return rows
