"""gzip: told by its magic bytes (never by a name), and read back in a stream with bounded memory.

Whatever reads an object or a file (the parse-worker, ``logpipe parse``, ``logpipe
patterns``) tells gzip from plain text here, and only here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import PermanentError

GZIP_MAGIC = b"\x1f\x8b"
_IN_BLOCK = 256 * 1024

Read = Callable[[int], bytes]


def compression_of(head: bytes) -> str | None:
    """``"gzip"`` when ``head`` (the first bytes of a stream) starts as gzip does, else None (plain)."""
    return "gzip" if head.startswith(GZIP_MAGIC) else None


def decompressed(read: Read, compression: str | None) -> Read:
    """A ``read(n)`` of the text that ``read`` holds compressed with ``compression``."""
    return GunzipReader(read).read if compression == "gzip" else read


@contextmanager
def open_text(path: Path) -> Iterator[Read]:
    """A ``read(n)`` of a local file's text, plain or gzip; the file is closed on leaving."""
    with open(path, "rb") as fh:
        head = fh.read(len(GZIP_MAGIC))
        fh.seek(0)
        yield decompressed(fh.read, compression_of(head))


class DamagedInputError(PermanentError):
    """The object cannot be read to its end (truncated or corrupt gzip)."""


class GunzipReader:
    """``read(n)`` over the decompressed bytes of a ``read(n)`` of gzip bytes.

    Never holds more than one input block and ``n`` output bytes. Concatenated members
    (``cat a.gz b.gz``) read as one stream. When the stream is truncated or corrupt, every
    byte decompressed before the damage is returned first; the read after that raises
    ``DamagedInputError``, and so does every later one.
    """

    def __init__(self, read: Read) -> None:
        self._src = read
        self._src_ended = False
        self._d = zlib.decompressobj(wbits=31)
        self.compressed_read = 0
        self._done = False
        self._damage: DamagedInputError | None = None

    def _more(self) -> bytes:
        if self._src_ended:
            return b""
        data = self._src(_IN_BLOCK)
        self.compressed_read += len(data)
        self._src_ended = not data
        return data

    def read(self, n: int) -> bytes:
        if self._damage is not None:
            raise self._damage
        out: list[bytes] = []
        want = n
        while want > 0 and not self._done:
            if self._d.eof:
                data = self._d.unused_data or self._more()
                if not data:
                    self._done = True
                    break
                # Another gzip member follows the one that just ended.
                self._d = zlib.decompressobj(wbits=31)
            else:
                # An empty input still drains output zlib holds back because of ``want``.
                data = self._d.unconsumed_tail or self._more()
            try:
                chunk = self._d.decompress(data, want)
            except zlib.error as exc:
                self._damage = DamagedInputError(
                    f"gzip stream is corrupt near compressed byte {self.compressed_read}: {exc}"
                )
                break
            if not chunk and not data and not self._d.eof:
                self._damage = DamagedInputError(
                    f"gzip stream is truncated: it ends after {self.compressed_read} compressed bytes "
                    "without its trailer"
                )
                break
            out.append(chunk)
            want -= len(chunk)
        if not out and self._damage is not None:
            raise self._damage
        return b"".join(out)
