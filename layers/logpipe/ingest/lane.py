"""The compiled lane: runs of access-log and JSON lines turned into COPY rows in C.

On such logs nearly all of the Python path's time goes to work around the regex or the
JSON decoder, several microseconds a line of calls and objects. The lane (``_lane.c``)
does that work for a whole run of lines in one call: it parses each line, finds its
pattern through the miner's key cache, and writes the row exactly as the Python path
would. The tests compare the two byte for byte, rows, counts and patterns.

A run may start only where the Python path would read the next line in the lane's format
first (the source's parser has settled on ``apache_access`` or ``json``), and past the
lines a resumed gzip chunk reads again; it ends where the batch is full. It takes lines
while each is plain (printable ASCII, no backslash, within the line limit), is of that
format in the strict form the lane knows, and is followed by a line that starts with a
digit, a colon or a brace, which no multi-line rule joins to it. Any other line ends the
run and takes the Python path; a lane may start again after it.

- Access logs: the host is an IP address, the time a CLF time with its offset.
- JSON lines: an object whose strings have no escapes, whose numbers orjson writes back
  as they are written (integers within 64 bits, decimals of at most 15 digits without an
  exponent), with no key twice, no ``log`` key (Docker's lines), and a time, if any, in
  RFC 3339 form (without a zone only where the source's zone is UTC).

Where the extension was not built (no compiler) or ``LOGPIPE_COMPILED_LANE=off``, there
is no lane and the Python path does everything, only slower.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType

from ..db.events import CopyBuffer
from ..parsing import Rows
from ..parsing.formats import _LEVEL_WORDS, LEVEL_KEYS, MESSAGE_KEYS, TIME_KEYS, Parser
from ..patterns import PatternMiner

_lane: ModuleType | None
try:
    from . import _lane  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built here: the Python path does the work
    _lane = None

# The formats the lane knows, by the number _lane.c knows them by.
KINDS = {"apache_access": 0, "json": 1}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def available() -> bool:
    """Whether the compiled lane is built and loads."""
    return _lane is not None


def utc_micros(us: int) -> datetime:
    return EPOCH + us * MICROSECOND


class CompiledLane:
    """The lane of one chunk. ``buf`` is the batch being filled, which ``event_batches`` sets."""

    def __init__(self, parser: Parser, miner: PatternMiner, *, max_line_bytes: int, batch_rows: int,
                 min_line: int = 0) -> None:  # fmt: skip
        self._parser = parser
        self._max_line = max_line_bytes
        self._batch_rows = batch_rows
        self._min_line = min_line
        naive_utc = parser.time.tz is UTC
        self._options = (miner.key_cache, miner.add, _LEVEL_WORDS, TIME_KEYS, LEVEL_KEYS, MESSAGE_KEYS, naive_utc)
        self._kind = 0  # of the run announced last
        self.buf: CopyBuffer | None = None

    @classmethod
    def create(
        cls, enabled: bool, parser: Parser, miner: PatternMiner, *, max_line_bytes: int, batch_rows: int,
        min_line: int = 0,
    ) -> CompiledLane | None:  # fmt: skip
        """A lane, or None when it is turned off or not built."""
        if not enabled or _lane is None:
            return None
        return cls(parser, miner, max_line_bytes=max_line_bytes, batch_rows=batch_rows, min_line=min_line)

    def takes(self, data: bytes, start: int, line: int) -> bool:
        kind = KINDS.get(self._parser.settled())
        if kind is None or self.buf is None or line < self._min_line:
            return False
        assert _lane is not None
        self._kind = kind
        taken: bool = _lane.takes(kind, data, start, self._max_line, self._options)
        return taken

    def fill(self, rows: Rows) -> None:
        buf = self.buf
        assert buf is not None and _lane is not None
        ingested_us = (buf.ingested_at - EPOCH) // MICROSECOND
        stop, rows.data, rows.count, rows.errors, rows.months, rows.patterns = _lane.rows(
            self._kind, rows.source, rows.start, self._batch_rows - buf.rows, self._max_line, rows.line, buf.prefix,
            buf.ingested, ingested_us, self._options,
        )  # fmt: skip
        rows.end_offset = rows.offset + stop - rows.start
        rows.source = b""  # the block is the reader's again
