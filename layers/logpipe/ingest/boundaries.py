"""Where to cut a plain object into chunks: after a newline, before a line that starts an event.

A chunk must read exactly what one pass over the whole object would. Cutting right after
the newline nearest the target size could split a traceback between two chunks, so the
cut moves on past every line that ``can_continue`` an event, to the first line that
cannot: whatever precedes such a line, it opens a new event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..parsing.multiline import can_continue

BLOCK = 1 << 20
PEEK = 4096  # enough of a line to tell whether it can continue an event


class _Window:
    """The bytes of a stream from ``base`` on, read as far as needed, dropped once passed."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.buf = b""
        self.base = 0
        self.eof = False

    def _more(self) -> bool:
        data = self._read(BLOCK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def newline_at_or_after(self, offset: int) -> int | None:
        while True:
            if offset - self.base < len(self.buf):
                i = self.buf.find(b"\n", max(offset - self.base, 0))
                if i >= 0:
                    return self.base + i
                offset = self.base + len(self.buf)
            if not self._more():
                return None

    def text(self, start: int, end: int) -> str:
        return self.buf[start - self.base : end - self.base].decode("utf-8", "replace").rstrip("\r")

    def count_lines(self, start: int, end: int) -> int:
        return self.buf.count(b"\n", start - self.base, end - self.base)

    def drop_before(self, offset: int) -> None:
        self.buf = self.buf[offset - self.base :]
        self.base = offset


def split_points(read: Callable[[int], bytes], size: int, chunk_bytes: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(start, end, first_line)`` of chunks of about ``chunk_bytes`` covering ``[0, size)``.

    Streams the object once; holds at most one chunk and one block.
    """
    w = _Window(read)
    start, first_line = 0, 1
    while start + chunk_bytes < size:
        nl = w.newline_at_or_after(start + chunk_bytes - 1)
        if nl is None:
            break
        cut: int | None = nl + 1
        while cut is not None and cut < size:
            nxt = w.newline_at_or_after(cut)
            line_end = nxt if nxt is not None else w.base + len(w.buf)
            if not can_continue(w.text(cut, min(line_end, cut + PEEK))):
                break
            cut = None if nxt is None else nxt + 1
        if cut is None or cut >= size:
            break
        lines = w.count_lines(start, cut)
        yield start, cut, first_line
        first_line += lines
        w.drop_before(cut)
        start = cut
    yield start, size, first_line
