"""From a log file to one pattern per line: what ``logpipe patterns FILE`` and the evaluator share.

Lines are parsed and joined into events as the parse-worker does it (``Parser`` and
``Joiner``); each event's message is mined, and every line of an event gets its pattern.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path

from ..parsing import Line, LineReader
from ..parsing.formats import Parser
from ..parsing.inference import SAMPLE_LINES, choose
from ..parsing.multiline import Joiner
from ..storage.gunzip import open_text
from .miner import DEFAULT_MIN_DISTINCT, Pattern, PatternMiner, Shape

MAX_LINE_BYTES = 64 * 1024
MAX_EVENT_LINES = 1000
MAX_EVENT_BYTES = 256 * 1024


def read_lines(path: Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """The lines of a plain or gzip file, streamed (gzip is told by its magic bytes)."""
    with open_text(path) as read:
        yield from LineReader(read, max_line_bytes=max_line_bytes)


def line_patterns(
    lines: Iterable[Line],
    *,
    source_format: str | None = None,
    tz: str = "UTC",
    max_event_lines: int = MAX_EVENT_LINES,
    max_event_bytes: int = MAX_EVENT_BYTES,
    min_distinct: int = DEFAULT_MIN_DISTINCT,
) -> list[Pattern]:
    """The final pattern of each line, in order: the pattern of the event the line belongs to.

    All events are mined first, then each gets the template its kind settled on. Unless
    ``source_format`` forces a format, the file's layout is inferred from its first lines
    (``parsing.inference.choose``) as ingest infers it.
    """
    lines = iter(lines)
    layout = None
    if source_format is None:
        head = list(islice(lines, SAMPLE_LINES))
        layout = choose([line.text for line in head], tz=tz).layout
        lines = chain(head, lines)
    parser = Parser(tz=tz, format=source_format, layout=layout, adapt=layout is not None)
    joiner = Joiner(parser.parse, max_lines=max_event_lines, max_bytes=max_event_bytes)
    miner = PatternMiner(min_distinct=min_distinct)
    events: list[tuple[Shape, int]] = [
        (miner.add(ev.message()), ev.line_count) for ev in joiner.events(lines, first_line=1, start_offset=0)
    ]
    miner.finalize()
    out: list[Pattern] = []
    for shape, count in events:
        out.extend([shape.pattern()] * count)
    return out
