"""Turning queue messages into committed events.

Two kinds of message reach the parse-worker:

- S3 ``ObjectCreated`` notifications: the object is *planned* into newline-aligned chunks
  (a gzip object is one chunk), each chunk gets a row and a ``{"kind": "chunk"}`` message.
- chunk messages: the chunk is streamed from its resume point, parsed, and written in
  batches. Each batch's events and the chunk's new resume point commit in one
  transaction, under a lock on the chunk row, so a redelivered, replayed or concurrent
  duplicate message adds no row, and a worker killed mid-chunk loses nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import unquote_plus

import pg8000.native

from .. import db
from ..config import Settings
from ..db import files as files_db
from ..db.events import CopyBuffer, ensure_partitions
from ..errors import LogpipeError, PermanentError, RetryableError, ServiceUnavailableError
from ..parsing import Line, LineReader, Rows, looks_binary
from ..parsing.formats import Parser
from ..parsing.multiline import Event, Joiner
from ..patterns import Pattern, PatternMiner
from ..queue import Delivery, Outcome, WorkQueue, work_queue
from ..storage import Bucket
from ..storage.gunzip import DamagedInputError, compression_of, decompressed
from ..text import storable
from .boundaries import split_points
from .lane import CompiledLane

log = logging.getLogger("logpipe.ingest")

SNIFF_BYTES = 8192
# Stop taking new batches this long before the function's time runs out.
BUDGET_MARGIN_S = 20.0
ERROR_LEVELS = ("error", "fatal")
# Distinct message shapes a worker's pattern miner may hold (a few hundred bytes each).
MAX_MINER_SHAPES = 200_000
# How many of the most frequent known templates a new miner learns before its first line.
PREWARM_TEMPLATES = 5000


class UnknownChunkError(PermanentError):
    """A chunk message names a chunk that was never planned: the message is bad, not the file."""


class ChunkTakenError(LogpipeError):
    """Another delivery of the same chunk got there first: this one stops, nothing written."""


@dataclass
class Context:
    """What a worker process keeps between messages: settings and reused connections."""

    settings: Settings
    _conn: pg8000.native.Connection | None = None
    _bucket: Bucket | None = None
    _queue: WorkQueue | None = None
    _miner: PatternMiner | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def conn(self) -> pg8000.native.Connection:
        if self._conn is None:
            self._conn = db.connect(self.settings)
        return self._conn

    def drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is already broken; we only let go of it
                pass

    @property
    def miner(self) -> PatternMiner:
        """This process's pattern miner: templates keep sharpening across the chunks it reads.

        A new one (a cold start, or a reset at ``MAX_MINER_SHAPES`` to bound memory) first
        learns the most frequent templates found so far by every worker, so that its first
        lines get the templates the others settled on rather than ones of their own.
        """
        if self._miner is None or len(self._miner) > MAX_MINER_SHAPES:
            miner = PatternMiner()
            rows = self.conn.run("SELECT template FROM patterns ORDER BY count DESC LIMIT :n", n=PREWARM_TEMPLATES)
            for (template,) in rows:
                miner.add(template)  # a template is a message whose values are masked already
            self._miner = miner
        return self._miner

    @property
    def bucket(self) -> Bucket:
        if self._bucket is None:
            self._bucket = Bucket(self.settings)
        return self._bucket

    @property
    def queue(self) -> WorkQueue:
        if self._queue is None:
            self._queue = work_queue(self.settings)
        return self._queue

    def close(self) -> None:
        self.drop_connection()
        if self._queue is not None:
            self._queue.close()


# -- messages --------------------------------------------------------------------------------


def chunk_message(file_id: str, seq: int) -> str:
    return json.dumps({"kind": "chunk", "file_id": str(file_id), "seq": seq})


def _decode_message(body: str) -> dict[str, Any]:
    try:
        msg = json.loads(body)
    except ValueError as exc:
        raise PermanentError(f"message is not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise PermanentError("message is not a JSON object")
    return msg


def handle_message(ctx: Context, body: str, deadline: float) -> None:
    """Do what one message asks. Idempotent: any message may be delivered again."""
    msg = _decode_message(body)
    if msg.get("Event") == "s3:TestEvent":
        return
    if "Records" in msg:
        records = msg["Records"]
        if not isinstance(records, list):
            raise PermanentError("'Records' is not a list")
        for record in records:
            if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
                raise PermanentError(f"not an S3 event record: {str(record)[:200]}")
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            try:
                key = unquote_plus(record["s3"]["object"]["key"])
                bucket = record["s3"]["bucket"]["name"]
            except (KeyError, TypeError):
                raise PermanentError("S3 event record without s3.bucket.name and s3.object.key") from None
            if bucket != ctx.settings.bucket:
                raise PermanentError(f"event for bucket {bucket!r}, but this worker reads {ctx.settings.bucket!r}")
            plan_object(ctx, key, deadline)
        return
    if msg.get("kind") == "chunk":
        try:
            file_id, seq = str(uuid.UUID(str(msg["file_id"]))), int(msg["seq"])
        except (KeyError, TypeError, ValueError):
            raise PermanentError("chunk message needs a UUID 'file_id' and a whole-number 'seq'") from None
        process_chunk(ctx, file_id, seq, deadline)
        return
    raise PermanentError(f"unknown message: {body[:200]}")


# -- planning --------------------------------------------------------------------------------


def plan_object(ctx: Context, key: str, deadline: float) -> None:
    """Record the object's chunks and queue them. Deterministic, so a repeat changes nothing."""
    info = ctx.bucket.head(key)
    conn = ctx.conn
    conn.run("BEGIN")
    try:
        files_db.create_external(conn, key, info.size)
        f = files_db.by_key(conn, key, lock=True)
        assert f is not None
        file_id = str(f["id"])
        replayed = f["status"] == "failed" and str(f["error"] or "").startswith("dead-lettered:")
        if f["status"] in ("done", "failed") and f["etag"] == info.etag and not replayed:
            conn.run("COMMIT")
            return
        if f["chunks_total"] is not None:
            pending = [r[0] for r in conn.run("SELECT seq FROM chunks WHERE file_id = :f AND NOT done", f=file_id)]
            conn.run("COMMIT")
            ctx.queue.send([chunk_message(file_id, s) for s in pending])
            return
        declared = f["size_declared"]
        reason = None
        if declared is not None and info.size > declared:
            reason = f"the uploaded object is {info.size} bytes but {declared} were declared: not parsed"
        conn.run(
            "UPDATE files SET size = :size, etag = :etag, status = 'queued', queued_at = coalesce(queued_at, now()) "
            "WHERE id = :id",
            size=info.size,
            etag=info.etag,
            id=file_id,
        )
        if reason:
            files_db.fail(conn, file_id, reason)
        elif info.size == 0:
            conn.run(
                "UPDATE files SET status = 'done', chunks_total = 0, finished_at = now() WHERE id = :id", id=file_id
            )
        conn.run("COMMIT")
    except BaseException:
        _rollback(ctx)
        raise
    if reason or info.size == 0:
        return

    head = ctx.bucket.open(key, 0, min(info.size, SNIFF_BYTES))(SNIFF_BYTES)
    compression = compression_of(head)
    if compression is not None:
        try:
            head = decompressed(ctx.bucket.open(key), compression)(SNIFF_BYTES)
        except DamagedInputError:
            head = b""  # the chunk itself will report the damage, after keeping what it can
    if looks_binary(head):
        conn.run("BEGIN")
        files_db.fail(conn, file_id, "this is a binary file (NUL or control bytes in its first 8 KiB), not a text log")
        conn.run("COMMIT")
        return

    chunk_bytes = ctx.settings.chunk_bytes
    if compression or info.size <= chunk_bytes:
        plan: Iterable[tuple[int, int, int]] = [(0, info.size, 1)]
    else:
        plan = split_points(ctx.bucket.open(key), info.size, chunk_bytes)
    seqs = []
    for seq, (start, end, first_line) in enumerate(plan):
        conn.run(
            "INSERT INTO chunks (file_id, seq, start_offset, end_offset, first_line, next_offset, next_line) "
            "VALUES (:f, :s, :a, :b, :l, :a, :l) ON CONFLICT (file_id, seq) DO NOTHING",
            f=file_id,
            s=seq,
            a=start,
            b=end,
            l=first_line,
        )
        seqs.append(seq)
        if len(seqs) > 1 or not (compression or info.size <= chunk_bytes):
            ctx.queue.send([chunk_message(file_id, seq)])  # workers start while planning goes on
    conn.run("BEGIN")
    conn.run(
        "UPDATE files SET chunks_total = :n, compression = :c, chunk_bytes = :cb, "
        "status = CASE WHEN chunks_done >= :n AND status <> 'failed' THEN 'done' ELSE status END, "
        "finished_at = CASE WHEN chunks_done >= :n THEN coalesce(finished_at, now()) ELSE finished_at END "
        "WHERE id = :id",
        n=len(seqs),
        c=compression,
        cb=chunk_bytes,
        id=file_id,
    )
    conn.run("COMMIT")
    if len(seqs) == 1 and (compression or info.size <= chunk_bytes):
        process_chunk(ctx, file_id, 0, deadline)  # one chunk: no need for another queue hop


# -- chunks ----------------------------------------------------------------------------------


@dataclass
class _Chunk:
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


def _load_chunk(ctx: Context, file_id: str, seq: int) -> _Chunk:
    rows = ctx.conn.run(
        "SELECT f.object_key, f.compression, c.start_offset, c.end_offset, c.first_line, c.next_offset, "
        "c.next_line, c.done, f.status, f.source_format, f.source_tz FROM chunks c JOIN files f ON f.id = c.file_id "
        "WHERE c.file_id = CAST(:f AS uuid) AND c.seq = :s",
        f=file_id,
        s=seq,
    )
    if not rows:
        raise UnknownChunkError(f"no chunk {seq} of file {file_id}")
    return _Chunk(file_id, *rows[0])


class _Lines:
    """The chunk's lines from its resume point: skips what gzip cannot seek past, and ends
    quietly at damage (kept in ``damage``) so that the event being joined when it struck is
    still written."""

    def __init__(self, lines: Iterable[Line | Rows], skip: int) -> None:
        self._lines = lines
        self._skip = skip  # lines, all of which come as Line: no lane starts before them
        self.damage: DamagedInputError | None = None

    def __iter__(self) -> Iterator[Line | Rows]:
        try:
            lines = iter(self._lines)
            next(islice(lines, self._skip, self._skip), None)  # read past the first ``skip``
            yield from lines
        except DamagedInputError as exc:
            self.damage = exc


@dataclass
class Batch:
    """Events on their way to one commit, with the counts that commit moves and the resume
    point it sets: just past its last event."""

    buf: CopyBuffer
    next_offset: int
    next_line: int
    errors: int = 0
    truncated: int = 0  # truncated lines in its events
    patterns: dict[str, list[Any]] = field(default_factory=dict)
    aliases: dict[str, Pattern] = field(default_factory=dict)  # see PatternMiner.take_aliases
    last: bool = False  # the chunk's last batch: its commit marks the chunk done


def event_batches(
    events: Iterable[Event | Rows],
    miner: PatternMiner,
    file_id: str,
    ingested: datetime,
    batch_rows: int,
    next_offset: int,
    next_line: int,
    lane: CompiledLane | None = None,
) -> Iterator[Batch]:
    """The events (and runs of rows that ``lane`` wrote) as batches ready to commit: full
    ones of at most ``batch_rows`` rows, then the last one (maybe empty), each yielded as
    soon as it is complete."""
    batch = Batch(CopyBuffer(file_id, ingested), next_offset, next_line)
    add_row, patterns = batch.buf.add, batch.patterns
    if lane is not None:
        lane.buf, lane.seen = batch.buf, batch.patterns
    mine = miner.add
    for ev in events:
        if isinstance(ev, Rows):
            if lane is None:
                raise ValueError("a run of rows without the lane that fills it")
            lane.fill(ev)
            _add_rows(batch, ev)
        else:
            p = ev.parsed
            # As stored, before it is mined: the pattern's sample and the row say the same.
            message = storable(ev.message())
            raw = ev.raw()
            pattern = mine(message).pattern()
            pattern_id = pattern.id
            ts = p.ts
            level = p.level
            texts = ev.texts
            add_row(
                ev.line, ts, level, p.format, message, p.fields, raw if raw != message else None,
                ev.truncated, len(texts), pattern_id,
            )  # fmt: skip
            if level in ERROR_LEVELS:
                batch.errors += 1
            if ev.truncated:
                batch.truncated += ev.truncated_lines
            when = ts or ingested
            seen = patterns.get(pattern_id)
            if seen is None:
                patterns[pattern_id] = [pattern.template, 1, when, when, message[:1000]]
            else:
                seen[1] += 1
                if when < seen[2]:
                    seen[2] = when
                if when > seen[3]:
                    seen[3] = when
            batch.next_offset, batch.next_line = ev.end_offset, ev.line + len(texts)
        if batch.buf.rows >= batch_rows:
            batch.aliases = miner.take_aliases()
            yield batch
            batch = Batch(CopyBuffer(file_id, ingested), batch.next_offset, batch.next_line)
            add_row, patterns = batch.buf.add, batch.patterns
            if lane is not None:
                lane.buf, lane.seen = batch.buf, batch.patterns
    batch.last = True
    batch.aliases = miner.take_aliases()
    yield batch


def _add_rows(batch: Batch, rows: Rows) -> None:
    """Add a run of rows that a lane wrote (which counted their patterns in the batch)."""
    batch.buf.add_rows(rows.data, rows.count, rows.months)
    batch.errors += rows.errors
    batch.next_offset, batch.next_line = rows.end_offset, rows.line + rows.lines


class _Committer:
    """Commits one chunk's batches on a thread of its own while the next batch is parsed.

    One commit at a time, in order: ``commit`` first waits for the one before, and raises
    its error, if any, so a chunk stops at its first failed commit and nothing after that
    commit is written. The database connection belongs to the commit thread from the
    first ``commit`` until the ``with`` block ends, which waits for the last commit (its
    error, which happened first, wins over one raised in the block).
    """

    def __init__(self, ctx: Context, c: _Chunk, seq: int) -> None:
        self._ctx, self._c, self._seq = ctx, c, seq
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logpipe-commit")
        self._pending: Future[None] | None = None

    def __enter__(self) -> _Committer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()

    def commit(self, expect_line: int, batch: Batch, error: Exception | None) -> None:
        self.wait()
        self._pending = self._pool.submit(_commit_batch, self._ctx, self._c, self._seq, expect_line, batch, error)

    def wait(self) -> None:
        """Wait for the commit under way, if any; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


def process_chunk(ctx: Context, file_id: str, seq: int, deadline: float) -> None:
    """Parse and store one chunk from its resume point. Idempotent and resumable."""
    c = _load_chunk(ctx, file_id, seq)
    if c.done:
        return
    settings = ctx.settings
    try:
        parser = Parser(tz=c.source_tz or "UTC", format=c.source_format)
    except (ValueError, LookupError) as exc:
        raise PermanentError(f"bad parsing options of file {file_id}: {exc}") from exc
    miner = ctx.miner
    lane = CompiledLane.create(settings.compiled_lane, parser, miner, settings, min_line=c.next_line)
    if c.compression is not None:
        read = decompressed(ctx.bucket.open(c.key), c.compression)
        raw_lines = LineReader(read, max_line_bytes=settings.max_line_bytes, offset=0)
        first_line, skip = c.first_line, c.next_line - c.first_line  # gzip cannot seek: read past what is committed
    else:
        read = ctx.bucket.open(c.key, c.next_offset, c.end_offset)
        raw_lines = LineReader(read, max_line_bytes=settings.max_line_bytes, offset=c.next_offset)
        first_line, skip = c.next_line, 0
    lines = _Lines(raw_lines.with_lane(lane, first_line=first_line), skip)
    joiner = Joiner(parser.parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    events = joiner.events_and_rows(lines, first_line=c.next_line, start_offset=c.next_offset)
    batches = event_batches(
        events, miner, file_id, datetime.now(UTC), settings.batch_rows, c.next_offset, c.next_line, lane
    )
    expect_line = c.next_line
    try:
        with _Committer(ctx, c, seq) as committer:
            for batch in batches:
                committer.commit(expect_line, batch, lines.damage if batch.last else None)
                expect_line = batch.next_line
                if not batch.last and ctx.clock() > deadline - BUDGET_MARGIN_S:
                    committer.wait()
                    ctx.queue.send([chunk_message(file_id, seq)])  # continue in a fresh invocation
                    return
    except BaseException:
        miner.report_again()  # the pattern aliases of a failed commit go with the next one
        raise


def _commit_batch(
    ctx: Context, c: _Chunk, seq: int, expect_line: int, batch: Batch, error: Exception | None = None
) -> None:
    """Write a batch and move the chunk's resume point, in one transaction."""
    conn = ctx.conn
    buf = batch.buf
    done = batch.last
    if buf.months:
        ensure_partitions(conn, buf.months)
    conn.run("BEGIN")
    try:
        rows = conn.run(
            "SELECT next_line, done FROM chunks WHERE file_id = CAST(:f AS uuid) AND seq = :s FOR UPDATE",
            f=c.file_id,
            s=seq,
        )
        if not rows or rows[0][1] or rows[0][0] != expect_line:
            raise ChunkTakenError(f"chunk {seq} of {c.file_id} moved on under us")
        buf.copy_into(conn)
        conn.run(
            "UPDATE chunks SET next_offset = :o, next_line = :l, done = :d, updated_at = now() "
            "WHERE file_id = CAST(:f AS uuid) AND seq = :s",
            o=batch.next_offset,
            l=batch.next_line,
            d=done,
            f=c.file_id,
            s=seq,
        )
        conn.run(
            "UPDATE files SET lines = lines + :lines, events = events + :events, errors = errors + :errors, "
            " truncated_lines = truncated_lines + :trunc, chunks_done = chunks_done + :d, "
            # A file failed only because a message was dead-lettered comes back to life
            # when that message is replayed and the file's last chunk is done; until then
            # it stays failed, even while its other chunks go on. Any other failure stands.
            " status = CASE"
            "   WHEN :failed THEN 'failed'"
            "   WHEN status = 'failed' AND error NOT LIKE 'dead-lettered:%' THEN 'failed'"
            "   WHEN chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total THEN 'done'"
            "   WHEN status = 'failed' THEN 'failed'"
            "   ELSE 'processing' END,"
            " error = CASE WHEN :failed THEN :error"
            "   WHEN error LIKE 'dead-lettered:%' AND chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total"
            "   THEN NULL ELSE error END,"
            " finished_at = CASE WHEN :failed OR (chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total)"
            "   THEN now() ELSE finished_at END "
            "WHERE id = CAST(:f AS uuid)",
            lines=batch.next_line - expect_line,
            events=buf.rows,
            errors=batch.errors,
            trunc=batch.truncated,
            d=1 if done else 0,
            failed=error is not None,
            error=str(error) if error is not None else None,
            f=c.file_id,
        )
        # Last: every worker counts the same patterns, so their rows stay locked for as
        # short a time as can be.
        _count_patterns(conn, batch.patterns)
        _alias_patterns(conn, batch.aliases)
        conn.run("COMMIT")
    except BaseException:
        _rollback(ctx)
        raise


def _count_patterns(conn: pg8000.native.Connection, seen: dict[str, list[Any]]) -> None:
    """Add a batch's pattern counts, in one statement. Rows are taken in id order, so that
    two workers counting the same patterns wait for each other instead of deadlocking.

    The rows travel as one JSON parameter: pg8000 escapes each element of an array
    parameter in Python, which took a third of a commit's CPU time.
    """
    if not seen:
        return
    rows = [
        {"id": i, "template": template, "count": count, "first_seen": first.isoformat(),
         "last_seen": last.isoformat(), "sample": sample}
        for i, (template, count, first, last, sample) in sorted(seen.items())
    ]  # fmt: skip
    conn.run(
        "INSERT INTO patterns (id, template, count, first_seen, last_seen, sample) "
        "SELECT r.* FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, template text, count bigint,"
        " first_seen timestamptz, last_seen timestamptz, sample text) "
        "ON CONFLICT (id) DO UPDATE SET count = patterns.count + EXCLUDED.count, "
        " first_seen = LEAST(patterns.first_seen, EXCLUDED.first_seen), "
        " last_seen = GREATEST(patterns.last_seen, EXCLUDED.last_seen)",
        rows=json.dumps(rows, ensure_ascii=False, separators=(",", ":")),
    )


def _alias_patterns(conn: pg8000.native.Connection, aliases: dict[str, Pattern]) -> None:
    """Point the ids of templates that generalised at what they became, in id order (as
    ``_count_patterns`` takes its rows). The latest word on an id wins."""
    if not aliases:
        return
    rows = [{"id": i, "target": p.id, "template": p.template} for i, p in sorted(aliases.items())]
    conn.run(
        "INSERT INTO pattern_aliases (id, target, template) "
        "SELECT r.* FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, target text, template text) "
        "ON CONFLICT (id) DO UPDATE SET target = EXCLUDED.target, template = EXCLUDED.template",
        rows=json.dumps(rows, ensure_ascii=False, separators=(",", ":")),
    )


def _rollback(ctx: Context) -> None:
    try:
        ctx.conn.run("ROLLBACK")
    except Exception:  # noqa: BLE001 - the connection is broken: start afresh next time
        ctx.drop_connection()


# -- batches ---------------------------------------------------------------------------------


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (RetryableError, ServiceUnavailableError, pg8000.native.InterfaceError, OSError))


def _files_of(ctx: Context, body: str) -> list[str]:
    """The files a message is about: a chunk's file, or the files of an S3 event's objects."""
    try:
        msg = json.loads(body)
    except ValueError:
        return []
    if not isinstance(msg, dict):
        return []
    if msg.get("kind") == "chunk":
        try:
            return [str(uuid.UUID(str(msg["file_id"])))]
        except (KeyError, ValueError):
            return []
    found = []
    for record in msg.get("Records") or []:
        try:
            key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError):
            continue
        f = files_db.by_key(ctx.conn, key)
        if f is not None:
            found.append(str(f["id"]))
    return found


def _mark_failed(ctx: Context, body: str, error: str) -> None:
    """Say on the message's file(s) that it was dead-lettered, and why."""
    try:
        for file_id in _files_of(ctx, body):
            ctx.conn.run("BEGIN")
            files_db.fail(ctx.conn, file_id, f"dead-lettered: {error}")
            ctx.conn.run("COMMIT")
    except Exception:
        # The dead-letter queue still carries the error; the file shows it next time.
        log.exception("could not mark the file of a dead-lettered message failed")
        _rollback(ctx)


def handle_deliveries(ctx: Context, deliveries: list[Delivery], deadline: float) -> list[Outcome]:
    """Handle each delivery and say what should become of it.

    - ok: done (or a duplicate that needed nothing);
    - retry: a dependency is down (does not count toward the dead-letter limit) or an
      unexpected error on a try before the last;
    - dead: a permanent error, or the last allowed try failed. The file, if any, is
      marked failed with the reason.
    """
    outcomes = []
    for d in deliveries:
        try:
            handle_message(ctx, d.body, deadline)
            outcomes.append(Outcome(d.id, "ok"))
        except ChunkTakenError:
            outcomes.append(Outcome(d.id, "ok"))
        except PermanentError as exc:
            log.warning("dead-lettering a message: %s", exc)
            if not isinstance(exc, UnknownChunkError):
                _mark_failed(ctx, d.body, str(exc))
            outcomes.append(Outcome(d.id, "dead", str(exc)))
        except Exception as exc:
            if _transient(exc):
                ctx.drop_connection()
                log.warning("will retry (dependency unavailable): %s", exc)
                outcomes.append(Outcome(d.id, "retry", str(exc), counts_as_attempt=False))
                continue
            error = f"{type(exc).__name__}: {exc}"
            log.exception("message failed on attempt %d", d.attempt)
            _rollback(ctx)
            if d.attempt >= ctx.settings.max_attempts:
                _mark_failed(ctx, d.body, error)
                outcomes.append(Outcome(d.id, "dead", error))
            else:
                outcomes.append(Outcome(d.id, "retry", error))
    return outcomes
