"""The parse-worker's per-chunk loop over some bytes, with the compiled lane and without,
and the comparison of the two: the oracle of every test (and fuzzer) of the lane.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from logpipe.config import Settings
from logpipe.ingest import event_batches
from logpipe.ingest.lane import CompiledLane
from logpipe.parsing import Line, LineReader, Run
from logpipe.parsing.formats import Parser
from logpipe.parsing.layouts import Layout
from logpipe.parsing.multiline import Joiner
from logpipe.patterns import PatternMiner

INGESTED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FILE_ID = "0b7e1f3c-0000-4000-8000-000000000001"


@dataclass
class Outcome:
    batches: list[tuple[Any, ...]]
    templates: dict[str, int]
    lane_rows: int  # lines the lane took
    first_lane_line: int | None


def run(
    data: bytes,
    *,
    lane: bool,
    batch_rows: int = 5000,
    block: int = 1 << 20,
    max_line_bytes: int = 65536,
    first_line: int = 1,
    min_line: int = 0,
    tz: str = "UTC",
    format: str | None = None,
    max_event_lines: int = 1000,
    max_event_bytes: int = 256 * 1024,
    layout: Layout | None = None,
) -> Outcome:
    """The worker's per-chunk loop over ``data``, as ``process_chunk`` sets it up."""
    settings = Settings.from_env({}, max_line_bytes=max_line_bytes, batch_rows=batch_rows,
                                 max_event_lines=max_event_lines, max_event_bytes=max_event_bytes)  # fmt: skip
    parser = Parser(reference=INGESTED, tz=tz, format=format, layout=layout, adapt=layout is not None)
    miner = PatternMiner()
    the_lane = CompiledLane.create(lane, parser, miner, settings, min_line=min_line)
    taken: list[Run] = []

    def watch(items: Iterator[Line | Run]) -> Iterator[Line | Run]:
        for item in items:
            if isinstance(item, Run):
                taken.append(item)
            yield item

    reader = LineReader(io.BytesIO(data).read, max_line_bytes=max_line_bytes, block=block)
    lines = watch(reader.with_lane(the_lane, first_line=first_line))
    joiner = Joiner(parser.parse, max_lines=max_event_lines, max_bytes=max_event_bytes)
    events = joiner.events_and_runs(lines, first_line=first_line, start_offset=0)
    batches = []
    for b in event_batches(events, miner, FILE_ID, INGESTED, batch_rows, 0, first_line, the_lane):
        batches.append((b.buf.payload(), b.buf.rows, sorted(b.buf.months), b.errors, b.truncated, b.patterns,
                        b.next_offset, b.next_line, b.aliases, b.last))  # fmt: skip
    return Outcome(batches, miner.templates(), sum(r.lines for r in taken), taken[0].line if taken else None)


def assert_same(data: bytes, **options: Any) -> Outcome:
    """Run ``data`` both ways and fail on the first difference: rows (the first that differs,
    in full), batches, counts, pattern rows, aliases, templates. Returns the lane's run."""
    python, compiled = run(data, lane=False, **options), run(data, lane=True, **options)
    rows = [row for b in python.batches for row in b[0].split(b"\n")]
    lane_rows = [row for b in compiled.batches for row in b[0].split(b"\n")]
    for mine, theirs in zip(lane_rows, rows, strict=False):
        assert mine == theirs  # the first row that differs, in full
    assert compiled.batches == python.batches
    assert compiled.templates == python.templates
    assert python.lane_rows == 0
    return compiled
