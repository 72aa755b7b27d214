"""The exactly-once commit: a batch's events, its chunk's new resume point, the file's
counters and the pattern counts, in one transaction under a lock on the chunk row.

A delivery that finds the resume point moved (a duplicate, a replay, a delivery that
overlapped another) writes nothing; a worker killed mid-chunk loses only the batch it had
not committed, which the next delivery redoes.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pg8000.native

from .. import metrics
from ..db import chunks as chunks_db
from ..db import files as files_db
from ..db import patterns as patterns_db
from ..db import stream as stream_db
from ..db.events import apply_file_fields, apply_files_fields, copy_together, ensure_partitions, refused_value
from ..errors import LogpipeError
from .batches import Batch, merged_counts
from .context import Context


class ChunkTakenError(LogpipeError):
    """Another delivery of the same chunk got there first: this one stops, nothing written."""


def commit_batch(
    ctx: Context, file_id: str, seq: int, expect_line: int, batch: Batch, damage: Exception | None = None
) -> None:
    """Write ``batch`` and move the chunk's resume point past it, in one transaction, if the
    resume point is still ``expect_line``; else raise ChunkTakenError, having written nothing.

    ``damage``: the chunk's input could not be read past this batch; the file fails with it.
    A row that Postgres refuses fails no batch: it is found and kept raw (``CopyBuffer.
    keep_refused_raw``), and the batch is written again without the refused value.
    """
    buf = batch.buf
    if buf.months:
        ensure_partitions(ctx.conn, buf.months)
    try:
        _write(ctx, file_id, seq, expect_line, batch, damage)
    except pg8000.native.DatabaseError as exc:
        if not refused_value(exc) or not buf.keep_refused_raw(ctx.conn):
            raise
        _write(ctx, file_id, seq, expect_line, batch, damage)


def _write(ctx: Context, file_id: str, seq: int, expect_line: int, batch: Batch, damage: Exception | None) -> None:
    buf = batch.buf
    with ctx.transaction() as conn:
        resume = chunks_db.lock_resume_point(conn, file_id, seq)
        if resume is None or resume[1] or resume[0] != expect_line:
            raise ChunkTakenError(f"chunk {seq} of {file_id} moved on under us")
        buf.copy_into(conn)
        apply_file_fields(conn, file_id, expect_line, batch.next_line)
        chunks_db.advance(conn, file_id, seq, batch.next_offset, batch.next_line, batch.last)
        progress = files_db.add_progress(
            conn,
            file_id,
            lines=batch.next_line - expect_line,
            events=buf.rows,
            errors=batch.errors,
            truncated=batch.truncated,
            chunk_done=batch.last,
            content_error=str(damage) if damage is not None else None,
        )
        # Live readers learn of the batch, and of the file's progress after it.
        stream_db.append(
            conn, stream_db.EVENTS, file_id=file_id, first_line=expect_line, end_line=batch.next_line, data=progress
        )
        if ctx.settings.metrics:  # counted with the rows: the figures are the tables'
            metrics.committed(
                conn, lines=batch.next_line - expect_line, events=buf.rows, nbytes=batch.next_offset - resume[2]
            )
        # Last: every worker counts the same patterns, so their rows stay locked for as
        # short a time as can be.
        patterns_db.add_counts(conn, batch.patterns)
        patterns_db.add_aliases(conn, batch.aliases)


class Committer:
    """Commits one chunk's batches on a thread of its own while the next batch is parsed.

    One commit at a time, in order: ``commit`` first waits for the one before, and raises
    its error, if any, so a chunk stops at its first failed commit and nothing after that
    commit is written. The database connection belongs to the commit thread from the
    first ``commit`` until the ``with`` block ends, which waits for the last commit (its
    error, which happened first, wins over one raised in the block).
    """

    def __init__(self, ctx: Context, file_id: str, seq: int) -> None:
        self._ctx, self._file_id, self._seq = ctx, file_id, seq
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logpipe-commit")
        self._pending: Future[None] | None = None

    def __enter__(self) -> Committer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()

    def commit(self, expect_line: int, batch: Batch, damage: Exception | None) -> None:
        self.wait()
        self._pending = self._pool.submit(commit_batch, self._ctx, self._file_id, self._seq, expect_line, batch, damage)

    def wait(self) -> None:
        """Wait for the commit under way, if any; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


@dataclass
class WholeFile:
    """A small plain file planned as one chunk and parsed whole (``chunk.parse_whole``),
    ready to commit with the other small files of its batch."""

    file_id: str
    etag: str
    size: int
    layout: dict[str, Any] | None
    inferred: bool  # ``layout`` was inferred from this object: recorded with its events
    batches: list[Batch]

    @property
    def lines(self) -> int:
        return self.batches[-1].next_line - 1


def commit_whole(ctx: Context, files: list[WholeFile]) -> set[str]:
    """Plan, write and finish small files in one transaction: each file's chunk row (done),
    its events (all the files' in one COPY), its counters and status (``done``), the
    stream entries that tell live readers, the pattern counts and the metrics of the rows.
    Returns the ids of the files it committed.

    Exactly once, as a chunk's commit: a file that another delivery planned or finished
    first is left out, and nothing of it is written (``chunks.add_whole_done``). When the
    transaction fails, nothing of any file is written, and the pattern aliases taken for
    it are reported again with the next commit.
    """
    if not files:
        return set()
    months = set().union(*(b.buf.months for f in files for b in f.batches))
    try:
        if months:
            ensure_partitions(ctx.conn, months)
        with ctx.transaction() as conn:
            objects = [{"id": f.file_id, "etag": f.etag, "size": f.size, "lines": f.lines} for f in files]
            taken = chunks_db.add_whole_done(conn, objects)
            mine = [f for f in files if f.file_id in taken]
            if not mine:
                return taken
            batches = [b for f in mine for b in f.batches]
            copy_together(conn, [b.buf for b in batches])
            apply_files_fields(conn, [f.file_id for f in mine], 1, max(f.lines for f in mine) + 1)
            counts = [
                {"id": f.file_id, "size": f.size, "etag": f.etag, "lines": f.lines,
                 "events": sum(b.buf.rows for b in f.batches), "errors": sum(b.errors for b in f.batches),
                 "truncated": sum(b.truncated for b in f.batches), "layout": f.layout, "inferred": f.inferred}
                for f in mine
            ]  # fmt: skip
            views = files_db.finish_whole(conn, counts, ctx.settings.chunk_bytes)
            by_id = {v["id"]: v for v in views}
            # Live readers learn of each file's lines, and of the file done after them.
            stream_db.append_many(
                conn,
                stream_db.EVENTS,
                [{"file_id": f.file_id, "first_line": 1, "end_line": f.lines + 1, "data": by_id[f.file_id]}
                 for f in mine],
            )  # fmt: skip
            if ctx.settings.metrics:
                metrics.committed(
                    conn,
                    lines=sum(f.lines for f in mine),
                    events=sum(b.buf.rows for b in batches),
                    nbytes=sum(f.size for f in mine),
                )
            patterns_db.add_counts(conn, merged_counts(b.patterns for b in batches))
            patterns_db.add_aliases(conn, {k: v for b in batches for k, v in b.aliases.items()})
    except BaseException:
        ctx.miner.report_again()
        raise
    return taken
