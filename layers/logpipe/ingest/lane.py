"""The compiled lane: runs of access-log lines turned into COPY rows in C.

On an access log nearly all of the Python path's time goes to work around the regex, a
few microseconds a line of calls and objects. The lane (``_lane.c``) does that work for
a whole run of lines in one call: it parses each line, finds its pattern through the
miner's key cache, and writes the row exactly as the Python path would. The tests
compare the two byte for byte, rows, counts and patterns.

A run may start only where the Python path would read the next line as an access log
first (the source's parser has settled on ``apache_access``), and past the lines a
resumed gzip chunk reads again; it ends where the batch is full. It takes lines while each is
plain (printable ASCII, no backslash, within the line limit), opens with an IP address,
matches the access-log layout with a strict CLF time, and is followed by a line that
starts with a digit or a colon, which no multi-line rule joins to it. Any other line
ends the run and takes the Python path; the lane may start again after it.

Where the extension was not built (no compiler) or ``LOGPIPE_COMPILED_LANE=off``, there
is no lane and the Python path does everything, only slower.
"""

from __future__ import annotations

from types import ModuleType

from ..db.events import CopyBuffer
from ..parsing import Rows
from ..parsing.formats import Parser
from ..patterns import PatternMiner

_lane: ModuleType | None
try:
    from . import _lane  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built here: the Python path does the work
    _lane = None

FORMAT = "apache_access"


def available() -> bool:
    """Whether the compiled lane is built and loads."""
    return _lane is not None


class AccessLane:
    """The lane of one chunk. ``buf`` is the batch being filled, which ``event_batches`` sets."""

    def __init__(self, parser: Parser, miner: PatternMiner, *, max_line_bytes: int, batch_rows: int,
                 min_line: int = 0) -> None:  # fmt: skip
        self._parser = parser
        self._miner = miner
        self._max_line = max_line_bytes
        self._batch_rows = batch_rows
        self._min_line = min_line
        self.buf: CopyBuffer | None = None

    @classmethod
    def create(
        cls, enabled: bool, parser: Parser, miner: PatternMiner, *, max_line_bytes: int, batch_rows: int,
        min_line: int = 0,
    ) -> AccessLane | None:  # fmt: skip
        """A lane, or None when it is turned off or not built."""
        if not enabled or _lane is None:
            return None
        return cls(parser, miner, max_line_bytes=max_line_bytes, batch_rows=batch_rows, min_line=min_line)

    def takes(self, data: bytes, start: int, line: int) -> bool:
        assert _lane is not None
        return (
            self.buf is not None
            and line >= self._min_line
            and self._parser.settled_on(FORMAT)
            and _lane.takes(data, start, self._max_line)
        )

    def fill(self, rows: Rows) -> None:
        buf = self.buf
        assert buf is not None and _lane is not None
        room = self._batch_rows - buf.rows
        miner = self._miner
        stop, rows.data, rows.count, rows.errors, rows.months, rows.patterns = _lane.access_rows(
            rows.source, rows.start, room, self._max_line, rows.line, buf.prefix, buf.ingested, miner.key_cache,
            miner.add,
        )  # fmt: skip
        rows.end_offset = rows.offset + stop - rows.start
        rows.source = b""  # the block is the reader's again
