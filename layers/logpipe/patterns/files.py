"""From a log file to one pattern per line: what ``logpipe patterns FILE`` and the evaluator share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..parsing import LineReader, parse_line
from .miner import DEFAULT_MIN_DISTINCT, Pattern, mine

MAX_LINE_BYTES = 64 * 1024


def read_lines(path: Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The decoded lines of a plain or gzip file, streamed (gzip is told by its magic bytes)."""
    # Imported here: the ingest package imports this one (its worker mines patterns).
    from ..ingest.gunzip import GZIP_MAGIC, GunzipReader

    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        read = GunzipReader(fh.read).read if head == GZIP_MAGIC else fh.read
        for line in LineReader(read, max_line_bytes=max_line_bytes):
            yield line.text


def line_patterns(lines: Iterable[str], *, min_distinct: int = DEFAULT_MIN_DISTINCT) -> list[Pattern]:
    """The final pattern of each line, in order, mined from each line's parsed message.

    Every line is one event today; when the parser joins continuation lines into one
    event, each line of an event gets that event's pattern.
    """
    return mine((parse_line(text).message for text in lines), min_distinct=min_distinct)
