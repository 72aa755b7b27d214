"""Events into batches: what one commit writes, with the counts it moves and the resume point it sets.

``event_batches`` is the per-chunk loop of the worker (and of the benchmarks): each event
gets its pattern from the miner, its row in the batch's COPY buffer, and its place in the
batch's pattern counts; the rows the compiled lane writes for a run of lines are added as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config import Settings
from ..db.events import CopyBuffer, CopyRows
from ..db.patterns import SAMPLE_CHARS
from ..parsing import Run
from ..parsing.formats import ERROR_LEVELS
from ..parsing.multiline import Event
from ..patterns import Pattern, PatternMiner
from ..text import storable
from .lane import CompiledLane


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
    events: Iterable[Event | Run],
    miner: PatternMiner,
    file_id: str,
    ingested: datetime,
    batch_rows: int,
    next_offset: int,
    next_line: int,
    lane: CompiledLane | None = None,
    batch_bytes: int = Settings.batch_bytes,
) -> Iterator[Batch]:
    """The events (and runs of lines that ``lane`` reads) as batches ready to commit: full
    ones of at most ``batch_rows`` rows or about ``batch_bytes`` bytes of rows, then the
    last one (maybe empty), each yielded as soon as it is complete.

    A batch ends at the event or run that takes it to either: it is over ``batch_bytes``
    by at most one event (``max_event_bytes``, a few times over as a row) or one run of
    the lane (one block of the reader, likewise), so memory is bounded by bytes whatever
    the width of the lines."""
    batch = Batch(CopyBuffer(file_id, ingested), next_offset, next_line)
    add_row, patterns = batch.buf.add, batch.patterns
    if lane is not None:
        lane.buf, lane.seen = batch.buf, batch.patterns
    mine = miner.add
    for ev in events:
        if isinstance(ev, Run):
            if lane is None:
                raise ValueError("a run of lines without the lane that reads it")
            _add_rows(batch, ev, lane.fill(ev))
        else:
            p = ev.parsed
            # As stored, before it is mined: the pattern's sample and the row say the same.
            message = storable(ev.message())
            raw = ev.raw() if p.raw is None else p.raw
            pattern = mine(message).pattern()
            pattern_id = pattern.id
            ts = p.ts
            level = p.level
            texts = ev.texts
            add_row(
                ev.line, ts, level, p.format, message, p.fields, raw if raw != message else None,
                ev.truncated, len(texts), pattern_id, p.kept_raw,
            )  # fmt: skip
            if level in ERROR_LEVELS:
                batch.errors += 1
            if ev.truncated:
                batch.truncated += ev.truncated_lines
            when = ts or ingested
            seen = patterns.get(pattern_id)
            if seen is None:
                patterns[pattern_id] = [pattern.template, 1, when, when, message[:SAMPLE_CHARS]]
            else:
                seen[1] += 1
                if when < seen[2]:
                    seen[2] = when
                if when > seen[3]:
                    seen[3] = when
            batch.next_offset, batch.next_line = ev.end_offset, ev.line + len(texts)
        if batch.buf.rows >= batch_rows or batch.buf.nbytes >= batch_bytes:
            batch.aliases = miner.take_aliases()
            yield batch
            batch = Batch(CopyBuffer(file_id, ingested), batch.next_offset, batch.next_line)
            add_row, patterns = batch.buf.add, batch.patterns
            if lane is not None:
                lane.buf, lane.seen = batch.buf, batch.patterns
    batch.last = True
    batch.aliases = miner.take_aliases()
    yield batch


def _add_rows(batch: Batch, run: Run, rows: CopyRows) -> None:
    """Add the rows a lane wrote for a run (it counted their patterns in the batch)."""
    batch.buf.add_rows(rows)
    batch.errors += rows.errors
    batch.next_offset, batch.next_line = run.end_offset, run.line + run.lines


def merged_counts(counts: Iterable[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """The pattern counts of several batches as those of one (``Batch.patterns``)."""
    out: dict[str, list[Any]] = {}
    for seen in counts:
        for pattern_id, (template, count, first, last, sample) in seen.items():
            have = out.get(pattern_id)
            if have is None:
                out[pattern_id] = [template, count, first, last, sample]
            else:
                have[1] += count
                have[2] = min(have[2], first)
                have[3] = max(have[3], last)
    return out
