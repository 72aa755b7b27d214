"""A chunk, from its resume point to its end: read, parse, join, batch, commit.

Streaming throughout: lines are read from the bucket (decompressed when the file is
gzip), parsed and joined into events, and every ``batch_rows`` events (or ``batch_bytes``
of rows, if sooner) are committed (``commit``) on a thread of their own while the next
batch is parsed. Before the function's time runs out, the worker commits what it has and
queues the rest of the chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from io import BytesIO
from itertools import islice

from ..db import chunks as chunks_db
from ..errors import PermanentError
from ..parsing import Line, LineReader, Run
from ..parsing.formats import Parser
from ..parsing.inference import still_fits
from ..parsing.layouts import Layout
from ..parsing.multiline import Joiner
from ..storage.gunzip import DamagedInputError, InputLimitError, decompressed
from .batches import Batch, event_batches
from .commit import Committer
from .context import Context
from .lane import CompiledLane
from .messages import chunk_message

# Stop taking new batches this long before the function's time runs out.
BUDGET_MARGIN_S = 20.0


class UnknownChunkError(PermanentError):
    """A chunk message names a chunk that was never planned: the message is bad, not the file."""


class _Lines:
    """The chunk's lines from its resume point: skips what gzip cannot seek past, and ends
    quietly at damage (kept in ``damage``) so that the event being joined when it struck is
    still written."""

    def __init__(self, lines: Iterable[Line | Run], skip: int, first_line: int, max_line: int) -> None:
        self._lines = lines
        self._skip = skip  # lines, all of which come as Line: no lane starts before them
        self._first_line = first_line  # the number of the first line ``lines`` yields
        self._max_line = max_line  # no line after this one is read (LOGPIPE_MAX_FILE_LINES)
        self.damage: DamagedInputError | None = None

    def __iter__(self) -> Iterator[Line | Run]:
        try:
            lines = iter(self._lines)
            next(islice(lines, self._skip, self._skip), None)  # read past the first ``skip``
            number = self._first_line + self._skip
            for item in lines:
                if number > self._max_line:
                    raise InputLimitError(
                        f"the file has more than {self._max_line} lines (LOGPIPE_MAX_FILE_LINES): "
                        f"the lines after line {self._max_line} are not parsed"
                    )
                yield item
                # A run was read by the time the next item is asked for; the lane ends a run
                # at the limit (``CompiledLane.fill``).
                number += item.lines if isinstance(item, Run) else 1
        except DamagedInputError as exc:
            self.damage = exc


CHUNK_SAMPLE_BYTES = 64 * 1024


def _chunk_layout(ctx: Context, c: chunks_db.Chunk, layout: Layout) -> Layout:
    """The layout a later chunk of a file reads with: the file's, unless the chunk's first
    lines (the same on every delivery) show that the layout changed before it."""
    end = min(c.end_offset, c.start_offset + CHUNK_SAMPLE_BYTES)
    sample = ctx.bucket.open(c.key, c.start_offset, end, etag=c.etag)(end - c.start_offset)
    lines = sample.decode("utf-8", "replace").split("\n")
    if end < c.end_offset:
        lines.pop()  # cut off by the sample's end
    return still_fits(layout, [line.rstrip("\r") for line in lines], tz=c.source_tz or "UTC")


def _batches(ctx: Context, c: chunks_db.Chunk, content: bytes | None) -> tuple[Iterator[Batch], _Lines]:
    """The chunk's events from its resume point, as the batches that commit them (lazily:
    each is parsed when asked for), and its lines (which say where the input was damaged)."""
    settings = ctx.settings
    file_id = c.file_id
    try:
        layout = Layout.from_dict(c.layout) if c.layout is not None else None
        if layout is not None and c.compression is None and c.start_offset > 0:
            layout = _chunk_layout(ctx, c, layout)
        parser = Parser(tz=c.source_tz or "UTC", format=c.source_format, layout=layout, adapt=layout is not None)
    except (ValueError, LookupError) as exc:
        raise PermanentError(f"bad parsing options of file {file_id}: {exc}") from exc
    miner = ctx.miner
    # The lane reads the known formats, and the lines that fit a file's layout where it has
    # a reader for the layout's columns (``lane.layout_program``).
    lane = CompiledLane.create(settings.compiled_lane, parser, miner, settings, min_line=c.next_line)
    if c.compression is not None:
        read = decompressed(ctx.bucket.open(c.key, etag=c.etag), c.compression, settings.gzip_limits)
        raw_lines = LineReader(read, max_line_bytes=settings.max_line_bytes, offset=0)
        first_line, skip = c.first_line, c.next_line - c.first_line  # gzip cannot seek: read past what is committed
    else:
        if content is not None and c.start_offset == 0 and c.end_offset == len(content):
            read = BytesIO(content[c.next_offset : c.end_offset]).read
        else:
            read = ctx.bucket.open(c.key, c.next_offset, c.end_offset, etag=c.etag)
        raw_lines = LineReader(read, max_line_bytes=settings.max_line_bytes, offset=c.next_offset)
        first_line, skip = c.next_line, 0
    lines = _Lines(raw_lines.with_lane(lane, first_line=first_line), skip, first_line, settings.max_file_lines)
    joiner = Joiner(parser.parse, max_lines=settings.max_event_lines, max_bytes=settings.max_event_bytes)
    events = joiner.events_and_runs(lines, first_line=c.next_line, start_offset=c.next_offset)
    batches = event_batches(
        events, miner, file_id, datetime.now(UTC), settings.batch_rows, c.next_offset, c.next_line, lane,
        settings.batch_bytes,
    )  # fmt: skip
    return batches, lines


def parse_whole(ctx: Context, c: chunks_db.Chunk, content: bytes) -> list[Batch]:
    """Every batch of a small plain file's only chunk, ``content`` being the whole object:
    parsed here, committed by the caller with those of other files (``commit.commit_whole``).
    Raises what parsing the file raises; the batches of a file that raised are not to be
    committed, and the miner then reports its aliases again with the next commit."""
    try:
        batches, lines = _batches(ctx, c, content)
        parsed = list(batches)
    except BaseException:
        ctx.miner.report_again()
        raise
    if lines.damage is not None:  # not from bytes in memory; said all the same, by the usual path
        raise lines.damage
    return parsed


def process_chunk(ctx: Context, file_id: str, seq: int, deadline: float, content: bytes | None = None) -> None:
    """Parse and store one chunk from its resume point. Idempotent and resumable: a chunk
    that is done, or whose resume point another delivery moved, gets no row twice.

    ``content``: the whole object, when the planner has read it already (a small plain
    file): the chunk's bytes are taken from it instead of read again."""
    c = chunks_db.load(ctx.conn, file_id, seq)
    if c is None:
        raise UnknownChunkError(f"no chunk {seq} of file {file_id}")
    if c.done:
        return
    batches, lines = _batches(ctx, c, content)
    miner = ctx.miner
    expect_line = c.next_line
    try:
        with Committer(ctx, file_id, seq) as committer:
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
