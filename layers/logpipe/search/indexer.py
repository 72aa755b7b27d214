"""The search indexer: follows the stream log and writes, for every block of events
committed, its row in ``search_blocks`` (time range, events by level, sources, Bloom
filter of tokens), its rollups (events per minute and per hour by level, source and
file, and by pattern: ``db/search.add_rollups``), and the top-level field keys it has,
all in the transaction that moves its watermark (db/followers.py): each block is
indexed and counted exactly once, whatever fails, whoever else runs. The rollups move
with this watermark rather than a follower of their own because histograms read them
for the blocks at or below it and read the events above it: counted apart, a block
would be counted twice or not at all while the two watermarks differ.

It runs off the ingest path: every minute in rollup-cron (its timer under
``logpipe run``), and as ``logpipe index``. Queries never wait for it: blocks it has not reached yet are
read directly, so results are complete whatever its lag.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pg8000.native

from ..db import followers
from ..db import search as search_db
from ..db import stream as stream_db
from . import bloom
from .query import tokens

log = logging.getLogger("logpipe.search")

FOLLOWER = "search"
TEXT_BYTES = 16 * 1024 * 1024  # message bytes read at a time


@dataclass
class Progress:
    entries: int = 0
    blocks: int = 0
    events: int = 0
    watermark: int = 0
    busy: bool = False  # another indexer held the lock
    caught_up: bool = False


_builder = bloom.Builder()


def _index(conn: pg8000.native.Connection, entries: Sequence[stream_db.Entry], progress: Progress) -> None:
    blocks = search_db.blocks_of(entries)
    if not blocks:
        return
    search_db.no_jit(conn)
    stats = {s.pos: s for s in search_db.block_stats(conn, blocks)}
    full = [b for b in blocks if b.pos in stats]
    if not full:
        return
    for group in _by_bytes(full, stats):
        texts = _messages(conn, group, stats)
        for b in group:
            s = stats[b.pos]
            found = set(tokens(texts[b.pos]))
            found.update(bloom.pattern_token(p) for p in s.pattern_ids)
            segments, filter_ = _builder.build(found)
            search_db.write_block(conn, b, s, segments, filter_)
            progress.blocks += 1
            progress.events += s.events
    search_db.add_rollups(conn, full)
    search_db.add_field_keys(conn, full)


def _by_bytes(blocks: list[search_db.Block], stats: dict[int, search_db.BlockStats]) -> list[list[search_db.Block]]:
    groups: list[list[search_db.Block]] = [[]]
    size = 0
    for b in blocks:
        if groups[-1] and size + stats[b.pos].message_bytes > TEXT_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(b)
        size += stats[b.pos].message_bytes
    return groups


def _messages(
    conn: pg8000.native.Connection, group: list[search_db.Block], stats: dict[int, search_db.BlockStats]
) -> dict[int, str]:
    """The messages of each block; a block too large to read at once is read in slices of
    lines (a word never spans two events, so the slices' words are the block's)."""
    if len(group) > 1 or stats[group[0].pos].message_bytes <= TEXT_BYTES:
        return search_db.block_messages(conn, group)
    b = group[0]
    slices = max(2, -(-stats[b.pos].message_bytes // TEXT_BYTES))
    step = max(1, -(-(b.end_line - b.first_line) // slices))
    parts = []
    for start in range(b.first_line, b.end_line, step):
        piece = search_db.Block(b.pos, b.file_id, start, min(start + step, b.end_line))
        parts.append(search_db.block_messages(conn, [piece]).get(b.pos, ""))
    return {b.pos: "\n".join(parts)}


def index_pending(
    conn: pg8000.native.Connection,
    budget_s: float = 20.0,
    *,
    step_entries: int = 50,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """Index what the stream log holds after the watermark, until caught up or ``budget_s``
    has passed (a step under way finishes; a step is one transaction of at most
    ``step_entries`` entries). Safe to call at any time from any number of
    processes (one works, the others return ``busy``), and to retry after any failure.
    Call it outside a transaction."""
    if stream_db.unsequenced(conn):  # writers leave positions to the log's readers
        stream_db.sequence(conn)
    progress = Progress()
    deadline = clock() + budget_s
    while True:
        step = followers.advance(
            conn, FOLLOWER, lambda c, entries: _index(c, entries, progress), max_entries=step_entries
        )
        if step is None:
            progress.busy = True
            break
        progress.entries += step.entries
        progress.watermark = step.pos
        if step.entries == 0:
            progress.caught_up = True
            break
        if clock() >= deadline:
            break
    if progress.blocks:
        log.info(
            "indexed %d blocks (%d events) up to position %d", progress.blocks, progress.events, progress.watermark
        )
    return progress
