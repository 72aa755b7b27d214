"""Answering searches: events in order with keyset pages, an event with its neighbours,
and counts per time bucket.

Every search reads one moment (a read-only snapshot) and only the events of stream
entries at or below a position, ``as_of``: the head of the stream log when the first
page was asked for, carried by the cursor to the next pages. Rows that arrive while a
client pages are in entries above it, so pages never repeat an event nor skip one, and
a client that wants what came after reads ``/api/stream?since=<as_of>``.

Blocks the indexer has handled are skipped when their row says they cannot hold a match
(time range, levels, sources, Bloom filter) and read in time order, stopping as soon as
no further block can beat the page found so far; blocks it has not reached are read
whole. SQL narrows the rows (``Query.prefilter``); ``Query.matches`` decides.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pg8000.native

from ..db import followers
from ..db import search as search_db
from ..db import stream as stream_db
from ..errors import BadRequestError
from ..parsing.formats import LEVELS
from .indexer import FOLLOWER
from .params import BUCKETS, EventsRequest, Filters, Key, wanted_levels
from .query import parse_fields

GROUP_EVENTS = 50_000  # events of indexed blocks read in one statement, at most (but one block at least)
GROUP_BLOCKS = 64
FIRST_GROUP_EVENTS = 4096
FIRST_BLOCK_PAGE = 32  # indexed blocks listed at first; then four times more each time, up to
BLOCK_PAGE = 512
MAX_SCAN_EVENTS = 5_000_000  # candidates a histogram with q may check one by one

AUTO_BUCKETS = 360
MAX_BUCKETS = 10_000
BUCKET_RULE = (
    f"the smallest of {', '.join(BUCKETS)} that gives at most {AUTO_BUCKETS} buckets for the range, "
    "else 1d; buckets start on multiples of their size since 1970-01-01T00:00:00Z"
)
NO_LEVEL = "none"  # the key that counts events without a level
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Page:
    events: list[str]  # each event's JSON text, in order
    last: Key | None  # the key of the last event, when more may follow
    as_of: int
    unknown_fields: list[str] = field(default_factory=list)


@dataclass
class _Moment:
    """What a search reads: stream entries up to ``as_of``; of those, the indexed ones up to
    ``indexed``, the others above it."""

    as_of: int
    indexed: int
    pattern_ids: list[str] | None


def _sequence_committed(conn: pg8000.native.Connection) -> None:
    """Give positions to what has committed, before the read-only snapshot a search reads in:
    writers leave that to the log's readers, and a search must see every committed event."""
    if stream_db.unsequenced(conn):
        stream_db.sequence(conn)


def _moment(conn: pg8000.native.Connection, flt: Filters, as_of: int | None) -> _Moment:
    head = stream_db.head(conn) if as_of is None else as_of
    indexed = min(followers.watermark(conn, FOLLOWER), head)
    pids = search_db.pattern_family(conn, flt.pattern_id) if flt.pattern_id is not None else None
    return _Moment(head, indexed, pids)


def _conditions(flt: Filters, moment: _Moment, **narrow: Any) -> search_db.Conditions:
    return search_db.conditions(
        file_id=flt.file_id,
        source=flt.source,
        min_level=flt.min_level,
        query=flt.query,
        pattern_ids=moment.pattern_ids,
        start=narrow.get("start", flt.start),
        end=narrow.get("end", flt.end),
    )


def _groups(blocks: Sequence[search_db.Block]) -> list[list[search_db.Block]]:
    """Indexed blocks in runs of at most GROUP_EVENTS events (a larger block alone)."""
    out: list[list[search_db.Block]] = []
    group: list[search_db.Block] = []
    size = 0
    for b in blocks:
        if group and (size + b.events > GROUP_EVENTS or len(group) >= GROUP_BLOCKS):
            out.append(group)
            group, size = [], 0
        group.append(b)
        size += b.events
    if group:
        out.append(group)
    return out


def _indexed(
    conn: pg8000.native.Connection, cond: search_db.Conditions, moment: _Moment, desc: bool
) -> Iterator[search_db.IndexedBlock]:
    """Indexed blocks that may hold a match, by first time (``desc``: by last, latest first)."""
    positions = search_db.candidates(conn, cond, upto=moment.indexed, desc=desc)
    start, size = 0, FIRST_BLOCK_PAGE  # most pages are found in the first few dozen blocks
    while start < len(positions):
        yield from search_db.indexed_blocks(conn, positions[start : start + size])
        start += size
        size = min(size * 4, BLOCK_PAGE)


def _micros(ts: datetime | None) -> int:
    assert ts is not None
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _slices_in_order(
    conn: pg8000.native.Connection, cond: search_db.Conditions, moment: _Moment, desc: bool, flt: Filters
) -> Iterator[search_db.Block]:
    """The slices of the indexed blocks that may hold a match, in the order a page reads
    them: by first time (``desc``: by last, latest first). A slice's times lie within its
    block's and blocks come in that order, so a slice is due once the next block's
    edge is past its own."""
    due: list[tuple[int, int, search_db.Block]] = []
    sign = -1 if desc else 1
    n = 0
    for ib in _indexed(conn, cond, moment, desc):
        edge = sign * _micros(ib.block.ts_max if desc else ib.block.ts_min)
        while due and due[0][0] <= edge:
            yield heapq.heappop(due)[2]
        for part in ib.parts():
            assert part.ts_min is not None and part.ts_max is not None
            if (flt.start is not None and part.ts_max < flt.start) or (flt.end is not None and part.ts_min >= flt.end):
                continue
            n += 1
            heapq.heappush(due, (sign * _micros(part.ts_max if desc else part.ts_min), n, part))
    while due:
        yield heapq.heappop(due)[2]


def find_events(conn: pg8000.native.Connection, req: EventsRequest) -> Page:
    """A page of the events ``req`` asks for (see the module's docstring)."""
    flt, desc = req.filters, req.order == "desc"
    _sequence_committed(conn)
    search_db.snapshot(conn)
    try:
        moment = _moment(conn, flt, req.as_of)
        # Past the cursor, nothing earlier (later, newest first) than its time can come.
        narrow: dict[str, Any] = {}
        if req.after is not None:
            if desc:
                end = req.after[0] + timedelta(microseconds=1)
                narrow["end"] = end if flt.end is None else min(flt.end, end)
            else:
                narrow["start"] = req.after[0] if flt.start is None else max(flt.start, req.after[0])
        cond = _conditions(flt, moment, **narrow)
        page = _Collector(conn, cond, flt, req, desc)
        for group in _groups_of(search_db.unindexed_blocks(
                conn, after=moment.indexed, upto=moment.as_of, file_id=flt.file_id)):  # fmt: skip
            page.read(group)
        group = []
        size = 0
        cap = FIRST_GROUP_EVENTS  # small at first: once the page is full, its bound skips slices
        for block in _slices_in_order(conn, cond, moment, desc, replace(flt, **narrow)):
            if page.beyond(block):
                break
            group.append(block)
            size += block.events
            if size >= cap or len(group) >= GROUP_BLOCKS:
                page.read(group)
                group, size, cap = [], 0, min(cap * 2, GROUP_EVENTS)
        if group:
            page.read(group)
        unknown = []
        keys = flt.query.field_keys()
        if keys:
            known = search_db.known_field_keys(conn, keys)
            unknown = [k for k in keys if k not in known]
    finally:
        search_db.end_snapshot(conn)
    found = page.found
    more = len(found) > req.limit
    return Page(
        [text for _, text in found[: req.limit]], found[req.limit - 1][0] if more else None, moment.as_of, unknown
    )


def _groups_of(blocks: list[search_db.Block]) -> list[list[search_db.Block]]:
    return [blocks[i : i + GROUP_BLOCKS] for i in range(0, len(blocks), GROUP_BLOCKS)]


class _Collector:
    """The best ``limit + 1`` matches seen so far, in order."""

    def __init__(
        self, conn: pg8000.native.Connection, cond: search_db.Conditions, flt: Filters, req: EventsRequest, desc: bool
    ) -> None:
        self.conn, self.cond, self.desc, self.after = conn, cond, desc, req.after
        self.want = req.limit + 1
        self.query = flt.query
        self.found: list[tuple[Key, str]] = []

    def bound(self) -> datetime | None:
        """The time no event can pass and still make the page, once the page is full."""
        return self.found[self.want - 1][0][0] if len(self.found) >= self.want else None

    def beyond(self, block: search_db.Block) -> bool:
        bound = self.bound()
        if bound is None:
            return False
        if self.desc:
            return block.ts_max is not None and block.ts_max < bound
        return block.ts_min is not None and block.ts_min > bound

    def read(self, blocks: list[search_db.Block]) -> None:
        after = self.after
        q = self.query
        while True:
            rows = search_db.events_in(
                self.conn, blocks, self.cond, desc=self.desc, after=after, bound=self.bound(), limit=self.want
            )
            for ts, file_id, line, message, fields, text in rows:
                if not q or q.matches(message, parse_fields(fields) if q.needs_fields else None):
                    self.found.append(((ts, file_id, line), text))
            self.found.sort(key=lambda x: x[0], reverse=self.desc)
            del self.found[self.want :]
            if len(rows) < self.want:
                return
            after = (rows[-1][0], rows[-1][1], rows[-1][2])


# -- an event and its neighbours --------------------------------------------------------------


@dataclass
class Context:
    event: str
    before: list[str]
    after: list[str]


def event_context(conn: pg8000.native.Connection, file_id: str, line: int, before: int, after: int) -> Context | None:
    """The event holding line ``line`` of ``file_id``, and the events with any line among
    the ``before`` lines before it and the ``after`` lines after it, whole (``grep -C``
    with multi-line events kept together). None when no event holds that line."""
    _sequence_committed(conn)
    search_db.snapshot(conn)
    try:
        found = search_db.event_at(conn, file_id, line)
        if found is None:
            return None
        first, count, text = found
        return Context(
            text,
            search_db.events_touching(conn, file_id, max(1, first - before), first),
            search_db.events_touching(conn, file_id, first + count, first + count + after),
        )
    finally:
        search_db.end_snapshot(conn)


# -- histograms -------------------------------------------------------------------------------


@dataclass
class Histogram:
    bucket: str
    start: datetime | None
    end: datetime | None
    buckets: list[dict[str, Any]]
    total: int
    as_of: int
    chosen: bool  # the bucket was chosen from the range


def choose_bucket(start: datetime, end: datetime) -> str:
    span = (end - start).total_seconds()
    for name, seconds in BUCKETS.items():
        if span / seconds <= AUTO_BUCKETS:
            return name
    return "1d"


def _floor(ts: datetime, seconds: int) -> datetime:
    us = (ts - _EPOCH) // timedelta(microseconds=1)
    step = seconds * 1_000_000
    return _EPOCH + timedelta(microseconds=us - us % step)


def _ceil(ts: datetime, seconds: int) -> datetime:
    low = _floor(ts, seconds)
    return low if low == ts else low + timedelta(seconds=seconds)


def histogram(conn: pg8000.native.Connection, flt: Filters, bucket: str | None) -> Histogram:
    """Events per bucket and level, in whole buckets from the one holding ``from`` to the
    one holding the last instant before ``to`` (``to`` is now by default when ``from`` is
    given; without either, the range the matching events span). From the per-minute
    counts where they answer exactly (no ``q``, no ``pattern_id`` with a file or source,
    buckets of whole minutes), else by reading the blocks."""
    _sequence_committed(conn)
    search_db.snapshot(conn)
    try:
        moment = _moment(conn, flt, None)
        unindexed = search_db.unindexed_blocks(conn, after=moment.indexed, upto=moment.as_of, file_id=flt.file_id)
        start, end = flt.start, flt.end
        if start is not None and end is None:
            end = max(start + timedelta(microseconds=1), datetime.now(UTC))
        if start is None or end is None:
            low, high = _extent(conn, _conditions(flt, moment), moment, unindexed)
            if low is None or high is None:
                return Histogram(bucket or "1m", start, end, [], 0, moment.as_of, bucket is None)
            start = start or low
            end = end or high + timedelta(microseconds=1)
            if start >= end:
                return Histogram(bucket or "1m", start, end, [], 0, moment.as_of, bucket is None)
        chosen = bucket is None
        name = bucket or choose_bucket(start, end)
        seconds = BUCKETS[name]
        first, last = _floor(start, seconds), _ceil(end, seconds)
        n = (last - first) // timedelta(seconds=seconds)
        if n > MAX_BUCKETS:
            raise BadRequestError(
                f"{n} buckets of {name} between {start.isoformat()} and {end.isoformat()}: at most {MAX_BUCKETS}; "
                "narrow the range or take a larger bucket"
            )
        counts: dict[datetime, dict[str, int]] = defaultdict(dict)
        start, end = first, last  # whole buckets: a chart's first and last bars are not cut short
        ranged = replace(flt, start=start, end=end)
        _count(conn, ranged, moment, unindexed, seconds, counts)
    finally:
        search_db.end_snapshot(conn)
    levels = [*LEVELS, NO_LEVEL]
    out = []
    total = 0
    for i in range(n):
        at = first + timedelta(seconds=seconds * i)
        row = counts.get(at, {})
        per = {lv: row[lv] for lv in levels if row.get(lv)}
        subtotal = sum(per.values())
        out.append({"start": at.isoformat(), "total": subtotal, "counts": per})
        total += subtotal
    return Histogram(name, start, end, out, total, moment.as_of, chosen)


def _add(counts: dict[datetime, dict[str, int]], rows: Sequence[Sequence[Any]]) -> None:
    for at, level, n in rows:
        row = counts[at]
        key = level or NO_LEVEL
        row[key] = row.get(key, 0) + int(n)


def _extent(
    conn: pg8000.native.Connection, cond: search_db.Conditions, moment: _Moment, unindexed: list[search_db.Block]
) -> tuple[datetime | None, datetime | None]:
    lows, highs = [], []
    low, high = search_db.indexed_extent(conn, cond, moment.indexed)
    for group in _groups_of(unindexed):
        a, b = search_db.extent_in(conn, group, cond)
        lows.append(a)
        highs.append(b)
    lows.append(low)
    highs.append(high)
    found_low = [x for x in lows if x is not None]
    found_high = [x for x in highs if x is not None]
    return (min(found_low) if found_low else None, max(found_high) if found_high else None)


def _count(
    conn: pg8000.native.Connection,
    flt: Filters,
    moment: _Moment,
    unindexed: list[search_db.Block],
    seconds: int,
    counts: dict[datetime, dict[str, int]],
) -> None:
    """Add the events of [flt.start, flt.end) to ``counts``: indexed blocks from the
    per-minute counts where those answer exactly (no ``q``; a pattern only without a file
    or source; buckets of whole minutes, a range on whole buckets), else from the blocks'
    events; blocks not indexed yet from their events."""
    assert flt.start is not None and flt.end is not None
    cond = _conditions(flt, moment)
    q = flt.query
    by_pattern = flt.pattern_id is not None and flt.file_id is None and flt.source is None
    if not q and (flt.pattern_id is None or by_pattern) and seconds % 60 == 0:
        if moment.pattern_ids is None:
            rows = search_db.rollup_counts(
                conn, bucket_s=seconds, start=flt.start, end=flt.end, file_id=flt.file_id, source=flt.source,
                levels=wanted_levels(flt.min_level),
            )  # fmt: skip
        else:  # the per-minute counts by pattern know no file nor source
            rows = search_db.pattern_rollup_counts(
                conn, bucket_s=seconds, start=flt.start, end=flt.end, pattern_ids=moment.pattern_ids,
                levels=wanted_levels(flt.min_level),
            )  # fmt: skip
        _add(counts, rows)
        groups = _groups_of(unindexed)
    else:
        groups = _groups_of(unindexed) + _groups([ib.block for ib in _indexed(conn, cond, moment, False)])
    if not q:
        for group in groups:
            _add(counts, search_db.counts_in(conn, group, cond, bucket_s=seconds))
        return
    checked = 0
    for group in groups:
        rows = search_db.candidates_in(conn, group, cond)
        checked += len(rows)
        if checked > MAX_SCAN_EVENTS:
            raise BadRequestError(
                f"more than {MAX_SCAN_EVENTS:,} events to check for this q: narrow the range or add a rarer word"
            )
        _add(counts, [
            (_floor(ts, seconds), level, 1)
            for ts, level, message, fields in rows
            if q.matches(message, parse_fields(fields) if q.needs_fields else None)
        ])  # fmt: skip
