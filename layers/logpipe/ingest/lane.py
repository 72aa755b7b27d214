"""The compiled lane: runs of plain lines of the common formats turned into COPY rows in C.

Most of the Python path's time on a line goes to work around the regex or the JSON
decoder, several microseconds of calls and objects. The lane (``_lane.c``) does that work
for a whole run of lines in one call: it parses each line, finds its pattern through the
miner's key cache, and writes the row exactly as the Python path would. The tests compare
the two byte for byte: rows, counts, patterns, aliases and templates.

It knows four formats, each in a strict form; any other line takes the Python path:

- access logs: an IP address first, a CLF time with its offset;
- JSON lines: an object whose strings have no escapes, whose numbers orjson writes back as
  written (integers within 64 bits, decimals of at most 15 digits without an exponent),
  with no key twice and no ``log`` key (Docker's lines);
- logfmt: at least two ``key=value`` pairs, plain or quoted values, no key twice;
- application layouts (``app``): an ISO time, a level word, maybe a ``[thread]`` and a
  logger, as ``Parser._APP`` reads them (not the Python logging layout);
- text that no format claims, with no time to look for in its head (no ``:`` or ``[``).

Indented lines after a line join its event, as the multi-line rules join them, within
the limits of one event.

A time in a JSON or logfmt field is RFC 3339 (without a zone only where the source's zone
is UTC). A line takes the lane only when it is plain (printable ASCII, no backslash,
within the line limit), when every format the parser would try before its own surely
gives up on it (the parser tries the format of the line before first, then the others in
its order; the lane keeps that state and hands it back), and when the line after its
event surely starts an event of its own.

Where the extension was not built (no compiler) or ``LOGPIPE_COMPILED_LANE=off``, there
is no lane and the Python path does everything, only slower.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from ..config import Settings
from ..db.events import CopyBuffer, CopyRows
from ..parsing import Run
from ..parsing.formats import FORMATS, LEVEL_KEYS, LEVEL_WORDS, MESSAGE_KEYS, TIME_KEYS, Parser
from ..patterns import PatternMiner

_lane: ModuleType | None
try:
    from . import _lane  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built here: the Python path does the work
    _lane = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def available() -> bool:
    """Whether the compiled lane is built and loads."""
    return _lane is not None


class CompiledLane:
    """The lane of one chunk."""

    def __init__(self, parser: Parser, miner: PatternMiner, settings: Settings, min_line: int = 0) -> None:
        self._parser = parser
        self._max_line = settings.max_line_bytes
        self._batch_rows = settings.batch_rows
        self._min_line = min_line
        naive_utc = parser.time.tz is UTC
        # Per ASCII character, the formats the parser tries on a line starting with it.
        candidates = tuple(bytes(FORMATS.index(f) for f in parser.candidates(chr(c))) for c in range(128))
        self._miner = miner
        # Patterns by shape, while the miner's templates hold (see PatternMiner.generation).
        self._patterns: dict[object, tuple[str, str]] = {}
        self._generation = miner.generation
        self._options = (
            miner.key_cache, miner.add, LEVEL_WORDS, TIME_KEYS, LEVEL_KEYS, MESSAGE_KEYS, naive_utc, FORMATS,
            candidates, settings.max_event_lines, settings.max_event_bytes,
        )  # fmt: skip
        # The batch being filled, which ``event_batches`` sets: its rows and its pattern counts.
        self.buf: CopyBuffer | None = None
        self.seen: dict[str, list[Any]] = {}

    @classmethod
    def create(
        cls, enabled: bool, parser: Parser, miner: PatternMiner, settings: Settings, min_line: int = 0
    ) -> CompiledLane | None:
        """A lane, or None when it is turned off or not built. ``settings`` give the limits
        of a line, an event and a batch."""
        if not enabled or _lane is None:
            return None
        return cls(parser, miner, settings, min_line)

    def takes(self, data: bytes, start: int, line: int) -> bool:
        if self.buf is None or line < self._min_line:
            return False
        assert _lane is not None
        sticky = FORMATS.index(self._parser.settled())
        taken: bool = _lane.takes(data, start, self._max_line, sticky, self._options)
        return taken

    def fill(self, run: Run) -> CopyRows:
        """The rows of the run's lines (at least one), with their patterns counted in the batch."""
        buf = self.buf
        assert buf is not None and _lane is not None
        ingested_us = (buf.ingested_at - EPOCH) // MICROSECOND
        sticky = FORMATS.index(self._parser.settled())
        if self._miner.generation != self._generation:
            self._patterns.clear()
        stop, data, count, run.lines, errors, months, sticky = _lane.rows(
            run.source, run.start, self._batch_rows - buf.rows, self._max_line, run.line, buf.prefix,
            buf.ingested, ingested_us, sticky, self._options, self._patterns, self.seen,
        )  # fmt: skip
        self._generation = self._miner.generation  # what is kept now was looked up after any change
        self._parser.settle(FORMATS[sticky])  # as after its last line
        run.end_offset = run.offset + stop - run.start
        run.source = b""  # the block is the reader's again
        return CopyRows(data, count, months, errors)
