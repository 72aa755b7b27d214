"""The SQL of search: what the indexer reads and writes, and what queries read.

Events are read through blocks: a block is an ``events`` entry of the stream log, the
lines [first_line, end_line) of one file, and every event belongs to exactly one. A
block the indexer has handled has a row in ``search_blocks`` that says whether it can
hold what a query asks for; the events of a block are found with the
``events (file_id, line)`` index. So no index on ``events`` other than that one is
needed, and ingest pays for none (README, "Search").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pg8000.native

from ..parsing.formats import LEVELS
from ..search import bloom
from ..search.params import wanted_levels
from ..search.query import Query
from . import stream as stream_db

SLICE_LINES = 512  # the lines of a block whose time range the index keeps apart


@dataclass(frozen=True, slots=True)
class Block:
    """A block to read, or a slice of one: the lines [first_line, end_line) of ``file_id``."""

    pos: int
    file_id: str
    first_line: int
    end_line: int
    ts_min: datetime | None = None  # None: not indexed yet, anything may be in it
    ts_max: datetime | None = None
    events: int = 0


# -- the event as the API shows it ------------------------------------------------------------


def _stream_event_json() -> str:
    """The stream's JSON of an event (``db/stream.EVENT_COLUMNS`` builds it): the search
    shows each event exactly as the stream does."""
    cols = stream_db.EVENT_COLUMNS
    expr = cols[cols.index("json_build_object(") :]
    if not expr.endswith("::text"):
        raise RuntimeError("db/stream.EVENT_COLUMNS no longer ends with the event's JSON")
    return expr[: -len("::text")]


_JSON = _stream_event_json()
# ...plus "raw" where the line as read differs from the message.
EVENT_JSON = (
    f"CASE WHEN e.raw IS NULL THEN CAST({_JSON} AS text)"
    f" ELSE left(CAST({_JSON} AS text), -1) || ', \"raw\" : ' || CAST(to_json(e.raw) AS text) || '}}' END"
)

_RANGES = (
    "unnest(CAST(:bp AS bigint[]), CAST(:bf AS uuid[]), CAST(:ba AS bigint[]), CAST(:bz AS bigint[]))"
    " AS b(pos, file_id, first_line, end_line)"
)
_IN_BLOCK = "e.file_id = b.file_id AND e.line >= b.first_line AND e.line < b.end_line"


def _events_of_blocks(where: str = "TRUE", tail: str = "OFFSET 0") -> str:
    """The events of each block meeting ``where``, read block by block through the
    ``(file_id, line)`` index. A plain join lets the planner prefer one scan of a whole
    partition (it thinks an ILIKE selective); a LATERAL subquery it cannot flatten (the
    OFFSET or LIMIT of ``tail``) runs once a block, with the block's lines as bounds."""
    return f"{_RANGES} CROSS JOIN LATERAL (SELECT e.* FROM events e WHERE {_IN_BLOCK} AND {where} {tail}) e"


def _ranges(blocks: Sequence[Block]) -> dict[str, Any]:
    return {
        "bp": [b.pos for b in blocks],
        "bf": [b.file_id for b in blocks],
        "ba": [b.first_line for b in blocks],
        "bz": [b.end_line for b in blocks],
    }


def blocks_of(entries: Sequence[stream_db.Entry]) -> list[Block]:
    """The blocks among stream entries (entries of other kinds hold no events)."""
    return [
        Block(e.pos, e.file_id, e.first_line, e.end_line)
        for e in entries
        if e.kind == stream_db.EVENTS and e.file_id is not None and e.first_line is not None and e.end_line is not None
    ]


# -- the indexer ------------------------------------------------------------------------------


@dataclass(slots=True)
class BlockStats:
    pos: int
    ts_min: datetime
    ts_max: datetime
    events: int
    levels: list[int]  # per LEVELS, then no level
    sources: list[str]
    pattern_ids: list[str]
    message_bytes: int
    slices: list[int] = field(default_factory=list)
    slice_min: list[int] = field(default_factory=list)  # microseconds since 1970
    slice_max: list[int] = field(default_factory=list)
    slice_events: list[int] = field(default_factory=list)


_LEVEL_COUNTS = ", ".join(f"count(*) FILTER (WHERE e.level = '{lv}')" for lv in LEVELS)


def block_stats(conn: pg8000.native.Connection, blocks: Sequence[Block]) -> list[BlockStats]:
    """What the index records of each block with events (blocks with none are left out)."""
    rows = conn.run(
        f"SELECT b.pos, min(e.ts), max(e.ts), count(*), {_LEVEL_COUNTS}, count(*) FILTER (WHERE e.level IS NULL),"
        " array_agg(DISTINCT e.source), array_remove(array_agg(DISTINCT e.pattern_id), NULL),"
        " sum(octet_length(e.message))"
        f" FROM {_events_of_blocks()} GROUP BY b.pos ORDER BY b.pos",
        **_ranges(blocks),
    )
    n = len(LEVELS) + 1
    stats = [BlockStats(r[0], r[1], r[2], r[3], list(r[4 : 4 + n]), r[4 + n], r[5 + n], int(r[6 + n])) for r in rows]
    slices = conn.run(
        "SELECT pos, array_agg(slice ORDER BY slice), array_agg(lo ORDER BY slice), array_agg(hi ORDER BY slice),"
        f" array_agg(n ORDER BY slice) FROM (SELECT b.pos, (e.line - b.first_line) / :w AS slice, {_micros('min')}"
        f" AS lo, {_micros('max')} AS hi, count(*) AS n FROM {_events_of_blocks()} GROUP BY 1, 2) s GROUP BY pos",
        **_ranges(blocks),
        w=SLICE_LINES,
    )
    by_pos = {r[0]: r[1:] for r in slices}
    for s in stats:
        s.slices, s.slice_min, s.slice_max, s.slice_events = by_pos[s.pos]
    return stats


def block_messages(conn: pg8000.native.Connection, blocks: Sequence[Block]) -> dict[int, str]:
    """The messages of each block joined by newlines (a word never spans a newline), by pos."""
    rows = conn.run(
        f"SELECT b.pos, string_agg(e.message, E'\\n') FROM {_events_of_blocks()} GROUP BY b.pos",
        **_ranges(blocks),
    )
    return {r[0]: r[1] for r in rows}


def write_block(conn: pg8000.native.Connection, block: Block, stats: BlockStats, segments: int, filter_: bytes) -> None:
    """The block's row of the index: its lines and what ``stats`` says of them, each
    column under its field's name (``pattern_ids`` and ``message_bytes`` are not kept)."""
    conn.run(
        "INSERT INTO search_blocks (pos, file_id, first_line, end_line, ts_min, ts_max, events, levels, sources,"
        " segments, bloom, slices, slice_min, slice_max, slice_events) VALUES (:pos, CAST(:file_id AS uuid),"
        " :first_line, :end_line, :ts_min, :ts_max, :events, CAST(:levels AS integer[]), CAST(:sources AS text[]),"
        " :segments, :bloom, CAST(:slices AS integer[]), CAST(:slice_min AS bigint[]), CAST(:slice_max AS bigint[]),"
        " CAST(:slice_events AS integer[]))",
        **asdict(stats),
        file_id=block.file_id,
        first_line=block.first_line,
        end_line=block.end_line,
        segments=segments,
        bloom=filter_,
    )


def add_rollups(conn: pg8000.native.Connection, blocks: Sequence[Block]) -> None:
    """Add the blocks' events to the rollups: per minute and per hour by (level, source,
    file), and by (pattern, level). One read of the events: the hours and the pattern
    tables are summed from the same per-minute counts."""
    upsert = "ON CONFLICT ON CONSTRAINT {0}_key DO UPDATE SET events = {0}.events + EXCLUDED.events"
    conn.run(
        "WITH d AS (SELECT date_trunc('minute', e.ts) AS minute, e.level, e.source, e.file_id, e.pattern_id,"
        f" count(*) AS n FROM {_events_of_blocks()} GROUP BY 1, 2, 3, 4, 5),"
        " m AS (INSERT INTO rollup_minutes (minute, level, source, file_id, events)"
        f" SELECT minute, level, source, file_id, sum(n) FROM d GROUP BY 1, 2, 3, 4 {upsert.format('rollup_minutes')}),"
        " h AS (INSERT INTO rollup_hours (hour, level, source, file_id, events)"
        " SELECT date_trunc('hour', minute), level, source, file_id, sum(n) FROM d GROUP BY 1, 2, 3, 4"
        f" {upsert.format('rollup_hours')}),"
        " pm AS (INSERT INTO rollup_pattern_minutes (minute, pattern_id, level, events)"
        f" SELECT minute, pattern_id, level, sum(n) FROM d GROUP BY 1, 2, 3 {upsert.format('rollup_pattern_minutes')})"
        " INSERT INTO rollup_pattern_hours (hour, pattern_id, level, events)"
        " SELECT date_trunc('hour', minute), pattern_id, level, sum(n) FROM d GROUP BY 1, 2, 3"
        f" {upsert.format('rollup_pattern_hours')}",
        **_ranges(blocks),
    )


def add_field_keys(conn: pg8000.native.Connection, blocks: Sequence[Block]) -> None:
    conn.run(
        "INSERT INTO search_field_keys (key) SELECT DISTINCT k"
        f" FROM {_events_of_blocks()},"
        " jsonb_object_keys(CASE WHEN jsonb_typeof(e.fields) = 'object' THEN e.fields ELSE '{}' END) AS k"
        " ON CONFLICT DO NOTHING",
        **_ranges(blocks),
    )


def known_field_keys(conn: pg8000.native.Connection, keys: Sequence[str]) -> set[str]:
    rows = conn.run("SELECT key FROM search_field_keys WHERE key = ANY(CAST(:k AS text[]))", k=list(keys))
    return {r[0] for r in rows}


# -- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditions:
    """A query as SQL: what a block must be to hold a match, and what an event must be
    (a superset of the matches where ``query`` is not empty: ``Query.matches`` decides)."""

    block: str
    event: str
    params: dict[str, Any]


def conditions(
    *,
    file_id: str | None,
    source: str | None,
    min_level: str | None,
    query: Query,
    pattern_ids: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> Conditions:
    where = _Where()
    if file_id is not None:
        where.add(block="b.file_id = CAST(:file_id AS uuid)", file_id=file_id)
    if source is not None:
        where.add(block=":source = ANY(b.sources)", event="e.source = :source", source=source)
    wanted = wanted_levels(min_level)
    if wanted is not None:
        where.add(
            block="(" + " + ".join(f"b.levels[{LEVELS.index(lv) + 1}]" for lv in wanted) + ") > 0",
            event="e.level = ANY(CAST(:levels AS text[]))",
            levels=wanted,
        )
    if start is not None:
        where.add(block="b.ts_max >= :start", event="e.ts >= :start", start=start)
    if end is not None:
        where.add(block="b.ts_min < :end", event="e.ts < :end", end=end)
    if pattern_ids is not None:
        where.add(event="e.pattern_id = ANY(CAST(:pattern_ids AS text[]))", pattern_ids=list(pattern_ids))
        if len(pattern_ids) <= 32:  # past that, the filter costs more than it saves
            sql, p = bloom.sql_condition([bloom.pattern_token(i) for i in pattern_ids], "bpat", any_of=True)
            where.add(block=sql, **p)
    words = query.required_words()
    if words:
        sql, p = bloom.sql_condition(words, "bword")
        where.add(block=sql, **p)
    if query:
        sql, p = query.prefilter("e.message", "e.fields")
        where.add(event=sql, **p)
    return Conditions(" AND ".join(where.block) or "TRUE", " AND ".join(where.event) or "TRUE", where.params)


class _Where:
    """Conditions on blocks and on events, gathered with their parameters."""

    def __init__(self) -> None:
        self.block: list[str] = []
        self.event: list[str] = []
        self.params: dict[str, Any] = {}

    def add(self, *, block: str | None = None, event: str | None = None, **params: Any) -> None:
        if block is not None:
            self.block.append(block)
        if event is not None:
            self.event.append(event)
        self.params.update(params)


def snapshot(conn: pg8000.native.Connection) -> None:
    """Start a read-only transaction that sees one moment: the watermark, the blocks, the
    counts and the events all agree."""
    conn.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    no_jit(conn)


def no_jit(conn: pg8000.native.Connection) -> None:
    """No JIT compilation for the rest of the transaction. The planner's estimates for a
    partitioned events table pass JIT's thresholds, and compiling took 60-70 ms of a
    query that reads a few blocks in 30 (measured on 10M events)."""
    conn.run("SET LOCAL jit = off")


def end_snapshot(conn: pg8000.native.Connection) -> None:
    conn.run("COMMIT")


def candidates(conn: pg8000.native.Connection, cond: Conditions, *, upto: int, desc: bool) -> list[int]:
    """Positions of the indexed blocks at or below ``upto`` that may hold a match, by their
    first time (``desc``: by their last, latest first). The filter is read once for every
    block, so they are all listed at once; their details come with ``indexed_blocks``."""
    edge, way = ("ts_max", "DESC") if desc else ("ts_min", "ASC")
    rows = conn.run(
        f"SELECT b.pos FROM search_blocks b WHERE {cond.block} AND b.pos <= :upto ORDER BY b.{edge} {way}, b.pos {way}",
        **cond.params,
        upto=upto,
    )
    return [r[0] for r in rows]


def indexed_blocks(conn: pg8000.native.Connection, positions: Sequence[int]) -> list[IndexedBlock]:
    """The indexed blocks at ``positions``, in that order, with their slices."""
    rows = conn.run(
        "SELECT b.pos, CAST(b.file_id AS text), b.first_line, b.end_line, b.ts_min, b.ts_max, b.events, b.slices,"
        " b.slice_min, b.slice_max, b.slice_events FROM search_blocks b WHERE b.pos = ANY(CAST(:p AS bigint[]))",
        p=list(positions),
    )
    by_pos = {r[0]: IndexedBlock(Block(*r[:7]), r[7], r[8], r[9], r[10]) for r in rows}
    return [by_pos[p] for p in positions]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(agg: str) -> str:
    return f"CAST(extract(epoch FROM {agg}(e.ts)) * 1000000 AS bigint)"


@dataclass(frozen=True, slots=True)
class IndexedBlock:
    block: Block
    slices: list[int]
    slice_min: list[int]  # microseconds since 1970
    slice_max: list[int]
    slice_events: list[int]

    def parts(self) -> list[Block]:
        """The block's slices that hold events, each with its own time range."""
        b, w = self.block, SLICE_LINES
        return [
            Block(b.pos, b.file_id, b.first_line + n * w, min(b.end_line, b.first_line + (n + 1) * w),
                  _EPOCH + timedelta(microseconds=lo), _EPOCH + timedelta(microseconds=hi), count)
            for n, lo, hi, count in zip(self.slices, self.slice_min, self.slice_max, self.slice_events, strict=True)
        ]  # fmt: skip


def unindexed_blocks(conn: pg8000.native.Connection, *, after: int, upto: int, file_id: str | None) -> list[Block]:
    """Blocks of the stream log above the indexer's watermark ``after``, up to ``upto``."""
    rows = conn.run(
        "SELECT pos, CAST(file_id AS text), first_line, end_line FROM stream_log"
        " WHERE kind = :k AND pos > :w AND pos <= :p AND (CAST(:f AS uuid) IS NULL OR file_id = CAST(:f AS uuid))"
        " ORDER BY pos",
        k=stream_db.EVENTS,
        w=after,
        p=upto,
        f=file_id,
    )
    return [Block(*r) for r in rows]


Key = tuple[datetime, str, int]  # ts, file_id, line: the order of results


def events_in(
    conn: pg8000.native.Connection,
    blocks: Sequence[Block],
    cond: Conditions,
    *,
    desc: bool,
    after: Key | None,
    bound: datetime | None,
    limit: int,
) -> Sequence[list[Any]]:
    """Events of ``blocks`` that meet ``cond.event``, in key order, after ``after`` and not
    past ``bound`` (a time), at most ``limit``: rows of (ts, file_id, line, message,
    fields as text, the event as JSON text)."""
    where = [cond.event]
    params = {**cond.params, **_ranges(blocks), "n": limit}
    cmp = "<" if desc else ">"
    if after is not None:
        where.append(f"(e.ts, e.file_id, e.line) {cmp} (:k_ts, CAST(:k_file AS uuid), :k_line)")
        params["k_ts"], params["k_file"], params["k_line"] = after
    if bound is not None:
        where.append(f"e.ts {'>=' if desc else '<='} :bound")
        params["bound"] = bound
    way = "DESC" if desc else "ASC"
    order = f"ORDER BY e.ts {way}, e.file_id {way}, e.line {way} LIMIT :n"
    rows: Sequence[list[Any]] = conn.run(
        f"SELECT e.ts, CAST(e.file_id AS text), e.line, e.message, CAST(e.fields AS text), {EVENT_JSON}"
        f" FROM {_events_of_blocks(' AND '.join(where), order)} {order}",
        **params,
    )
    return rows


def pattern_family(conn: pg8000.native.Connection, pattern_id: str) -> list[str]:
    """The id a pattern id now counts as, and every id aliased to it."""
    rows = conn.run(
        "WITH canon AS (SELECT coalesce((SELECT target FROM pattern_aliases WHERE id = :p), :p) AS id)"
        " SELECT id FROM canon UNION SELECT a.id FROM pattern_aliases a, canon WHERE a.target = canon.id",
        p=pattern_id,
    )
    return sorted(r[0] for r in rows)


# -- one event and its neighbours -------------------------------------------------------------


def event_at(conn: pg8000.native.Connection, file_id: str, line: int) -> tuple[int, int, str] | None:
    """The event of ``file_id`` that holds line ``line``: (its first line, line count, JSON)."""
    rows = conn.run(
        f"SELECT e.line, e.line_count, {EVENT_JSON} FROM events e"
        " WHERE e.file_id = CAST(:f AS uuid) AND e.line <= :l ORDER BY e.line DESC LIMIT 1",
        f=file_id,
        l=line,
    )
    if not rows or rows[0][0] + rows[0][1] <= line:
        return None
    return rows[0][0], rows[0][1], rows[0][2]


def events_touching(conn: pg8000.native.Connection, file_id: str, start: int, end: int) -> list[str]:
    """The events of ``file_id`` with any line in [start, end), whole, in line order (JSON)."""
    if end <= start:
        return []
    first = conn.run(
        "SELECT e.line FROM events e WHERE e.file_id = CAST(:f AS uuid) AND e.line <= :s ORDER BY e.line DESC LIMIT 1",
        f=file_id,
        s=start,
    )
    low = first[0][0] if first else start
    rows = conn.run(
        f"SELECT {EVENT_JSON} FROM events e WHERE e.file_id = CAST(:f AS uuid) AND e.line >= :lo AND e.line < :hi"
        " AND e.line + e.line_count > :s ORDER BY e.line",
        f=file_id,
        lo=low,
        hi=end,
        s=start,
    )
    return [r[0] for r in rows]


# -- histograms -------------------------------------------------------------------------------


def rollup_counts(
    conn: pg8000.native.Connection,
    *,
    bucket_s: int,
    start: datetime,
    end: datetime,
    file_id: str | None,
    source: str | None,
    levels: Sequence[str] | None,
) -> Sequence[list[Any]]:
    """(bucket start, level, events) from the per-minute counts, for minutes in [start,
    end) (both on whole minutes)."""
    rows: Sequence[list[Any]] = conn.run(
        "SELECT date_bin(make_interval(secs => :w), minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket, level,"
        " CAST(sum(events) AS bigint) FROM rollup_minutes"
        " WHERE minute >= :s AND minute < :e AND (CAST(:f AS uuid) IS NULL OR file_id = CAST(:f AS uuid))"
        " AND (CAST(:src AS text) IS NULL OR source = :src)"
        " AND (CAST(:lv AS text[]) IS NULL OR level = ANY(CAST(:lv AS text[]))) GROUP BY 1, 2",
        w=bucket_s,
        s=start,
        e=end,
        f=file_id,
        src=source,
        lv=None if levels is None else list(levels),
    )
    return rows


def pattern_rollup_counts(
    conn: pg8000.native.Connection,
    *,
    bucket_s: int,
    start: datetime,
    end: datetime,
    pattern_ids: Sequence[str],
    levels: Sequence[str] | None,
) -> Sequence[list[Any]]:
    """(bucket start, level, events) of the events given one of ``pattern_ids``, from the
    per-minute counts by pattern, for minutes in [start, end) (both on whole minutes)."""
    rows: Sequence[list[Any]] = conn.run(
        "SELECT date_bin(make_interval(secs => :w), minute, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket, level,"
        " CAST(sum(events) AS bigint) FROM rollup_pattern_minutes"
        " WHERE minute >= :s AND minute < :e AND pattern_id = ANY(CAST(:p AS text[]))"
        " AND (CAST(:lv AS text[]) IS NULL OR level = ANY(CAST(:lv AS text[]))) GROUP BY 1, 2",
        w=bucket_s,
        s=start,
        e=end,
        p=list(pattern_ids),
        lv=None if levels is None else list(levels),
    )
    return rows


def counts_in(
    conn: pg8000.native.Connection, blocks: Sequence[Block], cond: Conditions, *, bucket_s: int
) -> Sequence[list[Any]]:
    """(bucket start, level, events) of the events of ``blocks`` that meet ``cond.event``
    (exact only for a condition without a ``q``)."""
    rows: Sequence[list[Any]] = conn.run(
        "SELECT date_bin(make_interval(secs => :w), e.ts, TIMESTAMPTZ '1970-01-01 00:00:00+00'), e.level,"
        f" count(*) FROM {_events_of_blocks(cond.event)} GROUP BY 1, 2",
        **cond.params,
        **_ranges(blocks),
        w=bucket_s,
    )
    return rows


def candidates_in(conn: pg8000.native.Connection, blocks: Sequence[Block], cond: Conditions) -> Sequence[list[Any]]:
    """(ts, level, message, fields as text) of the events of ``blocks`` that meet
    ``cond.event``, for ``Query.matches`` to decide."""
    rows: Sequence[list[Any]] = conn.run(
        f"SELECT e.ts, e.level, e.message, CAST(e.fields AS text) FROM {_events_of_blocks(cond.event)}",
        **cond.params,
        **_ranges(blocks),
    )
    return rows


def indexed_extent(
    conn: pg8000.native.Connection, cond: Conditions, upto: int
) -> tuple[datetime | None, datetime | None]:
    rows = conn.run(f"SELECT min(b.ts_min), max(b.ts_max) FROM search_blocks b WHERE {cond.block} AND b.pos <= :upto",
                    **cond.params, upto=upto)  # fmt: skip
    return rows[0][0], rows[0][1]


def extent_in(
    conn: pg8000.native.Connection, blocks: Sequence[Block], cond: Conditions
) -> tuple[datetime | None, datetime | None]:
    rows = conn.run(
        f"SELECT min(e.ts), max(e.ts) FROM {_events_of_blocks(cond.event)}",
        **cond.params,
        **_ranges(blocks),
    )
    return rows[0][0], rows[0][1]
