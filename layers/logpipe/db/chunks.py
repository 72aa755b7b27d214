"""The chunks table: the newline-aligned byte ranges a file is parsed in, and their resume points.

A chunk's resume point (``next_offset``, ``next_line``) moves forward only in the
transaction that writes the events before it: a delivery that finds it moved knows that
what it was about to write is already there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pg8000.native


@dataclass
class Chunk:
    """A chunk as a worker reads it, with what it needs of its file."""

    file_id: str
    key: str
    compression: str | None
    start_offset: int
    end_offset: int
    first_line: int
    next_offset: int
    next_line: int
    done: bool
    file_status: str
    source_format: str | None
    source_tz: str | None
    etag: str | None  # of the object the file was planned from: every read is pinned to it
    layout: dict[str, Any] | None  # the description its lines are read with (``parsing.layouts``)


def add(conn: pg8000.native.Connection, file_id: str, seq: int, start: int, end: int, first_line: int) -> None:
    """Record a planned chunk, its resume point at its start. Idempotent: planning again adds nothing."""
    conn.run(
        "INSERT INTO chunks (file_id, seq, start_offset, end_offset, first_line, next_offset, next_line) "
        "VALUES (CAST(:f AS uuid), :s, :a, :b, :l, :a, :l) ON CONFLICT (file_id, seq) DO NOTHING",
        f=file_id,
        s=seq,
        a=start,
        b=end,
        l=first_line,
    )


def add_whole_done(conn: pg8000.native.Connection, objects: list[dict[str, Any]]) -> set[str]:
    """Plan small files as one chunk each and mark it done, in the transaction that writes
    their events; returns the ids of the files this did it for. ``objects``: each file's
    ``id``, the ``etag`` it was read at, ``size`` and ``lines``.

    A file is taken only if no one planned it meanwhile: its row is locked, it has no plan
    (``chunks_total``) nor chunk, is neither done nor failed, and is at that ETag or none.
    So a redelivery, or a worker that planned the file the usual way at the same time,
    makes the other write nothing of it.
    """
    rows = conn.run(
        "WITH o AS (SELECT * FROM json_to_recordset(CAST(:o AS json)) AS o(id uuid, etag text, size bigint, "
        " lines bigint)), "
        "free AS (SELECT f.id FROM files f JOIN o ON o.id = f.id WHERE f.chunks_total IS NULL "
        " AND f.status NOT IN ('done', 'failed') AND (f.etag IS NULL OR f.etag = o.etag) "
        " ORDER BY f.id FOR UPDATE OF f) "
        "INSERT INTO chunks (file_id, seq, start_offset, end_offset, first_line, next_offset, next_line, done) "
        "SELECT o.id, 0, 0, o.size, 1, o.size, o.lines + 1, true FROM o JOIN free ON free.id = o.id "
        "ON CONFLICT (file_id, seq) DO NOTHING RETURNING file_id",
        o=json.dumps(objects),
    )
    return {str(file_id) for (file_id,) in rows}


def pending(conn: pg8000.native.Connection, file_id: str) -> list[int]:
    """The numbers of the file's chunks that are not done."""
    return [
        seq for (seq,) in conn.run("SELECT seq FROM chunks WHERE file_id = CAST(:f AS uuid) AND NOT done", f=file_id)
    ]


def load(conn: pg8000.native.Connection, file_id: str, seq: int) -> Chunk | None:
    """The chunk and its file, or None when no such chunk was planned."""
    rows = conn.run(
        "SELECT f.object_key, f.compression, c.start_offset, c.end_offset, c.first_line, c.next_offset, "
        "c.next_line, c.done, f.status, f.source_format, f.source_tz, f.etag, f.layout "
        "FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.file_id = CAST(:f AS uuid) AND c.seq = :s",
        f=file_id,
        s=seq,
    )
    return Chunk(file_id, *rows[0]) if rows else None


def lock_resume_point(conn: pg8000.native.Connection, file_id: str, seq: int) -> tuple[int, bool, int] | None:
    """The chunk's ``(next_line, done, next_offset)``, its row locked until the caller's transaction ends."""
    rows = conn.run(
        "SELECT next_line, done, next_offset FROM chunks WHERE file_id = CAST(:f AS uuid) AND seq = :s FOR UPDATE",
        f=file_id,
        s=seq,
    )
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def advance(
    conn: pg8000.native.Connection, file_id: str, seq: int, next_offset: int, next_line: int, done: bool
) -> None:
    """Move the chunk's resume point, in the transaction that wrote the events before it."""
    conn.run(
        "UPDATE chunks SET next_offset = :o, next_line = :l, done = :d, updated_at = now() "
        "WHERE file_id = CAST(:f AS uuid) AND seq = :s",
        o=next_offset,
        l=next_line,
        d=done,
        f=file_id,
        s=seq,
    )


def stalled(conn: pg8000.native.Connection, older_than_s: int) -> list[tuple[str, int]]:
    """(file id, seq) of unfinished chunks of planned, unfinished files, untouched for that
    long; each is marked touched now, so that it is not found again for that long (its
    message is sent again once, not at every sweep while the queue holds it)."""
    rows = conn.run(
        "UPDATE chunks c SET updated_at = now() FROM files f WHERE f.id = c.file_id "
        "AND NOT c.done AND f.status IN ('queued', 'processing') AND f.chunks_total IS NOT NULL "
        "AND c.updated_at < now() - make_interval(secs => :age) RETURNING c.file_id, c.seq",
        age=older_than_s,
    )
    return [(str(file_id), seq) for file_id, seq in rows]
