"""Splitting a byte stream into lines without ever holding more than one block and one line.

Promises: ``\\n`` ends a line and a ``\\r`` before it is dropped; a UTF-8 byte-order mark at
the start of the stream is dropped; invalid UTF-8 becomes U+FFFD and the line is kept;
NUL (which Postgres text cannot hold) becomes U+FFFD too; a line longer than
``max_line_bytes`` is cut to that size and flagged, and the rest of it is read past
without being buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

from ..text import without_nul

BOM = b"\xef\xbb\xbf"
BLOCK = 1 << 20


# Not frozen: a frozen dataclass is built through object.__setattr__, which made a Line
# cost 0.7 us against 0.1 us, on every line read.
@dataclass(slots=True)
class Line:
    text: str
    truncated: bool
    end_offset: int  # offset just past this line's newline: where the next line starts


@dataclass(slots=True)
class Run:
    """A run of lines that a lane takes whole: whole events, as no multi-line rule joins
    its lines to the ones before or after the run.

    The reader hands it over unread. Whoever consumes the events has the lane read it
    once everything before it is consumed, so that the run's lines meet the parser and the
    pattern miner in their place in the file; the lane sets ``lines`` and ``end_offset``,
    and the reader reads on from there. What the lane makes of the lines is the lane's
    business (``logpipe.ingest.lane`` writes them as rows for storage).
    """

    line: int  # number of its first line
    offset: int  # where its first line starts
    source: bytes  # the block the run is in...
    start: int  # ...from this index
    # Set by the lane that reads it:
    lines: int = 0
    end_offset: int = 0  # just past its last line


class Lane(Protocol):
    """Takes runs of lines off the reader (see ``logpipe.ingest.lane``)."""

    def takes(self, data: bytes, start: int, line: int) -> bool:
        """Whether a run starts with the line at ``data[start:]``, numbered ``line``."""


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return without_nul(raw.decode("utf-8", "replace"))


def _cut(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes of ``raw``, without a UTF-8 character split at the end."""
    cut = raw[:limit]
    if len(raw) > limit and (raw[limit] & 0xC0) == 0x80:  # the cut fell inside a character
        i = limit
        while i > 0 and (cut[i - 1] & 0xC0) == 0x80:
            i -= 1
        cut = cut[: max(i - 1, 0)]
    return cut


class LineReader:
    """Iterates the lines of ``read`` (a ``read(n) -> bytes`` callable) starting at ``offset``.

    ``offset`` is only used to report positions (and to know whether a BOM may appear);
    the caller positions the stream itself.
    """

    def __init__(
        self, read: Callable[[int], bytes], *, max_line_bytes: int, offset: int = 0, block: int = BLOCK
    ) -> None:
        self._read = read
        self._max = max_line_bytes
        self.offset = offset
        self._block = block

    def __iter__(self) -> Iterator[Line]:
        return cast(Iterator[Line], self._lines(None, 0))

    def with_lane(self, lane: Lane | None, *, first_line: int) -> Iterator[Line | Run]:
        """The lines, where ``lane`` takes the runs it can; ``first_line`` numbers the first."""
        return self._lines(lane, first_line)

    def _lines(self, lane: Lane | None, line: int) -> Iterator[Line | Run]:
        limit = self._max
        pos = self.offset
        buf = b""
        kept: bytes | None = None  # prefix of an oversized line whose end we are still looking for
        first = pos == 0
        while True:
            data = self._read(self._block)
            if not data:
                break
            if first:
                # A stream may hand the mark over a byte at a time: gather all three before deciding.
                while len(data) < len(BOM) and BOM.startswith(data):
                    more = self._read(len(BOM) - len(data))
                    if not more:
                        break
                    data += more
                if data.startswith(BOM):
                    data = data[len(BOM) :]
                    pos += len(BOM)
                first = False
            if kept is not None:
                nl = data.find(b"\n")
                if nl < 0:
                    pos += len(data)
                    continue
                pos += nl + 1
                line += 1
                yield Line(_decode(kept), True, pos)
                kept = None
                data = data[nl + 1 :]
            if buf:
                data = buf + data
            parts = data.split(b"\n")
            buf = parts.pop()
            if lane is None:
                for raw in parts:
                    pos += len(raw) + 1
                    if len(raw) - raw.endswith(b"\r") > limit:
                        yield Line(_decode(_cut(raw, limit)), True, pos)
                    else:
                        yield Line(_decode(raw), False, pos)
            else:
                # Line by line as above, but where the lane takes the next line (which it
                # can only decide once the line before has been parsed) it takes a run.
                k, at = 0, 0  # the next part, and where it starts in ``data``
                while k < len(parts):
                    if lane.takes(data, at, line):
                        run = Run(line, pos, data, at)
                        yield run  # read by the time it asks for more
                        if run.lines <= 0:
                            raise RuntimeError(f"the lane took no line of the run at line {line}")
                        k += run.lines
                        line += run.lines
                        at += run.end_offset - pos
                        pos = run.end_offset
                        continue
                    raw = parts[k]
                    k += 1
                    line += 1
                    at += len(raw) + 1
                    pos += len(raw) + 1
                    if len(raw) - raw.endswith(b"\r") > limit:
                        yield Line(_decode(_cut(raw, limit)), True, pos)
                    else:
                        yield Line(_decode(raw), False, pos)
            # One byte over may be the \r of a CRLF whose \n is in the next block: wait for it.
            if len(buf) > limit + buf.endswith(b"\r"):
                kept = _cut(buf, limit)
                pos += len(buf)
                buf = b""
        if kept is not None:
            yield Line(_decode(kept), True, pos)
        elif buf:
            pos += len(buf)
            yield Line(_decode(buf), False, pos)
        self.offset = pos


_TEXT_CONTROLS = frozenset(b"\t\n\x0c\r\x1b")


def looks_binary(sample: bytes) -> bool:
    """True when ``sample`` (the start of a stream) is not text.

    That is: over 10% control bytes (NUL included), or over 30% control bytes and invalid
    UTF-8 together. A stray NUL or a few Latin-1 bytes in a log stay text (they become
    U+FFFD); images, executables, archives and UTF-16 do not pass.
    """
    if not sample:
        return False
    control = sum(1 for b in sample if b < 32 and b not in _TEXT_CONTROLS)
    if control * 10 > len(sample):
        return True
    invalid = len(sample) - len(sample.decode("utf-8", "ignore").encode("utf-8"))
    return (control + invalid) * 10 > len(sample) * 3
